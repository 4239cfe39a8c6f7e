"""The system integration files, as ``make install`` installs them.

Checked with systemd's own tools (``systemd-analyze verify`` and ``security``,
``systemd-sysusers``, ``systemd-tmpfiles``) rather than by reading them here, since
those tools are what will interpret them; none needs a running service manager.
D-Bus activation is proven for real: a private bus that knows only the installed
session activation file starts the real daemon when a client calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from privatebus import BUS_CONFIG

from sipprofile.proto.names import BUS_NAME

ROOT = Path(__file__).resolve().parents[1]
SYSTEMD = ROOT / "systemd"
# What the source files name; `make install` replaces it with its $(BINDIR)/sipprofiled.
SOURCE_EXECUTABLE = "/usr/bin/sipprofiled"
#: systemd-analyze security's scale: 0 (locked down) to 10 (unprotected).
EXPOSURE_TARGET = 2.0

# Installed path below PREFIX -> source file in systemd/, as Debian expects them.
LAYOUT = {
    "lib/systemd/system/sipprofiled.service": "sipprofiled.service",
    "lib/systemd/user/sipprofiled.service": "sipprofiled-user.service",
    "lib/sysusers.d/sipprofiled.conf": "sipprofiled.sysusers.conf",
    "lib/tmpfiles.d/sipprofiled.conf": "sipprofiled.tmpfiles.conf",
    "share/dbus-1/system-services/org.sipprofile.SipProfile1.service": (
        "org.sipprofile.SipProfile1.service"
    ),
    "share/dbus-1/services/org.sipprofile.SipProfile1.service": (
        "org.sipprofile.SipProfile1.session.service"
    ),
    "share/dbus-1/system.d/org.sipprofile.SipProfile1.conf": "org.sipprofile.SipProfile1.conf",
    "share/polkit-1/actions/org.sipprofile.SipProfile1.policy": (
        "org.sipprofile.SipProfile1.policy"
    ),
}
# The files that start the daemon, hence name the executable.
NAMES_EXECUTABLE = {
    "lib/systemd/system/sipprofiled.service",
    "lib/systemd/user/sipprofiled.service",
    "share/dbus-1/system-services/org.sipprofile.SipProfile1.service",
    "share/dbus-1/services/org.sipprofile.SipProfile1.service",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs systemd")
    return path


# The Makefile's install variables: none may come in from the environment, nor from a
# `make test PREFIX=...` above us through MAKEFLAGS, or files would land elsewhere.
MAKE_VARIABLES = {
    "DESTDIR", "PREFIX", "BINDIR", "SYSTEMD_SYSTEM_UNITDIR", "SYSTEMD_USER_UNITDIR",
    "SYSUSERSDIR", "TMPFILESDIR", "DBUS_SYSTEM_SERVICEDIR", "DBUS_SESSION_SERVICEDIR",
    "DBUS_POLICYDIR", "POLKIT_ACTIONDIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
}  # fmt: skip


def make(target: str, *variables: str) -> str:
    """Run a target of the project's Makefile; its output, or the failure with it."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), target, *variables],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES},
        check=False,
    )
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


def installed_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def unit_values(path: Path, section: str, key: str) -> list[str]:
    """Every value of ``key`` in ``section`` (unit and D-Bus service files alike)."""
    values = []
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == section and "=" in line and not line.startswith(("#", ";")):
            name, value = line.split("=", 1)
            if name.strip() == key:
                values.append(value.strip())
    return values


def stub_executable(path: Path) -> None:
    """An executable where the units expect sipprofiled: verify checks it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


# ---- make install / uninstall ----------------------------------------------------------


def test_install_puts_each_file_where_debian_expects_it(tmp_path: Path) -> None:
    destdir = tmp_path / "root"
    make("install", f"DESTDIR={destdir}", "PREFIX=/usr")
    assert installed_files(destdir) == {f"usr/{path}" for path in LAYOUT}
    for path, source in LAYOUT.items():
        target = destdir / "usr" / path
        assert target.stat().st_mode & 0o777 == 0o644, path
        # PREFIX=/usr is what the sources are written for: installed as they are.
        assert target.read_text() == (SYSTEMD / source).read_text(), path


def test_install_follows_prefix_and_bindir_and_uninstall_removes_it_all(
    tmp_path: Path,
) -> None:
    destdir = tmp_path / "root"
    for variables, bindir in (
        (["PREFIX=/usr/local"], "/usr/local/bin"),
        (["PREFIX=/usr/local", "BINDIR=/opt/sipprofiled/bin"], "/opt/sipprofiled/bin"),
    ):
        make("install", f"DESTDIR={destdir}", *variables)
        assert installed_files(destdir) == {f"usr/local/{path}" for path in LAYOUT}
        for path in NAMES_EXECUTABLE:
            text = (destdir / "usr/local" / path).read_text()
            assert SOURCE_EXECUTABLE not in text, path
            key = "ExecStart=" if path.endswith("sipprofiled.service") else "Exec="
            assert re.search(rf"^{key}{re.escape(bindir)}/sipprofiled --", text, re.M), path
    make("uninstall", f"DESTDIR={destdir}", "PREFIX=/usr/local")
    assert installed_files(destdir) == set()


# ---- what systemd makes of the files ---------------------------------------------------


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files installed with PREFIX in a temporary directory (no DESTDIR).

    That way the paths inside them are real paths on this machine: verify can find
    the executable they name (a stub) and the units they depend on (dbus.socket,
    sysinit.target) among the host's. ``verify --root`` is no help for the user unit:
    systemd 252 has no user search path below a root directory.
    """
    prefix = tmp_path_factory.mktemp("prefix")
    make("install", f"PREFIX={prefix}")
    stub_executable(prefix / "bin" / "sipprofiled")
    return prefix


