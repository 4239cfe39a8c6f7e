"""``python -m bench.signals [N] [--rounds R]``: daemon CPU per registration's signals.

Why this exists: with 1000 profiles registering at once, announcing live status on
the bus was about 8-15 % of the daemon's CPU (py-spy, ``bench.registrations``). That
benchmark takes 15 s, needs Kamailio and mixes in SIP, sockets and SQLite; this one
isolates the announcing path so a change to it can be measured in a second or two.

What it does: a private dbus-daemon, a subscriber in a separate process (so its CPU
is not ours) that matches every signal under the registry path and counts them by
member (a raw socket reader: decoding with dbus-fast would take a core from the
daemon on a 2-core machine, and make the numbers noisier), and in this process a
``ProfileRegistry`` whose status changes go through an announcer on a real
``MessageBus`` connection. Per profile it replays what a registration does to
the registry, loop turn by loop turn, as ``server/engine/session.py`` does it:

- turn 1 (REGISTER sent): ``set_status(state="registering")``;
- turn 2 (200 OK): ``set_status(state="registered")``, then ``set_status`` of the
  binding fields (RegisteredAors, RegisteredContact, Expires, ...), then
  ``raise_event("registered")``.

CPU is ``time.process_time()`` of this process (every thread) from the first change
until the subscriber confirmed it received the round's signals (a marker event sent
last; every ``registered`` event must have arrived before it); waiting costs nothing.
Each round uses fresh profile ids. Modes, alternated round by round:

- ``floor``: the same loop turns and ``set_status`` calls with no announcer at all:
  what the registry and the event loop cost without the bus;
- ``legacy``: the announcer as it was before signals were coalesced (kept below,
  verbatim in behaviour): every ``set_status`` is one PropertiesChanged built from
  dbus-fast Variants of all status fields, every signal its own write;
- ``current``: ``server.bus.signals.Announcer``.

Reported (stdout and bench/results/signals.json): median µs per registration for
each mode, and each minus the floor (the announcing cost proper), the dbus-daemon's
CPU per registration (``schedstat``; fewer messages cost the bus less too), and the
signals the subscriber counted per registration. One unmeasured warm-up round first.
Single rounds vary by ±10 µs on the shared 2-core machine (the bus and the subscriber
compete for the same cores); the modes alternate so that drift hits all of them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.proto.busfix import harden
from sipprofile.server.bus.signals import Announcer
from sipprofile.server.bus.values import status_properties
from sipprofile.server.registry.events import DomainEvent, ProfileEventRaised, StatusChanged
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.store.database import Database
from sipprofile.server.types import load_types

from .harness import disconnect, private_bus, raw_subscription, workdir

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_N = 1000
DEFAULT_ROUNDS = 7
DONE = "bench-done"
MODES = ("floor", "legacy", "current")


# ------------------------------------------------------------------ the old announcer


class LegacyAnnouncer:
    """The status and event part of the announcer before coalescing (the reference)."""

    def __init__(self, bus: MessageBus, registry: ProfileRegistry) -> None:
        self.bus = bus
        self.registry = registry

    def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, StatusChanged):
            props = status_properties(self.registry.status(event.profile_id))  # all 8, as before
            changed = {n: props[n] for n in event.properties}
            self.bus.send(
                Message.new_signal(
                    names.profile_path(event.profile_id),
                    names.PROPERTIES_INTERFACE,
                    "PropertiesChanged",
                    "sa{sv}as",
                    [names.PROFILE_INTERFACE, changed, []],
                )
            )
        elif isinstance(event, ProfileEventRaised):
            self.bus.send(
                Message.new_signal(
                    names.REGISTRY_PATH,
                    names.REGISTRY_INTERFACE,
                    "ProfileEvent",
                    "ts",
                    [event.profile_id, event.event],
                )
            )


# ------------------------------------------------------------------ the subscriber


def subscriber(socket_path: str) -> None:
    """Count signals under the registry path; print the counts at each ``bench-done``.

    A raw socket reader that splits the stream into messages and looks only at the
    header's member name: decoding every body with dbus-fast would take a core's
    worth of CPU from the daemon being measured (the machine has two).
    """
    sock = raw_subscription(socket_path, f"type='signal',path_namespace='{names.REGISTRY_PATH}'")
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    counts: dict[str, int] = {}
    members = [b"PropertiesChanged", b"ProfileEvent", b"ProfileError"]
    pending = b""
    while chunk := sock.recv(1 << 20):
        pending += chunk
        at = 0
        while len(pending) - at >= 16:
            body_len, _serial, fields_len = struct.unpack_from("<III", pending, at + 4)
            header_len = 16 + fields_len + (-fields_len % 8)
            end = at + header_len + body_len
            if end > len(pending):
                break
            if pending[at + 1] == 4:  # a signal
                header = pending[at : at + header_len]
                if b"bench-done" in pending[at + header_len : end]:
                    out.write(json.dumps(counts) + "\n")
                    out.flush()
                    counts.clear()
                else:
                    for member in members:
                        if member in header:
                            key = member.decode()
                            counts[key] = counts.get(key, 0) + 1
                            break
            at = end
        pending = pending[at:]


# ------------------------------------------------------------------ the driver


async def replay(registry: ProfileRegistry, first_id: int, count: int) -> None:
    """What ``count`` registrations do to the registry, one loop turn at a time."""
    for pid in range(first_id, first_id + count):
        registry.set_status(pid, state="registering")
        await asyncio.sleep(0)
        registry.set_status(pid, state="registered")
        registry.set_status(
            pid,
            registered_aors=(f"sip:user{pid:06d}@example.com",),
            registered_contact=f"<sip:{pid:016x}@192.0.2.1:5060>;expires=3600",
            service_route=(),
            expires=3600,
            last_error=("", ""),
        )
        registry.raise_event(pid, names.Event.REGISTERED)
        await asyncio.sleep(0)


class Mode:
    """One way of announcing, on its own bus connection."""

    def __init__(self, name: str, db: Database, bus: MessageBus | None) -> None:
        self.name = name
        self.bus = bus
        self.registry = ProfileRegistry(db, load_types())
        if bus is not None:
            kind = LegacyAnnouncer if name == "legacy" else Announcer
            self.registry.subscribe(kind(bus, self.registry))


def run_time_s(pid: int) -> float:
    """CPU run time of a process's main thread (``schedstat``), seconds."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def run_round(
    mode: Mode, first_id: int, n: int, results: asyncio.StreamReader
) -> tuple[float, dict[str, int]]:
    """CPU seconds of one round, and what the subscriber counted."""
    started = time.process_time()
    await replay(mode.registry, first_id, n)
    if mode.bus is None:
        return time.process_time() - started, {}
    mode.registry.raise_event(0, DONE)
    line = await asyncio.wait_for(results.readline(), 60)
    spent = time.process_time() - started
    counts: dict[str, int] = json.loads(line)
    if counts.get("ProfileEvent") != n:
        raise RuntimeError(f"{mode.name}: the subscriber saw {counts} for {n} registrations")
    return spent, counts


