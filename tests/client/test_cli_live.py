"""``sipprofilectl`` as a user runs it: a real process against a live sipprofiled.

Needs the ``dbus_address``, ``daemon`` and ``registry`` fixtures of
``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from dataclasses import dataclass

from sipprofile.client import Registry

TIMEOUT = 10.0
PASSWORD = "pa55-word-on-stdin"


@dataclass
class Result:
    status: int
    out: str
    err: str


async def ctl(address: str, *args: str, stdin: str | None = None) -> Result:
    """Run sipprofilectl to completion."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sipprofile.client.cli",
        "--address",
        address,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate(stdin.encode() if stdin is not None else b"")
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def assert_ok(result: Result) -> None:
    assert result.status == 0, result.err
    assert "Traceback" not in result.err


def assert_one_line_error(result: Result) -> None:
    assert result.status == 1
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("sipprofilectl: ")


def show_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


async def test_create_list_show_update_delete(daemon) -> None:
    address = daemon.address
    created = await ctl(
        address, "create", "--aor", "sip:alice@example.com", "--provider-name", "Example",
        "--registrar-uri", "sip:registrar.example.com", "--registrar-username", "alice",
        "--sigcomp", "--contact-param", "ob", "--header", "X-Tenant: blue",
        "--extension", "note=hi", "--extension-bool", "trace=true", "--extension-int", "n=5",
    )  # fmt: skip
    assert_ok(created)
    profile_id = int(created.out.strip())

    listed = await ctl(address, "list")
    assert_ok(listed)
    header, row = listed.out.splitlines()
    assert header.split() == ["ID", "DEFAULT", "TYPE", "STATE", "AOR", "PROVIDER"]
    assert row.split()[:3] == [str(profile_id), "*", "IETF"]
    assert "sip:alice@example.com" in row

    shown = await ctl(address, "show", str(profile_id))
    assert_ok(shown)
    fields = show_fields(shown.out)
    assert fields["Aor"] == "sip:alice@example.com"
    assert fields["ProviderName"] == "Example"
    assert fields["SigComp"] == "true"
    assert fields["Registrar.Uri"] == "sip:registrar.example.com"
    assert fields["Registrar.HasPassword"] == "false"
    assert fields["Extensions.n"] == "5"

    updated = await ctl(
        address, "update", str(profile_id), "--provider-name", "Renamed", "--no-sigcomp",
        "--header", "X-Extra: 1", "--extension-int", "m=6",
    )  # fmt: skip
    assert_ok(updated)
    data = json.loads((await ctl(address, "--json", "show", str(profile_id))).out)
    assert data["ProviderName"] == "Renamed"
    assert data["SigComp"] is False
    assert data["Headers"] == ["X-Tenant: blue", "X-Extra: 1"]  # added to, not replaced
    assert data["Extensions"] == {"note": "hi", "trace": True, "n": 5, "m": 6}
    assert data["ContactParams"] == {"ob": ""}

    cleared = await ctl(address, "update", str(profile_id), "--clear-headers", "--clear-extensions")
    assert_ok(cleared)
    data = json.loads((await ctl(address, "show", "--json", str(profile_id))).out)
    assert data["Headers"] == []
    assert data["Extensions"] == {}

    assert_ok(await ctl(address, "delete", str(profile_id)))
    assert_one_line_error(await ctl(address, "show", str(profile_id)))


