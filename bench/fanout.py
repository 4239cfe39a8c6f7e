"""``python -m bench.fanout [--clients 100] [--registrations 1000] [--rate 100]``: fan-out.

The issue's target (issue 7): with 100 subscribed clients on the bus, the 95th
percentile from the registrar's 200 OK to the ``registered`` signal reaching every
client is at most 10 ms. That is the latency an application sees between the network
saying "registered" and being told so, when many applications watch the daemon.

What it does: a private dbus-daemon and the real sipprofiled (on this interpreter,
so ``PYTHONPATH`` chooses the build, as in the other benchmarks), and in this process
a scripted UDP registrar on 127.0.0.1 that answers every REGISTER at once with 200 OK
(Via, From, To with a tag, Call-ID, CSeq copied; Contact with ``;expires=`` the
request's Expires or 3600; none for an Expires: 0), stamping ``time.monotonic()``
right before sending the 200 that completes each registration, by Call-ID. The
profiles (``sip:fanNNNN@example.com``, no password, so no challenge;
AutoRegistration off, so nothing registers at start) are made in one
``ImportProfiles`` call, before the subscribers connect. The clients are
``bench.fanout_subscriber`` processes (4 by default, the connections spread over
them, so their CPU is not ours), each connection subscribed to the daemon's
``ProfileEvent`` and stamping every ``registered`` event with ``time.monotonic()``
(CLOCK_MONOTONIC: one clock for every process of the machine) as it is read.

Then one ordinary dbus-fast connection here calls ``Enable`` on one profile after the
other, ``--rate`` a second, evenly spaced: each first Enable sends one REGISTER, which
gets one 200 OK, which gives one ``ProfileEvent(id, "registered")``. The profile of a
Call-ID is known from the AOR in the From of its first REGISTER.

Per registration: latency = the last arrival among all clients minus the 200 OK's
send time. Reported (stdout and bench/results/fanout.json): its p50/p95/p99/max, the
p95 of every single arrival, the first arrival (the daemon's own path: receive and
handle the 200, write the signal, dbus-daemon routes it) and the spread between first
and last client (dbus-daemon's fan-out and the clients' wake-ups), and the CPU
(``schedstat``) of dbus-daemon, sipprofiled, the subscribers and this process while
driving. Exit status 1 when any client missed a signal or a registration did not
complete; the verdict on the target is printed and stored (``met``). About 11 s at
the defaults. More than about 250 clients exceed dbus-daemon's default
``max_connections_per_user`` (256), which the private bus's configuration keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.server.sip import compiled

from .harness import disconnect, private_bus, sched_cpu_s, start_daemon, stop_daemon, workdir

RESULTS: Final = Path(__file__).resolve().parent / "results"
TARGET_P95_MS: Final = 10.0
DEFAULT_CLIENTS: Final = 100
DEFAULT_REGISTRATIONS: Final = 1000
DEFAULT_RATE: Final = 100.0
#: Subscriber processes; the connections are spread over them.
SUBSCRIBER_PROCESSES: Final = 4
#: How long after the last Enable the last 200 OK may take.
COMPLETE_TIMEOUT_S: Final = 5.0
#: Longest wait for the reply to one call (ImportProfiles, Enable) before giving up.
CALL_TIMEOUT_S: Final = 30.0
BUILD: Final = "SIP core compiled (mypyc)" if compiled() else "SIP core in pure Python"
DOMAIN: Final = "example.com"

# ------------------------------------------------------------------ the registrar

_COMPACT: Final = {
    b"v": b"via",
    b"f": b"from",
    b"t": b"to",
    b"i": b"call-id",
    b"m": b"contact",
}


def aor_of(name_addr: bytes) -> bytes:
    """``sip:user@host`` of a From or To value such as ``<sip:user@host>;tag=x``."""
    start = name_addr.find(b"<")
    if start < 0:
        return name_addr.split(b";", 1)[0].strip()
    return name_addr[start + 1 : name_addr.index(b">", start)]


@dataclass
class Registrar(asyncio.DatagramProtocol):
    """Answers every REGISTER at once with 200 OK; times the registering ones."""

    #: Call-ID -> time.monotonic() right before sending the 200 that completed it.
    completed: dict[bytes, float] = field(default_factory=dict)
    #: Call-ID -> the AOR its first REGISTER named.
    aor_of_call: dict[bytes, bytes] = field(default_factory=dict)
    registers: int = 0
    deregisters: int = 0
    #: REGISTERs with an expiry for a Call-ID that had completed already.
    repeated: int = 0
    malformed: int = 0
    transport: asyncio.DatagramTransport | None = None
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        head = data.split(b"\r\n\r\n", 1)[0]
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"REGISTER "):
            self.malformed += 1
            return
        vias: list[bytes] = []
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            key = _COMPACT.get(key, key)
            value = value.strip()
            if key == b"via":
                vias.append(value)
            else:
                fields.setdefault(key, value)
        call_id = fields.get(b"call-id")
        if call_id is None or not vias or b"cseq" not in fields:
            self.malformed += 1
            return
        expires_text = fields.get(b"expires", b"").strip()
        expires = int(expires_text) if expires_text.isdigit() else 3600
        to = fields.get(b"to", b"")
        if b";tag=" not in to:
            to += b";tag=" + secrets.token_hex(4).encode()
        out = [b"SIP/2.0 200 OK"]
        out += [b"Via: " + via for via in vias]
        out += [
            b"From: " + fields.get(b"from", b""),
            b"To: " + to,
            b"Call-ID: " + call_id,
            b"CSeq: " + fields[b"cseq"],
        ]
        completes = False
        if expires > 0:
            self.registers += 1
            out.append(b"Contact: " + fields.get(b"contact", b"") + b";expires=%d" % expires)
            if call_id in self.completed:
                self.repeated += 1
            else:
                completes = True
                self.aor_of_call[call_id] = aor_of(fields.get(b"from", b""))
        else:
            self.deregisters += 1
        out += [b"Content-Length: 0", b"", b""]
        response = b"\r\n".join(out)
        assert self.transport is not None
        if completes:
            self.completed[call_id] = time.monotonic()
        self.transport.sendto(response, addr)
        if completes and len(self.completed) >= self.expected:
            self.all_done.set()


# ------------------------------------------------------------------ subscribers


@dataclass
class SubscriberProcess:
    process: asyncio.subprocess.Process
    connections: int


async def start_subscribers(
    socket_path: str, clients: int, processes: int
) -> list[SubscriberProcess]:
    """``clients`` connections over ``processes`` processes, each subscribed when returned."""
    counts = [clients // processes + (i < clients % processes) for i in range(processes)]
    started = []
    for count in counts:
        if count == 0:
            continue
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fanout_subscriber",
            socket_path,
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        started.append(SubscriberProcess(process, count))
    for sub in started:
        assert sub.process.stdout is not None
        line = await asyncio.wait_for(sub.process.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"a subscriber process did not start (it said {line!r})")
    return started


async def finish_subscribers(
    subscribers: Sequence[SubscriberProcess], expected: int
) -> list[list[tuple[int, float]]]:
    """Every connection's ``(profile id, arrival)`` list, once each saw ``expected``."""

    async def finish(sub: SubscriberProcess) -> list[list[tuple[int, float]]]:
        process = sub.process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(f"finish {expected}\n".encode())
        await process.stdin.drain()
        data = await asyncio.wait_for(process.stdout.read(), 60)
        await process.wait()
        if process.returncode != 0 or not data:
            raise RuntimeError(f"a subscriber process failed (exit {process.returncode})")
        return [[(int(i), float(t)) for i, t in conn] for conn in json.loads(data)]

    per_process = await asyncio.gather(*(finish(sub) for sub in subscribers))
    return [conn for connections in per_process for conn in connections]


