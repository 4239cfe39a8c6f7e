"""``sipprofilectl`` as a user runs it: a real process against a live sipprofiled.

Needs the ``dbus_address``, ``daemon`` and ``registry`` fixtures of
``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
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
    assert_one_line_error(await ctl(dbus_address, "list"))


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
