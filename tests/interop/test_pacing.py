"""Pacing through the real daemon: start-up spread, the rate limit, storms after a failure.

A gateway's registrations all want to start at the same moments (the daemon's start,
a shared connection closing); ``engine.pacing`` makes them take turns. These tests
run the real daemon with small pacing settings against a scripted registrar and look
at when the first REGISTER of each profile arrived. Only lower bounds on how spread
they are are asserted: a slow machine spreads them more, never less, so the tests
cannot flake on load, and without pacing every bound fails by far.
"""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from busutil import Raw, raw_bus

from interop.scripted import (  # noqa: F401
    Received,
    ScriptedRegistrar,
    scripted_registrar,
    scripted_registrar_factory,
)
from sipprofile.server.daemon import Daemon, Options
from sipprofile.server.engine.pacing import PacingSettings

#: The pacing of ``paced_daemon``: 4 at once, then 20 a second.
RATE = 20.0
BURST = 4


def first_registers(registrar: ScriptedRegistrar) -> list[Received]:
    """The first REGISTER of each Call-ID (one per profile), in order of arrival."""
    seen: set[str] = set()
    firsts = []
    for arrival in registrar.registers:
        if arrival.request.call_id not in seen:
            seen.add(arrival.request.call_id)
            firsts.append(arrival)
    return firsts


async def create_always_on(raw: Raw, registrar: ScriptedRegistrar, count: int) -> list[str]:
    return [
        await raw.create(
            Aor=f"sip:user{n}@example.test",
            AutoRegistration=True,
            Registrar={"Uri": registrar.uri},
        )
        for n in range(count)
    ]


async def wait_registered(raw: Raw, paths: list[str], timeout: float = 10.0) -> None:
    async def all_registered() -> None:
        for path in paths:
            while (await raw.get_all(path))["State"] != "registered":
                await asyncio.sleep(0.02)

    await asyncio.wait_for(all_registered(), timeout)


@pytest.fixture
async def paced_daemon(
    dbus_address: str, tmp_path: Path
) -> AsyncIterator[tuple[Daemon, PacingSettings]]:
    """The real daemon with 20 starts a second after a burst of 4."""
    pacing = PacingSettings(rate=RATE, burst=BURST)
    daemon = Daemon(
        Options(bus="address", address=dbus_address, database=tmp_path / "p.db", pacing=pacing)
    )
    await daemon.start()
    try:
        yield daemon, pacing
    finally:
        await daemon.close()


async def test_registrations_started_together_take_turns(
    scripted_registrar, dbus_address: str, paced_daemon
) -> None:
    registrar = scripted_registrar
    async with raw_bus(dbus_address) as raw:
        paths = await create_always_on(raw, registrar, 16)
        await wait_registered(raw, paths)
    times = [arrival.at for arrival in first_registers(registrar)]
    assert len(times) == 16
    # 4 at once, then one every 50 ms: the 16th no sooner than 12 x 50 ms after the first
    assert times[-1] - times[0] >= (16 - BURST) / RATE * 0.9
    # and never more than the burst (plus one slot) within one slot's time
    for i in range(len(times) - BURST - 1):
        assert times[i + BURST + 1] - times[i] > 0.5 / RATE


async def test_always_on_profiles_spread_over_the_start_window(
    scripted_registrar, dbus_address: str, tmp_path: Path
) -> None:
    registrar = scripted_registrar
    database = tmp_path / "w.db"
    first = Daemon(Options(bus="address", address=dbus_address, database=database))
    await first.start()
    try:
        async with raw_bus(dbus_address) as raw:
            paths = await create_always_on(raw, registrar, 30)
            await wait_registered(raw, paths)
    finally:
        await first.close()
    before = len(registrar.received)
    # a generous rate and burst: only the window spreads them
    window = PacingSettings(rate=10_000.0, burst=1000, window=1.0)
    second = Daemon(Options(bus="address", address=dbus_address, database=database, pacing=window))
    await second.start()
    try:
        async with raw_bus(dbus_address) as raw:
            await wait_registered(raw, paths)
    finally:
        await second.close()
    restarted = [a for a in registrar.registers[before:] if a.request.headers.get("Expires") != "0"]
    calls: dict[str, float] = {}
    for arrival in restarted:
        calls.setdefault(arrival.request.call_id, arrival.at)
    times = sorted(calls.values())
    assert len(times) == 30
    # 30 random moments in one second: that they all fall within half of it has a
    # probability of about 30 x 0.5^29, once in 18 million runs
    assert times[-1] - times[0] >= 0.5


async def test_a_closed_shared_connection_does_not_bring_a_storm(
    scripted_registrar_factory, dbus_address: str, paced_daemon
) -> None:
    registrar = await scripted_registrar_factory("tcp")
    async with raw_bus(dbus_address) as raw:
        paths = await create_always_on(raw, registrar, 12)
        await wait_registered(raw, paths)
        await asyncio.sleep(1.0 / RATE * BURST)  # the bucket fills again
        before = len(registrar.received)
        registrar.disconnect()
        await registrar.wait_requests(before + 12, timeout=5.0)
        await wait_registered(raw, paths)
        again = sorted(a.at for a in registrar.received[before : before + 12])
        assert again[-1] - again[0] >= (12 - BURST) / RATE * 0.9


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--start-rate", "0", "start rate must be a positive number"),
        ("--start-rate", "nan", "start rate must be a positive number"),
        ("--start-burst", "0", "start burst must be at least 1"),
        ("--start-window", "-1", "start window must be 0 or more seconds"),
        ("--start-window", "soon", "invalid float value"),
    ],
)
def test_bad_pacing_flags_are_refused(flag: str, value: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sipprofile.server", "--address", "unix:path=/nonexistent",
         flag, value],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