# ------------------------------------------------------------------ the daemon side


async def import_profiles(bus: MessageBus, port: int, count: int) -> dict[bytes, int]:
    """``count`` when-needed UDP profiles at the registrar; AOR -> profile id."""
    uri = f"sip:127.0.0.1:{port}"
    aors = [f"sip:fan{n:04d}@{DOMAIN}" for n in range(1, count + 1)]
    profiles = [
        {
            "Aor": Variant("s", aor),
            "ProviderName": Variant("s", f"Fan-out {n}"),
            "AutoRegistration": Variant("b", False),
            "Registrar": Variant("a{sv}", {"Uri": Variant("s", uri)}),
        }
        for n, aor in enumerate(aors, start=1)
    ]
    call = Message(
        destination=names.BUS_NAME,
        path=names.REGISTRY_PATH,
        interface=names.REGISTRY_INTERFACE,
        member="ImportProfiles",
        signature="aa{sv}",
        body=[profiles],
    )
    reply = await asyncio.wait_for(bus.call(call), CALL_TIMEOUT_S)
    assert reply is not None
    if reply.message_type is not MessageType.METHOD_RETURN:
        raise RuntimeError(f"ImportProfiles failed: {reply.error_name}: {reply.body}")
    ids = [names.profile_id_from_path(path) for path in reply.body[0]]
    return {aor.encode(): pid for aor, pid in zip(aors, ids, strict=True) if pid is not None}


