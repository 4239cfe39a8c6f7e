"""The bus daemon goes away under sipprofiled (issue 8, faults).

What sipprofiled does, and what the README documents: it does not try to reconnect.
Every client's holds died with the bus, and the bus name it served is gone, so it
ends as after SIGTERM (its bindings deregistered, the database closed whole) but with
exit status 1, a failure, which ``Restart=on-failure`` in its units answers by starting
it again; D-Bus activation would too. The new instance registers the always-on
profiles again, with the same Contact, and leaves no second binding behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path

from busutil import raw_bus
from conftest import wait_for_name
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    bindings_behind_nat,
    scripted_registrar,
    scripted_registrar_factory,
)
from privatebus import PrivateBus, daemon_command, start_bus

from sipprofile.proto import names

#: Bounds on each wait; none of them is a timing target.
WAIT_S = 15.0
REPO = Path(__file__).resolve().parents[2]


async def registered(address: str, path: str) -> None:
    """Poll the profile's State until it says registered (bounded by the caller)."""
    async with raw_bus(address) as raw:
        while (await raw.get_all(path))["State"] != "registered":
            await asyncio.sleep(0.05)


async def start_daemon(bus: PrivateBus, db_path: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *daemon_command(bus.address, db_path),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    await wait_for_name(bus.address)
    return process


async def test_bus_gone_ends_the_daemon_cleanly_and_the_next_one_registers_again(
    scripted_registrar: ScriptedRegistrar,  # noqa: F811
    tmp_path: Path,
) -> None:
    bindings, keeper = bindings_behind_nat(None)  # a registrar that keeps bindings
    scripted_registrar.default = keeper
    db_path = tmp_path / "state" / "profiles.db"
    (tmp_path / "bus1").mkdir()
    bus = start_bus(tmp_path / "bus1", quiet=True)
    process = await start_daemon(bus, db_path)
    try:
        async with raw_bus(bus.address) as raw:
            path = await raw.create(
                Aor="sip:alice@example.test",
                Registrar={"Uri": scripted_registrar.uri},
                AutoRegistration=True,
            )
        await asyncio.wait_for(registered(bus.address, path), WAIT_S)
        assert len(bindings) == 1
        (contact,) = bindings

        bus.process.kill()  # no goodbye: the socket just closes
        bus.process.wait(timeout=WAIT_S)
        status = await asyncio.wait_for(process.wait(), WAIT_S)
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert status == 1, log
        assert "lost the connection to the bus" in log
        assert "Traceback" not in log
        assert bindings == {}, "the binding was left at the registrar"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(Exception):
            bus.stop()

    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT aor FROM profiles").fetchall() == [("sip:alice@example.test",)]

    # what the unit's Restart=on-failure (or activation) does: start it again
    (tmp_path / "bus2").mkdir()
    bus = start_bus(tmp_path / "bus2", quiet=True)
    process = await start_daemon(bus, db_path)
    try:
        await asyncio.wait_for(registered(bus.address, names.profile_path(1)), WAIT_S)
        assert list(bindings) == [contact]  # the same Contact (port included), once
        process.terminate()
        assert await asyncio.wait_for(process.wait(), WAIT_S) == 0
        assert bindings == {}
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        bus.stop()


def test_the_units_restart_a_daemon_that_failed() -> None:
    """The other half of the contract: exit status 1 is answered by a restart."""
    for unit in ("sipprofiled.service", "sipprofiled-user.service"):
        lines = (REPO / "systemd" / unit).read_text().splitlines()
        assert "Restart=on-failure" in lines, unit
