"""The shipped system-bus policy, loaded by a real dbus-daemon: who may do what."""

from __future__ import annotations

import asyncio
import os
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


async def test_policy_lets_users_read_and_only_root_write() -> None:
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
        *daemon_command(address, directory / "state" / "profiles.db")
    )
    try:
        await wait_for_name(address)
        os.chmod(socket, 0o777)
        root = subprocess.run(
            [
                "busctl",
                f"--address={address}",
                "call",
                names.BUS_NAME,
                names.REGISTRY_PATH,
                names.REGISTRY_INTERFACE,
                "CreateProfile",
                "a{sv}",
                "1",
                "Aor",
                "s",
                "sip:alice@example.com",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert root.returncode == 0, root.stderr
        listed = busctl_as_nobody(
            address,
            "call",
            names.BUS_NAME,
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            "ListProfiles",
        )
        assert listed.returncode == 0, listed.stderr
        assert names.profile_path(1) in listed.stdout
        got = busctl_as_nobody(
            address,
            "get-property",
            names.BUS_NAME,
            names.profile_path(1),
            names.PROFILE_INTERFACE,
            "Aor",
        )
        assert "sip:alice@example.com" in got.stdout
        enabled = busctl_as_nobody(
            address,
            "call",
            names.BUS_NAME,
            names.profile_path(1),
            names.PROFILE_INTERFACE,
            "Enable",
        )
        assert enabled.returncode == 0, enabled.stderr
        for call in (
            [
                "call",
                names.BUS_NAME,
                names.profile_path(1),
                names.PROFILE_INTERFACE,
                "ForceDisable",
            ],
            [
                "call",
                names.BUS_NAME,
                names.REGISTRY_PATH,
                names.REGISTRY_INTERFACE,
                "CreateProfile",
                "a{sv}",
                "1",
                "Aor",
                "s",
                "sip:mallory@example.com",
            ],
            ["call", names.BUS_NAME, names.profile_path(1), names.PROFILE_INTERFACE, "Delete"],
            [
                "set-property",
                names.BUS_NAME,
                names.profile_path(1),
                names.PROFILE_INTERFACE,
                "ProviderName",
                "s",
                "pwned",
            ],
        ):
            denied = busctl_as_nobody(address, *call)
            assert denied.returncode != 0, call
            assert "Access denied" in denied.stderr or "AccessDenied" in denied.stderr, denied
    finally:
        daemon.terminate()
        assert await daemon.wait() == 0
        bus.terminate()
        bus.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)