async def drive(bus: MessageBus, profile_ids: Sequence[int], rate: float) -> float:
    """Enable each profile in turn, ``rate`` a second, evenly spaced; seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n, pid in enumerate(profile_ids):
        delay = started + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        call = Message(
            destination=names.BUS_NAME,
            path=names.profile_path(pid),
            interface=names.PROFILE_INTERFACE,
            member="Enable",
        )
        reply = await asyncio.wait_for(bus.call(call), CALL_TIMEOUT_S)
        assert reply is not None
        if reply.message_type is not MessageType.METHOD_RETURN:
            raise RuntimeError(f"Enable of profile {pid} failed: {reply.error_name}: {reply.body}")
    return loop.time() - started


def cpu_snapshot(pids: dict[str, Sequence[int]]) -> dict[str, float]:
    snapshot: dict[str, float] = {}
    for name, group in pids.items():
        total = 0.0
        for pid in group:
            try:
                total += sched_cpu_s(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        snapshot[name] = total
    return snapshot


# ------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values: Sequence[float], prefix: str) -> dict[str, float | None]:
    """p50/p95/p99/max of seconds, in ms, as ``{prefix}_p95_ms`` and so on (None: no data)."""
    if not values:
        return {f"{prefix}_{name}_ms": None for name in ("p50", "p95", "p99", "max")}
    out: dict[str, float | None] = {
        f"{prefix}_p{q}_ms": round(percentile(values, q) * 1e3, 3) for q in (50, 95, 99)
    }
    out[f"{prefix}_max_ms"] = round(max(values) * 1e3, 3)
    return out


# ------------------------------------------------------------------ the run


@dataclass
class Measured:
    """What one run observed, before any statistics."""

    profile_of_aor: dict[bytes, int]
    #: Per client connection, ``(profile id, time.monotonic())`` of each ``registered``.
    arrivals: list[list[tuple[int, float]]]
    drive_s: float
    #: CPU seconds (schedstat) while driving, by process group.
    cpu: dict[str, float]


async def measure(
    bus: Any,
    daemon_pid: int,
    registrar: Registrar,
    port: int,
    clients: int,
    registrations: int,
    rate: float,
    processes: int,
) -> Measured:
    """Profiles, subscribers, then the paced Enables; the subscribers' arrivals."""
    driver = await MessageBus(bus_address=bus.address).connect()
    subscribers: list[SubscriberProcess] = []
    try:
        profile_of_aor = await import_profiles(driver, port, registrations)
        subscribers = await start_subscribers(bus.socket_path, clients, processes)
        pids: dict[str, Sequence[int]] = {
            "dbus_daemon": [bus.process.pid],
            "sipprofiled": [daemon_pid],
            "subscribers": [sub.process.pid for sub in subscribers],
            "bench": [os.getpid()],
        }
        cpu0 = cpu_snapshot(pids)
        drive_s = await drive(driver, list(profile_of_aor.values()), rate)
        with suppress(TimeoutError):  # what did not complete is reported, not raised
            await asyncio.wait_for(registrar.all_done.wait(), COMPLETE_TIMEOUT_S)
        cpu1 = cpu_snapshot(pids)
        arrivals = await finish_subscribers(subscribers, len(registrar.completed))
        cpu = {name: cpu1[name] - cpu0[name] for name in cpu0}
        return Measured(profile_of_aor, arrivals, drive_s, cpu)
    finally:
        for sub in subscribers:
            if sub.process.returncode is None:
                sub.process.kill()
                await sub.process.wait()
        await disconnect(driver)


