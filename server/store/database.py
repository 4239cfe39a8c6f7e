"""The daemon's one SQLite connection: opening, checking, migrating, transactions.

One connection (aiosqlite's worker thread) in WAL mode serves every query; writers
take an asyncio lock and an IMMEDIATE transaction so a write never interleaves with
another and a crash leaves either all of it or none of it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from sipprofile.server.errors import StoreError

from .migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

_log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def _secure_file(path: Path) -> None:
    """Create the file 0600 if missing, and force 0600 on it and its WAL companions.

    The database holds passwords; a permissive umask must not expose them.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(FileNotFoundError):
            os.chmod(candidate, FILE_MODE)


class Database:
    """An open, checked, migrated database."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, migrate_to: int = SCHEMA_VERSION) -> Database:
        """Open ``path``, refusing damaged, foreign or newer databases untouched.

        ``migrate_to`` exists for tests that need an old schema on disk.
        """
        await asyncio.to_thread(_prepare_file, path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            db = cls(conn, path)
            await db._check_and_migrate(migrate_to)
        except BaseException:
            await conn.close()
            raise
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
        await self.conn.execute("PRAGMA synchronous=FULL")
        await self.conn.execute("PRAGMA foreign_keys=ON")
        await self.conn.execute("PRAGMA busy_timeout=5000")
        if version < target:
            await self._migrate(version, target)

    async def _migrate(self, version: int, target: int) -> None:
        async with self.transaction():
            for step in range(version, target):
                _log.info("migrating %s from schema %d to %d", self.path, step, step + 1)
                for statement in split_statements(MIGRATIONS[step]):
                    await self.conn.execute(statement)
            await self.conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            await self.conn.execute(f"PRAGMA user_version={target}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One IMMEDIATE transaction, serialised with every other writer."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        async with self.conn.execute(sql, tuple(params)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def close(self) -> None:
        """Checkpoint and close; the WAL is folded back so the file stands alone."""
        with suppress(sqlite3.Error):
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        await self.conn.close()


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
    """Make the 0700 directory, refuse foreign files, create the file 0600."""
    if not path.parent.exists():
        path.parent.mkdir(mode=DIR_MODE, parents=True)
    if path.exists() and path.stat().st_size > 0:
        _check_header(path)
    _secure_file(path)


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
