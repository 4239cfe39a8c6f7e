"""A private dbus-daemon: shared by the test fixtures, ``make bench`` and ``make demo``.

A session-type bus on a socket of our own, open to everyone on it, with limits raised
above the defaults so that large replies and many calls in flight are tested against
the daemon, not against the bus configuration.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_message_size">268435456</limit>
  <limit name="max_incoming_bytes">268435456</limit>
  <limit name="max_outgoing_bytes">268435456</limit>
  <limit name="max_replies_per_connection">50000</limit>
</busconfig>
"""


@dataclass
class PrivateBus:
    """A running dbus-daemon; ``address`` is what clients connect to."""

    address: str
    socket_path: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)


def start_bus(directory: Path, *, quiet: bool = False) -> PrivateBus:
    """Start a dbus-daemon listening on ``directory/bus.sock``."""
    socket = directory / "bus.sock"
    config = directory / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket))
    process = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    assert process.stdout is not None
    address = process.stdout.readline().decode().strip()
    if not address.startswith("unix:"):
        process.kill()
        raise RuntimeError(f"dbus-daemon did not start (it printed {address!r})")
    return PrivateBus(address, str(socket), process)


def daemon_command(address: str, database: Path, *extra: str) -> list[str]:
    """The real ``sipprofiled`` entry point on ``address``, as a subprocess runs it."""
    return [
        sys.executable, "-m", "sipprofile.server",
        "--address", address, "--database", str(database), *extra,
    ]  # fmt: skip