async def run(
    clients: int = DEFAULT_CLIENTS,
    registrations: int = DEFAULT_REGISTRATIONS,
    rate: float = DEFAULT_RATE,
    processes: int = SUBSCRIBER_PROCESSES,
) -> dict[str, Any]:
    """The whole benchmark; the results, keys with their units in their names."""
    loop = asyncio.get_running_loop()
    registrar = Registrar(expected=registrations)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: registrar, local_addr=("127.0.0.1", 0)
    )
    port: int = transport.get_extra_info("sockname")[1]
    try:
        with workdir() as tmp:
            work = Path(tmp)
            async with private_bus(work) as bus:
                daemon, _ = await start_daemon(bus.address, work / "profiles.db")
                try:
                    measured = await measure(
                        bus, daemon.pid, registrar, port, clients, registrations, rate, processes
                    )
                finally:
                    # it deregisters everything as it stops: this loop must keep answering
                    exit_status = await asyncio.to_thread(stop_daemon, daemon)
    finally:
        transport.close()
    return analyse(
        registrar,
        measured,
        clients=clients,
        registrations=registrations,
        rate=rate,
        processes=processes,
        daemon_exit_status=exit_status,
    )


def analyse(
    registrar: Registrar,
    measured: Measured,
    *,
    clients: int,
    registrations: int,
    rate: float,
    processes: int,
    daemon_exit_status: int,
) -> dict[str, Any]:
    """Latencies per registration and per arrival, counts and CPU, as the result."""
    profile_of_aor = measured.profile_of_aor
    sent: dict[int, float] = {}  # profile id -> 200 OK sent
    for call_id, at in registrar.completed.items():
        pid = profile_of_aor.get(registrar.aor_of_call[call_id])
        if pid is not None:
            sent[pid] = at
    by_client: list[dict[int, float]] = []
    duplicates = 0
    for conn in measured.arrivals:
        first: dict[int, float] = {}
        for pid, at in conn:
            if pid in first:
                duplicates += 1
            else:
                first[pid] = at
        by_client.append(first)
    last: list[float] = []
    first_arrival: list[float] = []
    spread: list[float] = []
    every: list[float] = []
    missed = 0
    for pid, at in sent.items():
        times = [client[pid] for client in by_client if pid in client]
        missed += len(by_client) - len(times)
        if not times:
            continue
        every += [t - at for t in times]
        if len(times) == len(by_client):  # a registration counts once every client saw it
            last.append(max(times) - at)
            first_arrival.append(min(times) - at)
            spread.append(max(times) - min(times))
    latency = summary_ms(last, "latency")
    p95_ms = latency["latency_p95_ms"]
    met = (
        missed == 0
        and len(by_client) == clients
        and len(sent) == registrations
        and p95_ms is not None
        and p95_ms <= TARGET_P95_MS
    )
    result: dict[str, Any] = {
        "build": BUILD,
        "clients": len(by_client),
        "subscriber_processes": processes,
        "registrations": registrations,
        "rate_per_s": rate,
        "target_p95_ms": TARGET_P95_MS,
        "met": met,
        "measured_registrations": len(last),
        "completed_registrations": len(sent),
        "missed_arrivals": missed,
        "duplicate_arrivals": duplicates,
        **{key.removeprefix("latency_"): value for key, value in latency.items()},
        "mean_ms": round(statistics.fmean(last) * 1e3, 3) if last else None,
        **summary_ms(every, "per_client_arrival"),
        **summary_ms(first_arrival, "first_client"),
        **summary_ms(spread, "first_to_last_client"),
        "drive_s": round(measured.drive_s, 3),
        "register_requests": registrar.registers,
        "repeated_register_requests": registrar.repeated,
        "deregister_requests_at_end": registrar.deregisters,
        "malformed_datagrams": registrar.malformed,
        "daemon_exit_status": daemon_exit_status,
    }
    for name, seconds in measured.cpu.items():
        result[f"cpu_{name}_s"] = round(seconds, 3)
        result[f"cpu_{name}_us_per_registration"] = round(seconds / max(len(sent), 1) * 1e6, 1)
    return result