async def test_password_from_stdin_is_stored_and_never_printed(daemon) -> None:
    created = await ctl(
        daemon.address, "create", "--aor", "sip:bob@example.com",
        "--registrar-username", "bob", "--registrar-password-from", "-",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert_ok(created)
    profile_id = created.out.strip()
    assert PASSWORD not in created.out + created.err

    shown = await ctl(daemon.address, "show", profile_id)
    assert_ok(shown)
    assert show_fields(shown.out)["Registrar.HasPassword"] == "true"
    as_json = await ctl(daemon.address, "--json", "show", profile_id)
    assert json.loads(as_json.out)["Registrar"]["HasPassword"] is True
    listed = await ctl(daemon.address, "--json", "list")
    for result in (shown, as_json, listed):
        assert PASSWORD not in result.out + result.err


K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
OP = "cdc202d5123e20f62b6d676ac72cb318"


async def test_aka_keys_from_stdin_are_stored_and_never_printed(daemon, tmp_path) -> None:
    registry = daemon.daemon.registry
    created = await ctl(
        daemon.address, "create", "--type", "ims", "--aor", "sip:bob@ims.example.com",
        "--registrar-password-from", "-", "--aka-k-from", "-", "--aka-opc-from", "-",
        "--aka-sqn", "12",
        stdin=f"{PASSWORD}\n{K}\n{OPC.upper()}\n",
    )  # fmt: skip
    assert_ok(created)
    profile_id = created.out.strip()
    keys = await registry.usim_keys(int(profile_id))
    assert (keys.k, keys.op, keys.opc, keys.amf, keys.sqn) == (K, None, OPC, "8000", 12)
    assert (await registry.passwords([int(profile_id)]))[int(profile_id)] == {"registrar": PASSWORD}

    op_file = tmp_path / "op"
    op_file.write_text(OP + "\n")
    updated = await ctl(
        daemon.address, "update", profile_id, "--aka-amf", "8001", "--aka-op-from", str(op_file)
    )
    assert_ok(updated)
    keys = await registry.usim_keys(int(profile_id))
    assert (keys.k, keys.op, keys.opc, keys.amf, keys.sqn) == (K, OP, None, "8001", 12)

    shown = await ctl(daemon.address, "show", profile_id)
    assert_ok(shown)
    assert "Aka: keys set" in shown.out.splitlines()
    as_json = await ctl(daemon.address, "--json", "show", profile_id)
    assert json.loads(as_json.out)["Aka"] == {"HasKeys": True}
    listed = await ctl(daemon.address, "--json", "list")
    monitor_free = await ctl(daemon.address, "--json", "update", profile_id, "--aka-sqn", "13")
    for result in (created, updated, shown, as_json, listed, monitor_free):
        for secret in (K, OP, OPC, PASSWORD):
            assert secret not in result.out + result.err
            assert secret.upper() not in result.out + result.err

    bad = await ctl(daemon.address, "update", profile_id, "--aka-k-from", "-", stdin="0123\n")
    assert_one_line_error(bad)
    assert "Aka.K must be 32 hex digits" in bad.err
    assert "0123" not in bad.err

    cleared = await ctl(daemon.address, "update", profile_id, "--clear-aka")
    assert_ok(cleared)
    assert "Aka: none" in (await ctl(daemon.address, "show", profile_id)).out.splitlines()
    assert await registry.usim_keys(int(profile_id)) is None


async def test_password_from_file(daemon, tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\nsecond line ignored\n")
    created = await ctl(
        daemon.address, "create", "--aor", "sip:carol@example.com",
        "--proxy-uri", "sip:proxy.example.com", "--proxy-password-from", str(secret),
    )  # fmt: skip
    assert_ok(created)
    data = json.loads((await ctl(daemon.address, "--json", "show", created.out.strip())).out)
    assert data["OutboundProxy"]["HasPassword"] is True


async def test_json_output_parses(daemon) -> None:
    created = await ctl(daemon.address, "--json", "create", "--aor", "sip:dave@example.com")
    assert_ok(created)
    profile = json.loads(created.out)
    assert profile["Aor"] == "sip:dave@example.com"
    for args in (("list",), ("types",), ("show", str(profile["Id"]))):
        result = await ctl(daemon.address, "--json", *args)
        assert_ok(result)
        json.loads(result.out)
    types = json.loads((await ctl(daemon.address, "--json", "types")).out)
    assert {"class": "internet", "name": "IETF"} in types


async def test_list_filters(daemon) -> None:
    await ctl(daemon.address, "create", "--aor", "sip:erin@example.com")
    await ctl(daemon.address, "create", "--aor", "sip:frank@example.com", "--type", "ims")
    by_type = json.loads((await ctl(daemon.address, "--json", "list", "--type", "ims")).out)
    assert [p["Aor"] for p in by_type] == ["sip:frank@example.com"]
    by_aor = json.loads(
        (await ctl(daemon.address, "--json", "list", "--aor", "sip:erin@example.com")).out
    )
    assert [p["Aor"] for p in by_aor] == ["sip:erin@example.com"]


async def test_not_found_is_one_line_and_status_1(daemon) -> None:
    assert_one_line_error(await ctl(daemon.address, "show", "999"))
    assert_one_line_error(await ctl(daemon.address, "delete", "999"))
    assert_one_line_error(await ctl(daemon.address, "update", "999", "--provider-name", "x"))


async def test_daemon_error_is_one_line(daemon) -> None:
    result = await ctl(daemon.address, "create", "--provider-name", "no aor given")
    assert_one_line_error(result)


async def test_usage_errors_are_status_2(daemon) -> None:
    for args in (
        ("show",),
        ("show", "abc"),
        ("frobnicate",),
        ("create", "--registrar-password", "secret"),
        ("create", "--extension-bool", "x=maybe"),
        ("update", "1"),
    ):
        result = await ctl(daemon.address, *args)
        assert result.status == 2, (args, result)
        assert "Traceback" not in result.err


async def test_no_daemon_is_one_line(dbus_address: str) -> None:
    for command in ("list", "enable", "force-disable"):
        assert_one_line_error(
            await ctl(dbus_address, command, *(["1"] if command != "list" else []))
        )


async def test_monitor_prints_events_and_exits_0_on_sigint(daemon) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipprofile.client.cli", "--address", daemon.address,
        "--json", "monitor",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            # Subscribed once it says so on stderr; then an event must reach it.
            banner = await proc.stderr.readline()
            assert b"Monitoring" in banner
            async with await Registry.connect(address=daemon.address) as other:
                profile = await other.create({"Aor": "sip:grace@example.com"})
            line = json.loads(await proc.stdout.readline())
            assert line["signal"] == "ProfileEvent"
            assert line["id"] == profile.id
            assert line["event"] == "created"
            assert line["time"]
            proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
        assert b"Traceback" not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_monitor_text_and_sigterm(daemon, registry: Registry) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipprofile.client.cli", "--address", daemon.address, "monitor",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            await proc.stderr.readline()
            profile = await registry.create({"Aor": "sip:heidi@example.com"})
            line = (await proc.stdout.readline()).decode()
            assert line.rstrip().endswith(f"profile {profile.id} created")
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# -- enable, disable, refresh, force-disable ------------------------------------------

NOT_ENABLED = "org.sipprofile.SipProfile1.Error.NotEnabled"
AUTH_FAILED = "org.sipprofile.SipProfile1.Error.AuthenticationFailed"


def registrar_settings(registrar, password: str = "alice-secret", **more) -> dict:
    return {
        "Aor": f"sip:alice@{registrar.domain}",
        "Registrar": {
            "Uri": f"sip:{registrar.host}:{registrar.port}",
            "Username": "alice",
            "Password": password,
        },
        **more,
    }


async def wait_for(check, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def spawn(address: str, *args: str) -> asyncio.subprocess.Process:
    """Start sipprofilectl and leave it running."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipprofile.client.cli", "--address", address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_json_until(proc: asyncio.subprocess.Process, key: str, value: str) -> list[dict]:
    assert proc.stdout is not None
    lines = []
    while not lines or lines[-1].get(key) != value:
        raw = await proc.stdout.readline()
        assert raw, f"sipprofilectl ended before {key}={value}: {lines}"
        lines.append(json.loads(raw))
    return lines


async def finish(proc: asyncio.subprocess.Process) -> Result:
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


async def test_enable_registers_then_releases(kamailio, registry: Registry, daemon) -> None:
    profile = await registry.create(registrar_settings(kamailio))
    result = await ctl(daemon.address, "enable", str(profile.id))
    assert_ok(result)
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0].endswith(f"profile {profile.id} enabled (holders 1)")
    assert any(f"profile {profile.id} registering" in line for line in lines)
    registered = [line for line in lines if f"profile {profile.id} registered" in line]
    assert len(registered) == 1
    assert "(expires 3600 s, contact sip:" in registered[0]
    assert lines[-1].endswith(f"profile {profile.id} released")
    # the hold went with the process: nobody holds it, the binding is removed
    await profile.reload()
    assert profile.holders == 0
    await wait_for(lambda: kamailio.contacts_of("alice") == [], timeout=2.0)


async def test_enable_with_a_wrong_password_fails(kamailio, registry: Registry, daemon) -> None:
    profile = await registry.create(registrar_settings(kamailio, password="wrong"))
    result = await ctl(daemon.address, "enable", str(profile.id))
    assert result.status == 1
    [error] = result.err.splitlines()
    assert error.startswith(
        f"sipprofilectl: profile {profile.id} failed to register: {AUTH_FAILED}: "
        "the registrar did not accept the credentials"
    )
    assert f"profile {profile.id} failed: {AUTH_FAILED}: " in result.out
    assert result.out.splitlines()[-1].endswith("released")
    shown = show_fields((await ctl(daemon.address, "show", str(profile.id))).out)
    assert shown["LastError"].startswith(f"{AUTH_FAILED}: the registrar did not accept")
    assert shown["Holders"] == "0"
    assert kamailio.contacts_of("alice") == []


async def test_enable_wait_holds_until_sigint(kamailio, registry: Registry, daemon) -> None:
    profile = await registry.create(registrar_settings(kamailio))
    proc = await spawn(daemon.address, "--json", "enable", "--wait", str(profile.id))
    try:
        async with asyncio.timeout(TIMEOUT):
            lines = await read_json_until(proc, "state", "registered")
        assert lines[0] == {"time": lines[0]["time"], "id": profile.id, "event": "enabled",
                            "holders": 1}  # fmt: skip
        assert lines[-1]["expires"] == 3600
        [binding] = kamailio.contacts_of("alice")
        assert lines[-1]["contact"] in binding.contact
        assert profile.holders == 1
        await asyncio.sleep(0.3)  # holding means staying: still running
        assert proc.returncode is None
        proc.send_signal(signal.SIGINT)
        result = await finish(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert_ok(result)
    assert json.loads(result.out.splitlines()[-1])["event"] == "released"
    assert "Holding profile" in result.err
    await wait_for(lambda: kamailio.contacts_of("alice") == [], timeout=2.0)
    await wait_for(lambda: profile.holders == 0)


async def test_enable_wait_ends_on_sigterm_and_force_disable(
    registry: Registry, kamailio, daemon
) -> None:
    profile = await registry.create(registrar_settings(kamailio))
    first = second = await spawn(daemon.address, "--json", "enable", "--wait", str(profile.id))
    try:
        async with asyncio.timeout(TIMEOUT):
            await read_json_until(first, "state", "registered")
        first.send_signal(signal.SIGTERM)
        assert_ok(await finish(first))
        # a forcible disable ends a waiting enable with status 1
        second = await spawn(daemon.address, "enable", "--wait", str(profile.id))
        assert second.stdout is not None
        async with asyncio.timeout(TIMEOUT):
            while b"registered" not in await second.stdout.readline():
                pass
        assert_ok(await ctl(daemon.address, "force-disable", str(profile.id)))
        result = await finish(second)
    finally:
        for proc in (first, second):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert result.status == 1
    assert "forcibly disabled" in result.out
    assert result.err.splitlines()[-1] == (
        f"sipprofilectl: profile {profile.id} was forcibly disabled; the hold is gone"
    )


async def test_enable_times_out_naming_the_state(daemon, registry: Registry) -> None:
    # a registrar that never answers: a UDP port nobody reads
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        profile = await registry.create(
            {"Aor": "sip:alice@example.com", "Registrar": {"Uri": f"sip:127.0.0.1:{port}"}}
        )
        result = await ctl(daemon.address, "enable", "--timeout", "0.5", str(profile.id))
    assert result.status == 1
    assert result.err == (
        f"sipprofilectl: profile {profile.id} did not register within 0.5 s: "
        "it is still registering\n"
    )
    await profile.reload()
    assert profile.holders == 0


async def test_enable_interrupted_before_settling(daemon, registry: Registry) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        profile = await registry.create(
            {"Aor": "sip:alice@example.com", "Registrar": {"Uri": f"sip:127.0.0.1:{port}"}}
        )
        proc = await spawn(daemon.address, "--json", "enable", str(profile.id))
        try:
            async with asyncio.timeout(TIMEOUT):
                await read_json_until(proc, "state", "registering")
            proc.send_signal(signal.SIGINT)
            result = await finish(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert result.status == 130
    assert result.err == f"sipprofilectl: interrupted while profile {profile.id} was registering\n"
    assert json.loads(result.out.splitlines()[-1])["event"] == "released"
    await wait_for(lambda: profile.holders == 0)


async def test_enable_wait_ends_when_the_daemon_leaves(
    registry: Registry, kamailio, daemon
) -> None:
    profile = await registry.create(registrar_settings(kamailio))
    proc = await spawn(daemon.address, "--json", "enable", "--wait", str(profile.id))
    try:
        async with asyncio.timeout(TIMEOUT):
            await read_json_until(proc, "state", "registered")
        await daemon.daemon.close()
        result = await finish(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert result.status == 1
    assert result.err.splitlines()[-1] == (
        f"sipprofilectl: sipprofiled left the bus; the hold on profile {profile.id} is gone"
    )
    assert "Traceback" not in result.err


async def test_enable_unknown_profile_is_one_line(daemon) -> None:
    assert_one_line_error(await ctl(daemon.address, "enable", "999"))


async def test_disable_from_another_process_is_not_enabled(daemon, registry: Registry) -> None:
    profile = await registry.create({"Aor": "sip:ivan@example.com"})
    await profile.enable()  # held, but by the test's own connection
    result = await ctl(daemon.address, "disable", str(profile.id))
    assert_one_line_error(result)
    assert f"this client does not hold profile {profile.id} enabled" in result.err
    assert "force-disable" in result.err
    await profile.reload()
    assert profile.holders == 1
    help_text = await ctl(daemon.address, "disable", "--help")
    assert "end when it exits" in " ".join(help_text.out.split())


async def test_refresh(kamailio, registry: Registry, daemon) -> None:
    always_on = await registry.create(registrar_settings(kamailio, AutoRegistration=True))
    await wait_for(lambda: always_on.state == "registered")

    def saved() -> int:
        return kamailio.log_tail(10**6).count("save() ok for")

    before = saved()
    assert_ok(await ctl(daemon.address, "refresh", str(always_on.id)))
    await wait_for(lambda: saved() > before)
    when_needed = await registry.create({"Aor": "sip:judy@example.com"})
    result = await ctl(daemon.address, "refresh", str(when_needed.id))
    assert_one_line_error(result)
    assert f"profile {when_needed.id} is not enabled by this client" in result.err


async def test_force_disable_is_seen_by_monitor(kamailio, registry: Registry, daemon) -> None:
    profile = await registry.create(registrar_settings(kamailio))
    await profile.enable()
    await wait_for(lambda: profile.state == "registered")
    monitor = await spawn(daemon.address, "--json", "monitor")
    assert monitor.stderr is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            assert b"Monitoring" in await monitor.stderr.readline()
            assert_ok(await ctl(daemon.address, "force-disable", str(profile.id)))
            events = await read_json_until(monitor, "event", "forcibly-disabled")
        assert events[-1]["id"] == profile.id
        monitor.send_signal(signal.SIGINT)
        assert (await finish(monitor)).status == 0
    finally:
        if monitor.returncode is None:
            monitor.kill()
            await monitor.wait()
    assert not await profile.is_enabled()
    await wait_for(lambda: profile.holders == 0)
    await wait_for(lambda: kamailio.contacts_of("alice") == [], timeout=2.0)


async def test_enable_of_a_profile_another_client_holds_failed(
    registry: Registry, kamailio, daemon
) -> None:
    profile = await registry.create(registrar_settings(kamailio, password="wrong"))
    await profile.enable()
    await wait_for(lambda: profile.state == "failed")
    result = await ctl(daemon.address, "enable", str(profile.id))
    assert result.status == 1
    [error] = result.err.splitlines()
    assert f"profile {profile.id} failed to register: {AUTH_FAILED}: " in error
    assert "enabled (holders 2)" in result.out
    await wait_for(lambda: profile.holders == 1)  # ours is still there


async def test_enable_reports_retrying_and_times_out(daemon, registry: Registry) -> None:
    # a TCP port that refuses connections: TransportFailed, then retrying with backoff
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        uri = f"sip:127.0.0.1:{port};transport=tcp"
        profile = await registry.create({"Aor": "sip:alice@example.com", "Registrar": {"Uri": uri}})
        result = await ctl(daemon.address, "--json", "enable", "--timeout", "1", str(profile.id))
    assert result.status == 1
    lines = [json.loads(line) for line in result.out.splitlines()]
    retrying = [line for line in lines if line.get("state") == "retrying"]
    assert retrying and retrying[0]["error"] == "org.sipprofile.SipProfile1.Error.TransportFailed"
    assert lines[-1]["event"] == "released"
    [error] = result.err.splitlines()
    assert error.startswith(
        f"sipprofilectl: profile {profile.id} did not register within 1 s: it is still retrying"
        " (last error: org.sipprofile.SipProfile1.Error.TransportFailed: "
    )