async def bench(n: int, rounds: int) -> dict[str, Any]:
    with workdir() as tmp:
        work = Path(tmp)
        async with private_bus(work) as bus:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.signals",
                "--subscriber",
                bus.socket_path,
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            assert (await process.stdout.readline()).strip() == b"ready"
            db = await Database.open(work / "profiles.db")
            modes = []
            for name in MODES:
                connection = None
                if name != "floor":
                    connection = await MessageBus(bus_address=bus.address).connect()
                    harden(connection)
                modes.append(Mode(name, db, connection))
            cpu: dict[str, list[float]] = {m.name: [] for m in modes}
            bus_cpu: dict[str, list[float]] = {m.name: [] for m in modes}
            counted: dict[str, dict[str, int]] = {}
            next_id = 1
            for warm_up in [True] + [False] * rounds:
                for mode in modes:
                    bus_started = run_time_s(bus.process.pid)
                    spent, counts = await run_round(mode, next_id, n, process.stdout)
                    next_id += n
                    if warm_up:
                        continue
                    cpu[mode.name].append(spent)
                    bus_cpu[mode.name].append(run_time_s(bus.process.pid) - bus_started)
                    counted[mode.name] = counts
            for mode in modes:
                if mode.bus is not None:
                    await disconnect(mode.bus)
            await db.close()
            process.kill()
            await process.wait()
    us = {name: statistics.median(v) / n * 1e6 for name, v in cpu.items()}
    floor = us["floor"]
    return {
        "registrations_per_round": n,
        "rounds": rounds,
        "us_per_registration": {k: round(v, 1) for k, v in us.items()},
        "us_announcing_per_registration": {
            k: round(v - floor, 1) for k, v in us.items() if k != "floor"
        },
        "dbus_daemon_us_per_registration": {
            k: round(statistics.median(v) / n * 1e6, 1) for k, v in bus_cpu.items() if k != "floor"
        },
        "signals_per_registration": {
            name: {k: v / n for k, v in counts.items()} for name, counts in counted.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=DEFAULT_N)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--subscriber", metavar="SOCKET", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber(args.subscriber)
        return
    result = asyncio.run(bench(args.n, args.rounds))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "signals.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