def report(result: dict[str, Any]) -> None:
    print(
        f"fan-out: {result['clients']} clients, {result['measured_registrations']} of "
        f"{result['registrations']} registrations measured at {result['rate_per_s']:g}/s "
        f"({result['build']})"
    )
    if result["measured_registrations"]:
        verdict = "met" if result["met"] else "MISSED"
        print("200 OK sent -> 'registered' at every client:")
        print(
            f"  p50 {result['p50_ms']:.2f} ms  p95 {result['p95_ms']:.2f} ms  "
            f"p99 {result['p99_ms']:.2f} ms  max {result['max_ms']:.2f} ms"
            f"   target p95 <= {result['target_p95_ms']:g} ms: {verdict}"
        )
        for label, prefix in (
            ("each single arrival", "per_client_arrival"),
            ("at the first client", "first_client"),
            ("first -> last client", "first_to_last_client"),
        ):
            print(
                f"  {label:22} p50 {result[prefix + '_p50_ms']:.2f} ms  "
                f"p95 {result[prefix + '_p95_ms']:.2f} ms  max {result[prefix + '_max_ms']:.2f} ms"
            )
    else:
        print("no registration reached every client: nothing measured; target MISSED")
    print(
        f"completed registrations {result['completed_registrations']}, missed arrivals "
        f"{result['missed_arrivals']}, duplicates {result['duplicate_arrivals']}; REGISTERs "
        f"{result['register_requests']} (repeated {result['repeated_register_requests']}), "
        f"un-REGISTERs at the end {result['deregister_requests_at_end']}"
    )
    cpu = ", ".join(
        f"{name} {result.get(f'cpu_{name}_us_per_registration', float('nan')):.0f} us"
        for name in ("sipprofiled", "dbus_daemon", "subscribers", "bench")
    )
    print(f"CPU per registration while driving ({result['drive_s']:.1f} s): {cpu}")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument("--registrations", type=int, default=DEFAULT_REGISTRATIONS)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="Enables per second")
    parser.add_argument(
        "--processes", type=int, default=SUBSCRIBER_PROCESSES, help="subscriber processes"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(run(args.clients, args.registrations, args.rate, args.processes))
    result["bench_s"] = round(time.perf_counter() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / "fanout.json"
    output.write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"benchmark took {result['bench_s']:.1f} s; results in {output}")
    complete = (
        result["missed_arrivals"] == 0
        and result["completed_registrations"] == result["registrations"]
        and result["clients"] == args.clients
    )
    if not complete:
        print("FAILED: a registration did not complete or a client missed a signal")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