def systemd_analyze(*args: str, user: bool = False, runtime: Path | None = None) -> str:
    env = dict(os.environ)
    if user:
        # A user manager's paths start from XDG_RUNTIME_DIR; verify refuses to run
        # without one (as root, in CI, there is none).
        assert runtime is not None
        env["XDG_RUNTIME_DIR"] = str(runtime)
    result = subprocess.run(
        [tool("systemd-analyze"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, f"systemd-analyze {' '.join(args)}:\n{result.stderr}"
    # verify reports problems it ignores ("Unknown key ...") on stderr with status 0.
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    ("unit", "user"),
    [
        ("lib/systemd/system/sipprofiled.service", False),
        ("lib/systemd/user/sipprofiled.service", True),
    ],
)
def test_units_pass_systemd_analyze_verify(
    prefix: Path, tmp_path: Path, unit: str, user: bool
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    scope = ["--user"] if user else []
    # --recursive-errors=no: judge this unit, not the host's dbus.socket and friends.
    output = systemd_analyze(
        "verify", *scope, "--recursive-errors=no", str(prefix / unit), user=user, runtime=runtime
    )
    # Not even a warning about an ignored line (about this unit: the host's own units
    # may have something to say on another machine).
    assert [line for line in output.splitlines() if "sipprofiled" in line] == [], output


def test_verify_would_catch_a_broken_unit(prefix: Path, tmp_path: Path) -> None:
    """The check above is not vacuous: a missing binary or a bad value fails it."""
    broken = tmp_path / "sipprofiled.service"
    text = (prefix / "lib/systemd/system/sipprofiled.service").read_text()
    for mistake, complaint in (
        (("ExecStart=" + str(prefix), "ExecStart=/nonexistent"), "/nonexistent/bin/sipprofiled"),
        (("LockPersonality=yes", "LockPersonality=maybe"), "Failed to parse boolean value"),
    ):
        broken.write_text(text.replace(*mistake))
        result = subprocess.run(
            [tool("systemd-analyze"), "verify", "--recursive-errors=no", str(broken)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0, mistake
        assert complaint in result.stderr


def test_system_unit_exposure_is_low(prefix: Path) -> None:
    output = systemd_analyze(
        "security", "--offline=true", str(prefix / "lib/systemd/system/sipprofiled.service")
    )
    found = re.search(r"Overall exposure level for sipprofiled\.service: (\d+\.\d+)", output)
    assert found, output
    assert float(found.group(1)) <= EXPOSURE_TARGET, output


def test_activation_files_name_the_unit_user_and_bus_name() -> None:
    """Unit, activation files, sysusers and bus policy agree on the names they share."""
    system_unit = SYSTEMD / "sipprofiled.service"
    user_unit = SYSTEMD / "sipprofiled-user.service"
    system = SYSTEMD / "org.sipprofile.SipProfile1.service"
    session = SYSTEMD / "org.sipprofile.SipProfile1.session.service"
    for unit in (system_unit, user_unit):
        assert unit_values(unit, "Service", "Type") == ["dbus"]
        assert unit_values(unit, "Service", "BusName") == [BUS_NAME]
    for activation, bus in ((system, "--system"), (session, "--session")):
        assert unit_values(activation, "D-BUS Service", "Name") == [BUS_NAME]
        assert unit_values(activation, "D-BUS Service", "Exec") == [f"{SOURCE_EXECUTABLE} {bus}"]
        # Both buses hand the start to the unit of that name (system or user manager).
        assert unit_values(activation, "D-BUS Service", "SystemdService") == ["sipprofiled.service"]
    assert unit_values(system, "D-BUS Service", "User") == ["sipprofiled"]
    assert unit_values(system_unit, "Service", "User") == ["sipprofiled"]
    assert unit_values(user_unit, "Service", "User") == []
    sysusers = (SYSTEMD / "sipprofiled.sysusers.conf").read_text()
    assert re.search(r"^u sipprofiled ", sysusers, re.M)
    policy = (SYSTEMD / "org.sipprofile.SipProfile1.conf").read_text()
    assert '<policy user="sipprofiled">' in policy


@pytest.mark.skipif(os.geteuid() != 0, reason="tmpfiles needs root to hand a directory over")
def test_sysusers_makes_the_user_and_tmpfiles_its_private_state_directory(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    make("install", f"DESTDIR={root}", "PREFIX=/usr")
    sysusers = [tool("systemd-sysusers"), f"--root={root}"]
    dry = subprocess.run(
        [*sysusers, "--dry-run"], capture_output=True, text=True, timeout=30, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "Creating user 'sipprofiled'" in dry.stderr + dry.stdout
    (root / "etc").mkdir()
    subprocess.run(sysusers, capture_output=True, timeout=30, check=True)
    entry = next(
        line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
        if line.startswith("sipprofiled:")
    )
    uid, gid, home, shell = int(entry[2]), int(entry[3]), entry[5], entry[6]
    assert 0 < uid < 1000, "a system user"
    assert home == "/var/lib/sipprofiled"
    assert shell.endswith("nologin")
    created = subprocess.run(
        [tool("systemd-tmpfiles"), "--create", f"--root={root}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    state = (root / "var/lib/sipprofiled").stat()
    assert (state.st_mode & 0o777, state.st_uid, state.st_gid) == (0o700, uid, gid)


# ---- D-Bus activation --------------------------------------------------------------------


@contextlib.contextmanager
def activating_bus(directory: Path, servicedir: Path, env: dict[str, str]) -> Iterator[str]:
    """A private session-type bus that activates services from ``servicedir``.

    The tests' usual bus (privatebus.BUS_CONFIG) plus a service directory. ``env`` is
    the bus's environment, which an activated service inherits (dbus-daemon adds the
    DBUS_STARTER_* variables and DBUS_SESSION_BUS_ADDRESS). The bus and whatever it
    starts write to ``directory/bus.log``; the address comes on a pipe of its own.
    """
    config = directory / "bus.conf"
    config.write_text(
        BUS_CONFIG.format(socket=directory / "bus.sock").replace(
            "<auth>EXTERNAL</auth>",
            f"<auth>EXTERNAL</auth>\n  <servicedir>{servicedir}</servicedir>",
        )
    )
    read_end, write_end = os.pipe()
    with (directory / "bus.log").open("ab") as log:
        bus = subprocess.Popen(
            [
                "dbus-daemon", "--config-file", str(config), "--nofork",
                f"--print-address={write_end}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(write_end,),
            env=env,
        )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end) as printed:
        address = printed.readline().strip()
    try:
        assert address.startswith("unix:"), (directory / "bus.log").read_text()
        yield address
    finally:
        bus.terminate()
        bus.wait(timeout=10)


async def bus_driver_call(address: str, member: str, name: str) -> object:
    """One call to the bus itself (org.freedesktop.DBus) about ``name``."""
    bus = await MessageBus(bus_address=address).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature="s",
                body=[name],
            )
        )
        assert reply is not None
        assert reply.message_type.name == "METHOD_RETURN", reply.body
        return reply.body[0]
    finally:
        bus.disconnect()


def process_gone(pid: int) -> bool:
    """Exited (and reaped, or a zombie waiting for its parent, the bus, to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def test_a_call_activates_the_daemon_on_its_session_bus(tmp_path: Path) -> None:
    """No daemon runs; a Registry call makes the bus start it, as installed."""
    executable = Path(sys.executable).with_name("sipprofiled")  # the venv's entry point
    if not executable.exists():
        pytest.skip(f"no sipprofiled script beside {sys.executable}")
    root = tmp_path / "root"
    # The installed session activation file, naming the sipprofiled this test runs.
    make("install", f"DESTDIR={root}", "PREFIX=/usr", f"BINDIR={executable.parent}")
    servicedir = root / "usr/share/dbus-1/services"
    state = tmp_path / "state"
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(state),
        # Whatever session bus the test runner had is not the one to serve: the
        # activated daemon has to find the bus that started it.
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/no-such-bus",
    }
    with activating_bus(tmp_path, servicedir, env) as address:
        assert await bus_driver_call(address, "NameHasOwner", BUS_NAME) is False
        client = await MessageBus(bus_address=address).connect()
        try:
            reply = await asyncio.wait_for(
                client.call(
                    Message(
                        destination=BUS_NAME,
                        path="/org/sipprofile/SipProfile1",
                        interface="org.sipprofile.SipProfile1.Registry",
                        member="SupportedTypes",
                    )
                ),
                timeout=60,
            )
        finally:
            client.disconnect()
        log = tmp_path / "bus.log"
        assert reply is not None
        assert reply.message_type.name == "METHOD_RETURN", (reply.body, log.read_text())
        assert ("internet", "IETF") in [tuple(pair) for pair in reply.body[0]]

        pid = await bus_driver_call(address, "GetConnectionUnixProcessID", BUS_NAME)
        assert isinstance(pid, int)
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert str(executable).encode() in argv, argv
            assert b"--session" in argv, argv
            # --session on an activated bus: the database is the session default.
            assert (state / "sipprofiled" / "profiles.db").exists()
        finally:
            os.kill(pid, signal.SIGTERM)
        for _ in range(500):
            if process_gone(pid):
                break
            await asyncio.sleep(0.02)
        assert process_gone(pid), "sipprofiled did not exit on SIGTERM"
        assert await bus_driver_call(address, "NameHasOwner", BUS_NAME) is False
        assert "Traceback" not in log.read_text(), log.read_text()
