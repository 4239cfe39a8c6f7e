"""The shipped system-bus policy, loaded by a real dbus-daemon: who may do what."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import daemon_command, wait_for_name

from sipprofile.proto import names

POLICY = Path(__file__).resolve().parents[1] / "systemd" / "org.sipprofile.SipProfile1.conf"

SYSTEM_LIKE = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root to run a client as another user",
)


def busctl_as_nobody(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "busctl",
            f"--address={address}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


async def test_policy_lets_every_call_through_and_the_daemon_decides() -> None:
    """As for hostnamed: the bus passes every call to the daemon, which asks polkit.

    The daemon runs with ``--polkit`` and there is no polkit authority on this bus, so
    it must refuse everything that needs an action (fail closed), with its own
    AccessDenied naming the action: proof that the call reached it rather than being
    stopped by the bus. What polkit then allows is tested in tests/bus/test_polkit.py.
    """
    directory = Path(tempfile.mkdtemp(prefix="sipprofile-policy-"))
    directory.chmod(0o755)  # the unprivileged client must reach the socket
    socket = directory / "bus.sock"
    config = directory / "bus.conf"
    config.write_text(SYSTEM_LIKE.format(socket=socket, policy=POLICY))
    bus = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
    )
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    assert address, "dbus-daemon refused the policy file"
    daemon = await asyncio.create_subprocess_exec(
        *daemon_command(address, directory / "state" / "profiles.db", "--polkit")
    )
    try:
        await wait_for_name(address)
        os.chmod(socket, 0o777)
        types = busctl_as_nobody(
            address, "call", names.BUS_NAME, names.REGISTRY_PATH, names.REGISTRY_INTERFACE,
            "SupportedTypes",
        )  # fmt: skip
        assert types.returncode == 0, types.stderr  # needs no authorization
        for action, call in (
            ("read", ["call", names.BUS_NAME, names.REGISTRY_PATH, names.REGISTRY_INTERFACE,
                      "ListProfiles"]),
            ("manage", ["call", names.BUS_NAME, names.REGISTRY_PATH, names.REGISTRY_INTERFACE,
                        "CreateProfile", "a{sv}", "1", "Aor", "s", "sip:mallory@example.com"]),
            ("use", ["call", names.BUS_NAME, names.profile_path(1), names.PROFILE_INTERFACE,
                     "Enable"]),
            ("force", ["call", names.BUS_NAME, names.profile_path(1), names.PROFILE_INTERFACE,
                       "ForceDisable"]),
        ):  # fmt: skip
            refused = busctl_as_nobody(address, *call)
            assert refused.returncode != 0, call
            # the daemon's refusal (naming the action), not the bus's "Rejected send"
            assert f"{names.BUS_NAME}.{action}" in refused.stderr, refused.stderr
    finally:
        daemon.terminate()
        assert await daemon.wait() == 0
        bus.terminate()
        bus.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


def unused_id() -> int:
    """A uid and gid no account has here, for a system user that exists only in a test."""
    taken = {entry.pw_uid for entry in pwd.getpwall()} | {entry.gr_gid for entry in grp.getgrall()}
    return next(n for n in range(60999, 60000, -1) if n not in taken)


def request_name_as(address: str, uid: int) -> subprocess.CompletedProcess[str]:
    """RequestName(BUS_NAME, DO_NOT_QUEUE) from a client running as ``uid``."""
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "busctl",
            f"--address={address}",
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "RequestName",
            "su",
            names.BUS_NAME,
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_only_the_service_user_and_root_may_own_the_name() -> None:
    """The unit runs the daemon as user sipprofiled: the policy lets that user own the name.

    dbus-daemon resolves the user names of a policy when it loads it, so it has to
    know a user sipprofiled. This machine need not have one: the bus runs in a mount
    namespace of its own where /etc/passwd is a copy with sipprofiled added, and the
    machine's accounts are left alone.
    """
    # Not in pytest's tmp_path, whose parent only root may enter.
    directory = Path(tempfile.mkdtemp(prefix="sipprofile-owner-"))
    directory.chmod(0o755)  # the unprivileged clients must reach the socket
    service_uid = unused_id()
    passwd = directory / "passwd"
    passwd.write_text(
        Path("/etc/passwd").read_text()
        + f"sipprofiled:x:{service_uid}:{service_uid}::/nonexistent:/usr/sbin/nologin\n"
    )
    socket = directory / "bus.sock"
    config = directory / "bus.conf"
    config.write_text(SYSTEM_LIKE.format(socket=socket, policy=POLICY))
    bus = subprocess.Popen(
        [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/passwd && exec dbus-daemon --config-file "$1" '
            "--nofork --print-address",
            str(passwd), str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert bus.stdout is not None and bus.stderr is not None
    try:
        address = bus.stdout.readline().decode().strip()
        assert address, bus.stderr.read().decode()
        os.chmod(socket, 0o777)
        nobody = request_name_as(address, 65534)
        assert nobody.returncode != 0
        assert "Access denied" in nobody.stderr or "AccessDenied" in nobody.stderr, nobody
        owner = request_name_as(address, service_uid)
        assert owner.returncode == 0, owner.stderr
        assert owner.stdout.split() == ["u", "1"]  # PRIMARY_OWNER
    finally:
        bus.terminate()
        bus.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)
