"""``make bench``: the registry's timing and memory targets (issue 2), measured here.

Each number is measured against a floor or peer in the same run where one exists:
CreateProfile against a no-op call (Peer.Ping, answered by the same daemon on the same
bus). Results go to stdout and to bench/results/registry.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names

from . import noop_service
from .harness import (
    RawClient,
    disconnect,
    fill_database,
    private_bus,
    rss_kib,
    start_daemon,
    stop_daemon,
    workdir,
)

PROFILES = 10_000
RESULTS = Path(__file__).resolve().parent / "results"


def managed_objects_call() -> Message:
    return Message(
        destination=names.BUS_NAME,
        path=names.REGISTRY_PATH,
        interface=names.OBJECT_MANAGER_INTERFACE,
        member="GetManagedObjects",
    )


async def bench_start_and_memory(
    bus_address: str, socket_path: str, work: Path
) -> dict[str, float]:
    empty = work / "empty.db"
    full = work / "full.db"
    await fill_database(full, PROFILES)
    # an empty database, created by a first start
    process, _ = await start_daemon(bus_address, empty)
    stop_daemon(process)

    starts = []
    for _ in range(5):
        process, elapsed = await start_daemon(bus_address, full)
        starts.append(elapsed)
        stop_daemon(process)

    process, _ = await start_daemon(bus_address, empty)
    await asyncio.sleep(0.5)
    rss_empty = rss_kib(process.pid)
    stop_daemon(process)

    process, _ = await start_daemon(bus_address, full)
    await asyncio.sleep(0.5)
    rss_full = rss_kib(process.pid)

    client = RawClient(socket_path)
    timings, size = [], 0
    for _ in range(7):
        elapsed, size = client.call(managed_objects_call())
        timings.append(elapsed)
    client.close()
    rss_after = rss_kib(process.pid)

    parse = []
    bus = await MessageBus(bus_address=bus_address).connect()
    for _ in range(3):
        started = time.perf_counter()
        reply = await bus.call(managed_objects_call())
        parse.append(time.perf_counter() - started)
        assert reply is not None
        assert len(reply.body[0]) == PROFILES
    await disconnect(bus)
    await asyncio.sleep(1.5)  # the daemon trims its heap a second after a bulk reply
    rss_trimmed = rss_kib(process.pid)
    stop_daemon(process)
    return {
        "rss_kib_10k_1s_after_getmanagedobjects": rss_trimmed,
        "start_s_median": statistics.median(starts),
        "start_s_max": max(starts),
        "rss_kib_empty": rss_empty,
        "rss_kib_10k": rss_full,
        "rss_kib_10k_after_getmanagedobjects": rss_after,
        "bytes_per_profile_idle": (rss_full - rss_empty) * 1024 / PROFILES,
        "getmanagedobjects_s_median": statistics.median(timings),
        "getmanagedobjects_s_min": min(timings),
        "getmanagedobjects_reply_bytes": size,
        "getmanagedobjects_with_dbus_fast_parse_s_median": statistics.median(parse),
    }


async def bench_create(bus_address: str, work: Path, rounds: int = 1000) -> dict[str, float]:
    process, _ = await start_daemon(bus_address, work / "create.db")
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench.noop_service", bus_address], stdout=subprocess.PIPE
    )
    assert floor.stdout is not None
    assert floor.stdout.readline().strip() == b"ready"
    bus = await MessageBus(bus_address=bus_address).connect()
    ping = Message(
        destination=names.BUS_NAME,
        path=names.REGISTRY_PATH,
        interface=names.PEER_INTERFACE,
        member="Ping",
    )
    noop = Message(
        destination=noop_service.NAME,
        path=noop_service.PATH,
        interface=noop_service.INTERFACE,
        member="Noop",
    )
    for _ in range(50):  # warm up every path
        await bus.call(ping)
        await bus.call(noop)
    pings, noops, creates = [], [], []
    for n in range(rounds):
        started = time.perf_counter()
        await bus.call(ping)
        pings.append(time.perf_counter() - started)
        started = time.perf_counter()
        await bus.call(noop)
        noops.append(time.perf_counter() - started)
        call = Message(
            destination=names.BUS_NAME,
            path=names.REGISTRY_PATH,
            interface=names.REGISTRY_INTERFACE,
            member="CreateProfile",
            signature="a{sv}",
            body=[
                {
                    "Aor": Variant("s", f"sip:u{n}@example.com"),
                    "Registrar": Variant(
                        "a{sv}",
                        {"Uri": Variant("s", "sip:example.com"), "Password": Variant("s", "pw")},
                    ),
                }
            ],
        )
        started = time.perf_counter()
        reply = await bus.call(call)
        creates.append(time.perf_counter() - started)
        assert reply is not None and reply.signature == "o", reply
    await disconnect(bus)
    floor.terminate()
    floor.wait()
    stop_daemon(process)
    create_median = statistics.median(creates)
    return {
        "ping_s_median": statistics.median(pings),
        "noop_method_s_median": statistics.median(noops),
        "create_s_median": create_median,
        "create_s_p95": sorted(creates)[int(rounds * 0.95)],
        "create_over_noop_method": create_median / statistics.median(noops),
        "create_over_ping": create_median / statistics.median(pings),
    }


async def bench_store_hop(work: Path, rounds: int = 3000) -> dict[str, float]:
    """What one job on aiosqlite's thread costs, empty and as a CreateProfile-sized
    write: the part of a write call's latency that the store's design decides."""
    from sipprofile.server.registry.model import ProfileSettings
    from sipprofile.server.store import profiles as store
    from sipprofile.server.store.database import Database

    db = await Database.open(work / "hop.db")
    started = time.perf_counter()
    for _ in range(rounds):
        await db.run(lambda conn: None)
    empty = (time.perf_counter() - started) / rounds
    settings = ProfileSettings(type="IETF", aor="sip:a@example.com")
    started = time.perf_counter()
    for n in range(rounds):
        await db.write(lambda conn, n=n: store.insert(conn, settings, f"k{n}", f"u{n}"))
    write = (time.perf_counter() - started) / rounds
    await db.close()
    return {"store_empty_job_s": empty, "store_insert_transaction_s": write}


TARGETS = [
    ("start with 10,000 profiles until the name is owned", "start_s_median", 0.5, "s"),
    ("GetManagedObjects, 10,000 profiles", "getmanagedobjects_s_median", 0.150, "s"),
    ("CreateProfile / no-op method round trip", "create_over_noop_method", 2.0, "x"),
    ("resident memory per stored profile", "bytes_per_profile_idle", 1024, "B"),
]


async def main() -> None:
    with workdir() as tmp:
        work = Path(tmp)
        async with private_bus(work) as bus:
            results = await bench_start_and_memory(bus.address, bus.socket_path, work)
            results |= await bench_create(bus.address, work)
            results |= await bench_store_hop(work)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'measure':55} {'value':>12} {'target':>10}  verdict")
    for label, key, target, unit in TARGETS:
        value = results[key]
        verdict = "ok" if value <= target else "MISSED"
        print(f"{label:55} {value:>11.4g}{unit} {target:>9g}{unit}  {verdict}")
    print()
    for key, value in results.items():
        print(f"  {key} = {value:.6g}")


if __name__ == "__main__":
    asyncio.run(main())
