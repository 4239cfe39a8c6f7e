"""Disk full while profiles change (issue 8, faults): the write fails cleanly, nothing is lost.

The database lives on a small tmpfs of its own, filled to the last byte by the test,
so SQLite meets the real ENOSPC (``SQLITE_FULL``) halfway through its WAL write. The
daemon must answer the call that could not be stored with a named error
(``Error.Internal``, as the Registry interface documents for "the database cannot be
written") and a message saying so, log one line rather than a traceback, keep every
change it acknowledged, and carry on once space is back. Mounting needs root (CI runs
as root); elsewhere the test is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from busutil import CallFailed, raw_bus, variants

from sipprofile.proto import names
from sipprofile.server.daemon import Daemon, Options

#: Room for the database, its WAL and a few dozen updates, not for hundreds.
DISK_SIZE = "8m"
#: Bounds the loop that writes until the disk refuses (4 KB of extension each).
MAX_UPDATES = 400
CHUNK = 4000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_SIZE`` mounted for this test only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system with one file; returns it."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: no write left for close
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            while True:
                try:
                    out.write(block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


def stored_extensions(db_path: Path, profile_id: int) -> str:
    """The profile's extensions column as stored, read past the daemon."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT extensions FROM profiles WHERE id = ?", (profile_id,)).fetchone()
    return str(row[0])


async def test_disk_full_fails_the_update_by_name_and_loses_nothing(
    small_disk: Path, dbus_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    db_path = small_disk / "state" / "profiles.db"
    daemon = Daemon(Options(bus="address", address=dbus_address, database=db_path))
    await daemon.start()
    try:
        async with raw_bus(dbus_address) as raw:
            path = await raw.create(Aor="sip:alice@example.test", ProviderName="before")
            other = await raw.create(Aor="sip:bob@example.test")
            profile_id = names.profile_id_from_path(path)
            filler = fill(small_disk)

            acknowledged: dict[str, str] = {}
            failure: CallFailed | None = None
            caplog.clear()
            for i in range(MAX_UPDATES):
                value = f"{i:04d}" + "x" * CHUNK
                try:
                    await raw.profile(
                        path, "Update", "a{sv}", variants({"Extensions": {f"k{i}": value}})
                    )
                except CallFailed as exc:
                    failure = exc
                    break
                acknowledged = {f"k{i}": value}
            assert failure is not None, f"{MAX_UPDATES} updates fitted on a full disk"
            assert failure.name == names.Error.INTERNAL
            assert "cannot be written" in failure.text and "nothing was changed" in failure.text
            assert "full" in failure.text

            # what was acknowledged is what the daemon serves and what the file holds
            props = await raw.get_all(path)
            assert props["Extensions"] == acknowledged
            stored = json.loads(stored_extensions(db_path, profile_id))
            assert {k: v for k, (_sig, v) in stored.items()} == acknowledged
            # the other calls that write fail the same way, and change nothing either
            with pytest.raises(CallFailed) as created:
                await raw.create(Aor="sip:carol@example.test", ProviderName="x" * 200)
            assert created.value.name == names.Error.INTERNAL
            # one line for the operator, no traceback
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert errors and all(r.exc_info is None for r in errors)
            assert any("cannot write" in r.getMessage() for r in errors)

            filler.unlink()
            await raw.profile(path, "Update", "a{sv}", variants({"ProviderName": "after"}))
            await raw.profile(other, "Delete")
            props = await raw.get_all(path)
            assert props["ProviderName"] == "after"
            assert props["Extensions"] == acknowledged
    finally:
        await daemon.close()

    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT aor, provider_name FROM profiles ORDER BY id").fetchall()
    assert rows == [("sip:alice@example.test", "after")]

    # and a daemon started afresh on the file serves the same
    daemon = Daemon(Options(bus="address", address=dbus_address, database=db_path))
    await daemon.start()
    try:
        async with raw_bus(dbus_address) as raw:
            props = await raw.get_all(path)
            assert props["ProviderName"] == "after"
            assert props["Extensions"] == acknowledged
    finally:
        await daemon.close()
