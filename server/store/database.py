"""The daemon's one SQLite connection: opening, checking, migrating, transactions.

One connection in WAL mode, living on aiosqlite's worker thread, serves every query.
Each write is one job on that thread inside an IMMEDIATE transaction, so writes never
interleave and a crash leaves either all of a change or none of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from sipprofile.server.errors import InternalError, StoreError

from .migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds after a commit within which it is synced to disk (power-loss safety).
FLUSH_DELAY: Final = 0.5

#: Primary result codes that mean the file cannot take the write (disk full, an I/O
#: error, a file system remounted read-only), not that the request was wrong.
STORAGE_FAILURES: Final = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN}
)

FILE_MODE = 0o600
DIR_MODE = 0o700


def _secure_file(path: Path) -> None:
    """Force 0600 on the database and its WAL companions.

    The database holds passwords; a permissive umask must not expose them.
    """
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            os.chmod(candidate, FILE_MODE)


class Database:
    """An open, checked, migrated database."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._flush: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, *, migrate_to: int = SCHEMA_VERSION) -> Database:
        """Open ``path``, refusing damaged, foreign or newer databases untouched.

        ``migrate_to`` exists for tests that need an old schema on disk.
        """
        await asyncio.to_thread(_prepare_file, path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None
        try:
            db = cls(conn, path)
            await db._check_and_migrate(migrate_to)
        except sqlite3.Error as exc:
            await conn.close()
            raise StoreError(f"{path} cannot be used: {exc}") from None
        except BaseException:
            await conn.close()
            raise
        # only now, with the file known to be ours, tighten its mode and its companions'
        await asyncio.to_thread(_secure_file, path)
        return db

    async def _check_and_migrate(self, target: int) -> None:
        try:
            version = await self.scalar("PRAGMA user_version")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} cannot be read ({exc}); it is left untouched. "
                "Restore it from a backup or move it aside."
            ) from None
        if version == 0 and await self.scalar("SELECT count(*) FROM sqlite_master"):
            raise StoreError(
                f"{self.path} already holds tables of another program; it is left "
                "untouched. Point --database at another file."
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer sipprofiled (schema {version}; this "
                f"version knows up to {SCHEMA_VERSION}). It is left untouched: run the newer "
                "version, or point --database at another file."
            )
        try:
            result = await self.scalar("PRAGMA quick_check")
        except sqlite3.DatabaseError as exc:
            result = str(exc)
        if result != "ok":
            raise StoreError(
                f"{self.path} failed its integrity check ({result}); it is left untouched. "
                "Restore it from a backup or move it aside."
            )
        mode = await self.scalar("PRAGMA journal_mode=WAL")
        if mode != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL journaling (got {mode!r})")
        await self.rows("PRAGMA synchronous=NORMAL")
        await self.rows("PRAGMA foreign_keys=ON")
        await self.rows("PRAGMA busy_timeout=5000")
        if version < target:
            await self._migrate(version, target)

    async def _migrate(self, version: int, target: int) -> None:
        def upgrade(conn: sqlite3.Connection) -> None:
            for step in range(version, target):
                _log.info("migrating %s from schema %d to %d", self.path, step, step + 1)
                for statement in split_statements(MIGRATIONS[step]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={target}")

        await self.write(upgrade)

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job(connection)`` on the database thread and return its result.

        A whole repository operation runs as one job: one hop between the event loop
        and the SQLite thread instead of one per statement, which is most of the cost
        of a small write. aiosqlite has no public API for this; ``_execute`` is what
        its own ``execute`` uses, and the test suite exercises it on every call.
        """
        return await self.conn._execute(job, self.conn._conn)  # type: ignore[no-untyped-call,no-any-return]

    async def write(self, job: Callable[[sqlite3.Connection], T], *, synced: bool = False) -> T:
        """Run ``job`` inside one IMMEDIATE transaction: all of it or none of it.

        The SQLite thread runs one job at a time, so writes never interleave. The
        commit is crash-safe at once (WAL); ``_schedule_flush`` makes it power-safe
        within ``FLUSH_DELAY`` seconds without an fsync in every reply's path.
        ``synced`` makes this one commit power-safe before it returns (the WAL is
        synced at the commit): for the few writes that must not be lost at all.
        """
        try:
            result = await self.run(partial(_in_transaction, job, synced=synced))
        except sqlite3.Error as exc:
            if not storage_failure(exc):
                raise
            # The transaction was rolled back (or never began): the change is not in
            # the file, and the caller is told so by name, not by a traceback.
            _log.error("cannot write %s: %s; the change was not made", self.path, exc)
            raise InternalError(
                f"the profile database cannot be written ({exc}); nothing was changed"
            ) from None
        self._schedule_flush()
        return result

    def _schedule_flush(self) -> None:
        if self._flush is None or self._flush.done():
            self._flush = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        await self.flush()

    async def flush(self) -> None:
        """Sync the WAL to disk (a passive checkpoint syncs it first)."""
        try:
            await self.scalar("PRAGMA wal_checkpoint(PASSIVE)")
        except ValueError:
            pass  # closed meanwhile: close() checkpoints itself
        except sqlite3.Error as exc:
            _log.warning("could not sync %s to disk: %s", self.path, exc)

    async def release_memory(self) -> None:
        """Free SQLite's page cache (``PRAGMA shrink_memory``), after a bulk read."""
        await self.rows("PRAGMA shrink_memory")

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        rows = await self.rows(sql, params)
        return rows[0][0] if rows else None

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query, read in one job.

        Never through aiosqlite's cursors: their execute and fetch are separate jobs,
        and a write job that runs between them finds the statement still active and
        cannot COMMIT. Every access to the connection is one whole job.
        """
        values = tuple(params)
        return await self.run(lambda conn: conn.execute(sql, values).fetchall())

    async def close(self) -> None:
        """Checkpoint and close; the WAL is folded back so the file stands alone."""
        if self._flush is not None:
            self._flush.cancel()
        with suppress(sqlite3.Error):
            await self.scalar("PRAGMA wal_checkpoint(TRUNCATE)")
        await self.conn.close()


def storage_failure(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of storage rather than over the statement."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in STORAGE_FAILURES


def _in_transaction(
    job: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection, *, synced: bool = False
) -> T:
    if synced:  # FULL in WAL mode: the WAL is synced at each commit
        conn.execute("PRAGMA synchronous=FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = job(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if synced:
            conn.execute("PRAGMA synchronous=NORMAL")
    return result


def split_statements(script: str) -> list[str]:
    """Split a migration into statements.

    ``executescript`` would COMMIT the open transaction first, breaking the promise
    that an upgrade is all or nothing, so statements run one by one instead.
    """
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _prepare_file(path: Path) -> None:
    """Make the 0700 directory, refuse foreign files, create a new file 0600.

    An existing file is not touched here (its mode is fixed once it is known to be
    ours), so a refused file is left exactly as it was.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=DIR_MODE, parents=True)
    if path.exists() and path.stat().st_size > 0:
        _check_header(path)
    else:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite, or is another program's SQLite database."""
    with path.open("rb") as f:
        header = f.read(100)
    if not header.startswith(b"SQLite format 3\x00"):
        raise StoreError(f"{path} is not an SQLite database; it is left untouched")
    app_id = int.from_bytes(header[68:72], "big")
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"{path} is an SQLite database of another program (application id "
            f"{app_id:#x}); it is left untouched"
        )
