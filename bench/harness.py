"""Shared pieces of the benchmarks and the demo: a private bus, a filled database,
a daemon subprocess, and a raw D-Bus client that times replies without parsing them."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shlex
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from sipprofile.proto.names import BUS_NAME
from sipprofile.server.registry.model import ProfileSettings, ServerSettings
from sipprofile.server.store import profiles as store
from sipprofile.server.store.database import Database


def load_test_module(name: str) -> Any:
    """A helper module from tests/ (private bus, Kamailio), loaded by path.

    The benchmarks and the demo start the same real peers as the tests do; the code
    that starts them lives once, beside the tests.
    """
    full = f"sipprofile_tests_{name}"
    if full in sys.modules:
        return sys.modules[full]
    path = Path(__file__).resolve().parents[1] / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(full, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def private_bus(workdir: Path) -> AsyncIterator[Any]:
    """A dbus-daemon of our own (``address``, ``socket_path``), stopped on exit."""
    bus = load_test_module("privatebus").start_bus(workdir, quiet=True)
    try:
        yield bus
    finally:
        bus.stop()


async def fill_database(path: Path, count: int) -> None:
    """``count`` realistic profiles written straight through the repository."""
    db = await Database.open(path)

    def fill(conn: sqlite3.Connection) -> None:
        for n in range(1, count + 1):
            settings = ProfileSettings(
                type="IETF" if n % 10 else "ims",
                aor=f"sip:user{n:06d}@example.com",
                provider_name=f"Trunk {n}",
                registrar=ServerSettings("sip:registrar.example.com", f"user{n:06d}", "", True),
                auto_registration=n % 2 == 0,
                default=n == 1,
            )
            pid = store.insert(conn, settings, f"sip:user{n:06d}@example.com", f"{n:016x}")
            store.set_passwords(conn, pid, {"registrar": f"pass{n:06d}"})

    await db.write(fill)
    await db.close()


async def disconnect(bus: MessageBus) -> None:
    """Close a connection and collect its end, so nothing is left unretrieved."""
    bus.disconnect()
    with suppress(Exception):
        await bus.wait_for_disconnect()


def daemon_command(address: str, database: Path) -> list[str]:
    """sipprofiled as the tests run it, quieter.

    ``SIPPROFILED_WRAP`` is a command line put in front (``perf stat --``). With
    ``SIPPROFILED_CPROFILE=FILE`` in the environment the daemon runs under cProfile
    and writes its statistics to FILE when it exits: exact call counts per
    registration are what tell where the interpreter's time goes, which a sampling
    profiler at this rate cannot.
    """
    command: list[str] = load_test_module("privatebus").daemon_command(
        address, database, "--log-level", "warning"
    )
    stats = os.environ.get("SIPPROFILED_CPROFILE")
    if stats:
        command[1:1] = ["-m", "cProfile", "-o", stats]
    wrapper = os.environ.get("SIPPROFILED_WRAP")  # e.g. "py-spy record -o FILE --"
    if wrapper:
        command[0:0] = shlex.split(wrapper)
    return command


async def start_daemon(address: str, database: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start sipprofiled; returns it and the seconds until it owned its bus name."""
    watcher = await MessageBus(bus_address=address).connect()
    owned = asyncio.Event()

    def on_message(msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.member == "NameOwnerChanged"
            and msg.body[0] == BUS_NAME
            and msg.body[2]
        ):
            owned.set()

    watcher.add_message_handler(on_message)
    await watcher.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="AddMatch",
            signature="s",
            body=[f"type='signal',member='NameOwnerChanged',arg0='{BUS_NAME}'"],
        )
    )
    started = time.perf_counter()
    process = subprocess.Popen(daemon_command(address, database))
    await asyncio.wait_for(owned.wait(), 30)
    elapsed = time.perf_counter() - started
    await disconnect(watcher)
    return process, elapsed


def stop_daemon(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=15)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class RawClient:
    """A minimal blocking D-Bus client: authenticates, says Hello, and times one call
    from the first byte sent to the last byte of the reply, without decoding it."""

    def __init__(self, socket_path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(socket_path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        assert self.sock.recv(4096).startswith(b"OK")
        self.sock.sendall(b"BEGIN\r\n")
        self.serial = 0
        self.pending = b""
        self.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="Hello",
            )
        )

    def _read_message(self) -> tuple[int, int, int]:
        """Read one whole message; returns (type, reply_serial-or-0, total length)."""
        while len(self.pending) < 16:
            self.pending += self.sock.recv(1 << 20)
        body_len, _serial, fields_len = struct.unpack_from("<III", self.pending, 4)
        header_len = 16 + fields_len + (-fields_len % 8)
        total = header_len + body_len
        chunks = [self.pending]
        have = len(self.pending)
        while have < total:
            chunk = self.sock.recv(max(1 << 20, total - have))
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        message, self.pending = data[:total], data[total:]
        kind = message[1]
        reply_serial = 0
        offset = 16
        while offset < 16 + fields_len:
            offset += -offset % 8
            code = message[offset]
            sig_len = message[offset + 1]
            sig = message[offset + 2 : offset + 2 + sig_len]
            offset += 3 + sig_len
            if sig == b"u":
                offset += -offset % 4
                if code == 5:
                    reply_serial = struct.unpack_from("<I", message, offset)[0]
                offset += 4
            elif sig in (b"s", b"o"):
                offset += -offset % 4
                offset += 4 + struct.unpack_from("<I", message, offset)[0] + 1
            elif sig == b"g":
                offset += 1 + message[offset] + 1
            else:
                break
        return kind, reply_serial, total

    def call(self, msg: Message) -> tuple[float, int]:
        """Seconds from send to the reply's last byte, and the reply's size."""
        self.serial += 1
        msg.serial = self.serial
        data = bytes(msg._marshall(False))
        started = time.perf_counter()
        self.sock.sendall(data)
        while True:
            kind, reply_serial, size = self._read_message()
            if kind in (2, 3) and reply_serial == self.serial:
                if kind == 3:
                    raise RuntimeError("call failed")
                return time.perf_counter() - started, size

    def close(self) -> None:
        self.sock.close()


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="sipprofiled-bench-")


def sched_cpu_s(pid: int) -> float:
    """Run time of a process's live threads from schedstat (ns precision), seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


def raw_subscription(socket_path: str, match_rule: str) -> socket.socket:
    """A bus connection without a library, for subscribers that must cost little CPU.

    EXTERNAL authentication, then ``Hello`` (serial 1) and one ``AddMatch`` of
    ``match_rule`` (serial 2) sent; their replies are left for the caller to read.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    answer = sock.recv(4096)
    if not answer.startswith(b"OK"):
        raise RuntimeError(f"authentication refused: {answer!r}")
    sock.sendall(b"BEGIN\r\n")
    bus = "org.freedesktop.DBus"
    calls = [
        Message(destination=bus, path="/org/freedesktop/DBus", interface=bus, member="Hello"),
        Message(
            destination=bus,
            path="/org/freedesktop/DBus",
            interface=bus,
            member="AddMatch",
            signature="s",
            body=[match_rule],
        ),
    ]
    for serial, msg in enumerate(calls, start=1):
        msg.serial = serial
        sock.sendall(bytes(msg._marshall(False)))
    return sock
