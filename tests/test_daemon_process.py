"""sipprofiled as a process: flags, single instance, signals, crash safety, busctl."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from busutil import CallFailed, raw_bus
from conftest import DaemonProcess, daemon_command, wait_for_name

from sipprofile.proto import names
from sipprofile.server.store.migrations import APPLICATION_ID, SCHEMA_VERSION


async def run_daemon(*args: str, timeout: float = 20) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_gracefully(daemon_process: DaemonProcess, sig: int) -> None:
    async with raw_bus_address(daemon_process) as raw:
        await raw.create(Aor="sip:a@example.com")
    assert await daemon_process.stop(sig) == 0
    assert daemon_process.process.stderr is not None
    log = (await daemon_process.process.stderr.read()).decode()
    assert "Traceback" not in log
    # the database was checkpointed and closed: it stands alone without its WAL
    conn = sqlite3.connect(daemon_process.db_path)
    assert conn.execute("SELECT aor FROM profiles").fetchall() == [("sip:a@example.com",)]
    conn.close()


def raw_bus_address(handle: DaemonProcess):
    return raw_bus(handle.address)


async def test_second_instance_refuses_to_start(
    daemon_process: DaemonProcess, tmp_path: Path
) -> None:
    status, output = await run_daemon(
        *daemon_command(daemon_process.address, tmp_path / "other.db")
    )
    assert status == 1
    assert "another sipprofiled already owns org.sipprofile.SipProfile1" in output
    assert "Traceback" not in output
    async with raw_bus_address(daemon_process) as raw:  # the first one still serves
        assert await raw.registry("ListProfiles") == []


async def test_newer_database_stops_start_with_a_clear_message(
    dbus_address: str, tmp_path: Path
) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    status, output = await run_daemon(*daemon_command(dbus_address, path))
    assert status == 1
    assert "newer sipprofiled" in output
    assert "Traceback" not in output
    assert path.read_bytes() == before


async def test_unreachable_bus_is_a_clear_error(tmp_path: Path) -> None:
    status, output = await run_daemon(
        *daemon_command("unix:path=" + str(tmp_path / "nobus"), tmp_path / "p.db")
    )
    assert status == 1
    assert "cannot connect" in output
    assert "Traceback" not in output


async def test_usage_error_exits_2(dbus_address: str, tmp_path: Path) -> None:
    status, output = await run_daemon(*daemon_command(dbus_address, tmp_path / "p.db"), "--session")
    assert status == 2
    assert "not allowed with argument" in output


async def test_sigkill_keeps_every_acknowledged_profile(
    daemon_process: DaemonProcess,
) -> None:
    acknowledged: list[str] = []

    async def creator(raw, worker: int) -> None:
        n = 0
        while True:
            n += 1
            path = await raw.create(Aor=f"sip:w{worker}n{n}@example.com")
            acknowledged.append(path)

    async with raw_bus_address(daemon_process) as raw:
        workers = [asyncio.ensure_future(creator(raw, w)) for w in range(4)]
        while len(acknowledged) < 200:
            failed = [w for w in workers if w.done()]
            assert not failed, failed[0].exception()  # a creator died: say why, don't wait
            await asyncio.sleep(0.01)
        daemon_process.process.kill()
        await daemon_process.process.wait()
        results = await asyncio.gather(*workers, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results)
    conn = sqlite3.connect(daemon_process.db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    # restart on the same database: every acknowledged profile is there
    process = await asyncio.create_subprocess_exec(
        *daemon_command(daemon_process.address, daemon_process.db_path)
    )
    try:
        await wait_for_name(daemon_process.address)
        async with raw_bus_address(daemon_process) as raw:
            stored = set(await raw.registry("ListProfiles"))
            assert set(acknowledged) <= stored
            assert await raw.registry("GetDefaultProfile") == names.profile_path(1)
    finally:
        process.terminate()
        assert await process.wait() == 0


async def test_busctl_sees_and_drives_the_daemon(daemon_process: DaemonProcess) -> None:
    address = f"--address={daemon_process.address}"

    def busctl(*args: str) -> str:
        return subprocess.run(
            ["busctl", address, *args], check=True, capture_output=True, text=True, timeout=10
        ).stdout

    created = await asyncio.to_thread(
        busctl,
        "call",
        names.BUS_NAME,
        names.REGISTRY_PATH,
        names.REGISTRY_INTERFACE,
        "CreateProfile",
        "a{sv}",
        "2",
        "Aor",
        "s",
        "sip:alice@example.com",
        "ProviderName",
        "s",
        "Busctl",
    )
    assert created.strip() == 'o "/org/sipprofile/SipProfile1/Profile/1"'
    tree = await asyncio.to_thread(busctl, "tree", names.BUS_NAME)
    assert "/org/sipprofile/SipProfile1/Profile/1" in tree
    got = await asyncio.to_thread(
        busctl,
        "--json=short",
        "get-property",
        names.BUS_NAME,
        names.profile_path(1),
        names.PROFILE_INTERFACE,
        "ProviderName",
    )
    assert json.loads(got) == {"type": "s", "data": "Busctl"}
    introspected = await asyncio.to_thread(
        busctl, "introspect", names.BUS_NAME, names.profile_path(1)
    )
    assert ".Update" in introspected
    assert ".LastError" in introspected
    with pytest.raises(subprocess.CalledProcessError) as info:
        await asyncio.to_thread(
            busctl,
            "call",
            names.BUS_NAME,
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            "GetProfile",
            "t",
            "99",
        )
    assert "no profile with id 99" in info.value.stderr


async def test_errors_are_not_tracebacks(daemon_process: DaemonProcess) -> None:
    async with raw_bus_address(daemon_process) as raw:
        with pytest.raises(CallFailed) as info:
            await raw.create(Aor="sip:bad uri@example.com")
        assert info.value.name == names.Error.INVALID_ARGUMENT
        assert "Traceback" not in info.value.text


async def test_denied_name_is_a_clear_error(tmp_path: Path) -> None:
    socket_path = tmp_path / "deny.sock"
    config = tmp_path / "deny.conf"
    config.write_text(
        '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"'
        ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">'
        f"<busconfig><type>session</type><listen>unix:path={socket_path}</listen>"
        "<auth>EXTERNAL</auth><policy context='default'>"
        "<allow send_destination='*' eavesdrop='true'/><allow eavesdrop='true'/>"
        f"<allow own='*'/><deny own='{names.BUS_NAME}'/></policy></busconfig>"
    )
    bus = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        status, output = await run_daemon(*daemon_command(address, tmp_path / "p.db"))
        assert status == 1
        assert "does not let this user own" in output
        assert "Traceback" not in output
    finally:
        bus.terminate()
        bus.wait(timeout=5)


async def test_sigterm_while_the_bus_does_not_answer(tmp_path: Path) -> None:
    """A bus that accepts the connection but never speaks must not make the daemon
    deaf to SIGTERM."""
    path = tmp_path / "silent.sock"
    server = await asyncio.start_unix_server(lambda r, w: None, path=str(path))
    try:
        process = await asyncio.create_subprocess_exec(
            *daemon_command(f"unix:path={path}", tmp_path / "p.db"),
            stderr=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(1.0)
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 5) == 0
    finally:
        server.close()


async def test_calls_during_shutdown_never_see_unknown_method(
    daemon_process: DaemonProcess,
) -> None:
    failures: list[str] = []

    async def creator(raw, worker: int) -> None:
        n = 0
        while True:
            n += 1
            try:
                await raw.create(Aor=f"sip:w{worker}n{n}@example.com")
            except CallFailed as exc:
                failures.append(exc.name)
                return

    async with raw_bus_address(daemon_process) as raw:
        workers = [asyncio.ensure_future(creator(raw, w)) for w in range(6)]
        await asyncio.sleep(0.5)
        assert await daemon_process.stop() == 0
        await asyncio.wait(workers, timeout=5)
    assert failures
    assert "org.freedesktop.DBus.Error.UnknownMethod" not in failures, failures


async def test_a_migrated_database_is_served_whole(dbus_address: str, tmp_path: Path) -> None:
    """A schema-1 file (no wire fragments, no AOR key format) is upgraded at start and
    GetManagedObjects then equals GetAll for every profile."""
    from sipprofile.server.store.database import Database

    path = tmp_path / "old.db"
    db = await Database.open(path, migrate_to=1)
    for n in range(3):
        await db.rows(
            "INSERT INTO profiles (type, aor, aor_key, provider_name) VALUES (?, ?, ?, ?)",
            ("IETF", f"sip:u{n}@x.org", "stale-key", f"P{n}"),
        )
    await db.rows(
        "INSERT INTO secrets (profile_id, server, password) VALUES (1, 'registrar', 'pw')"
    )
    await db.close()
    process = await asyncio.create_subprocess_exec(*daemon_command(dbus_address, path))
    try:
        await wait_for_name(dbus_address)
        async with raw_bus(dbus_address) as raw:
            (managed,) = await raw.call(
                names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
            )
            assert len(managed) == 3
            for path_, interfaces in managed.items():
                (direct,) = await raw.call(
                    path_, names.PROPERTIES_INTERFACE, "GetAll", "s", [names.PROFILE_INTERFACE]
                )
                assert interfaces[names.PROFILE_INTERFACE] == direct
            first = interfaces = managed[names.profile_path(1)][names.PROFILE_INTERFACE]
            assert first["Registrar"].value["HasPassword"].value is True
            # the stale AOR keys were recomputed: lookup by equivalence works
            assert await raw.registry("ListProfilesByAor", "s", "sip:u2@X.ORG") == [
                names.profile_path(3)
            ]
    finally:
        process.terminate()
        assert await process.wait() == 0
