"""Shared fixtures: a private dbus-daemon per test session, sipprofiled per test.

Everything is real: the bus is a dbus-daemon process on a socket in a temporary
directory, the daemon is the real one (in-process, or as a subprocess where a test
needs process-level behaviour), and databases are files.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kamailio.fixtures import kamailio, kamailio_factory, kamailio_tls  # noqa: F401
from privatebus import PrivateBus, daemon_command, start_bus

from sipprofile.proto.names import BUS_NAME
from sipprofile.server.daemon import Daemon, Options


@pytest.fixture(scope="session")
def private_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBus]:
    if shutil.which("dbus-daemon") is None:
        pytest.fail("dbus-daemon is not installed: run `make test`, which installs it")
    bus = start_bus(tmp_path_factory.mktemp("bus"))
    yield bus
    bus.stop()


@pytest.fixture(scope="session")
def dbus_address(private_bus: PrivateBus) -> str:
    return private_bus.address


@dataclass
class RunningDaemon:
    """An in-process sipprofiled for one test."""

    address: str
    db_path: Path
    daemon: Daemon
    extra: dict[str, object] = field(default_factory=dict)


@pytest.fixture
async def daemon(dbus_address: str, tmp_path: Path) -> AsyncIterator[RunningDaemon]:
    db_path = tmp_path / "state" / "profiles.db"
    instance = Daemon(Options(bus="address", address=dbus_address, database=db_path))
    await instance.start()
    try:
        yield RunningDaemon(dbus_address, db_path, instance)
    finally:
        await instance.close()


@pytest.fixture
async def registry(daemon: RunningDaemon) -> AsyncIterator[object]:
    from sipprofile.client import Registry

    client = await Registry.connect(address=daemon.address)
    try:
        yield client
    finally:
        await client.aclose()


async def wait_for_name(address: str, timeout: float = 10.0) -> None:
    """Poll the bus until the daemon owns its name."""
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_address=address).connect()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            reply = await bus.call(
                __import__("dbus_fast").Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=[BUS_NAME],
                )
            )
            if reply is not None and reply.body[0]:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{BUS_NAME} did not appear on the bus")
    finally:
        bus.disconnect()


@dataclass
class DaemonProcess:
    """sipprofiled as a subprocess."""

    process: asyncio.subprocess.Process
    db_path: Path
    address: str

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)


@pytest.fixture
async def daemon_process(dbus_address: str, tmp_path: Path) -> AsyncIterator[DaemonProcess]:
    db_path = tmp_path / "proc-state" / "profiles.db"
    process = await asyncio.create_subprocess_exec(
        *daemon_command(dbus_address, db_path),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    await wait_for_name(dbus_address)
    handle = DaemonProcess(process, db_path, dbus_address)
    try:
        yield handle
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
