"""Default routes seen by a real NetworkMonitor, in a network namespace of the test's own.

The monitor runs as a subprocess inside the namespace (``netns_monitor.py``) and prints
its answers on every notification; the test changes links and routes there with
``ip -n``. The machine's own default route is never touched. Each step waits for the
answer it expects (the last line printed), with a generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from network.kernel import WAIT, ip, ip_sync, require_ip, unique

SCRIPT = Path(__file__).with_name("netns_monitor.py")
V4, V6 = 2, 10

Answer = dict[str, Any]


class Namespace:
    """A network namespace and ``ip`` commands run in it."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def ip(self, *args: str) -> str:
        return await ip("-n", self.name, *args)

    async def veth(self, name: str, address: str) -> None:
        """A pair ``name``/``name``p, both up (so with carrier), ``address`` on ``name``."""
        await self.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
        await self.ip("link", "set", name + "p", "up")
        await self.ip("link", "set", name, "up")
        await self.ip("address", "add", address, "dev", name)


class MonitorProcess:
    """The monitor in the namespace, and the answers it printed."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log
        self.answers: list[Answer] = []

    async def until(self, expected: Callable[[Answer], bool], what: str) -> Answer:
        """Read answers until the latest one is as ``expected``."""
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while not (self.answers and expected(self.answers[-1])):
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except TimeoutError:
                raise AssertionError(
                    f"not within {WAIT} s: {what}; answers: {self.answers[-3:]}; "
                    f"stderr: {self.log.read_text()[-2000:]}"
                ) from None
            if not line:
                raise AssertionError(f"the monitor ended: {self.log.read_text()[-2000:]}")
            self.answers.append(json.loads(line))
        return self.answers[-1]


def routes(*expected: tuple[int, str, str]) -> Callable[[Answer], bool]:
    return lambda answer: [tuple(route) for route in answer["routes"]] == list(expected)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    require_ip()
    name = unique("ns")
    ip_sync("netns", "add", name)
    try:
        yield Namespace(name)
    finally:
        ip_sync("netns", "del", name, check=False)  # takes its links along


@contextlib.asynccontextmanager
async def monitor_in(namespace: Namespace, log: Path) -> AsyncIterator[MonitorProcess]:
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            namespace.name,
            sys.executable,
            str(SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield MonitorProcess(process, log)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), WAIT)
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_lowest_metric_on_a_link_with_carrier_wins(
    namespace: Namespace, tmp_path: Path
) -> None:
    await namespace.veth("wan0", "10.77.0.2/24")
    await namespace.ip("address", "add", "fd77::2/64", "dev", "wan0", "nodad")
    await namespace.ip("route", "add", "default", "via", "10.77.0.1", "metric", "200")
    async with monitor_in(namespace, tmp_path / "monitor.log") as monitor:
        first = await monitor.until(routes((V4, "wan0", "10.77.0.1")), "the dump's route")
        assert first["interfaces"]["wan0"] == ["10.77.0.2", "fd77::2"]

        await namespace.ip("-6", "route", "add", "default", "via", "fd77::1", "metric", "200")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1")), "an IPv6 default route"
        )

        await namespace.veth("wlan0", "10.78.0.2/24")
        await namespace.ip("route", "add", "default", "via", "10.78.0.1", "metric", "100")
        await monitor.until(
            routes((V4, "wlan0", "10.78.0.1"), (V6, "wan0", "fd77::1")), "a lower metric"
        )

        # Carrier lost: the kernel keeps the route ("linkdown") but cannot use it.
        await namespace.ip("link", "set", "wlan0p", "down")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1")), "wlan0 without carrier"
        )
        await namespace.ip("link", "set", "wlan0p", "up")
        await monitor.until(
            routes((V4, "wlan0", "10.78.0.1"), (V6, "wan0", "fd77::1")), "carrier back"
        )

        await namespace.ip("route", "del", "default", "via", "10.78.0.1", "metric", "100")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1")), "route deleted"
        )

        await namespace.ip("link", "del", "wan0")
        await monitor.until(routes(), "no route left")


async def test_routes_the_kernel_removes_without_notice(
    namespace: Namespace, tmp_path: Path
) -> None:
    await namespace.veth("wan0", "10.77.0.2/24")
    await namespace.ip("address", "add", "fd77::2/64", "dev", "wan0", "nodad")
    await namespace.veth("wlan0", "10.78.0.2/24")
    await namespace.ip("route", "add", "default", "via", "10.77.0.1", "metric", "200")
    await namespace.ip("-6", "route", "add", "default", "via", "fd77::1", "metric", "200")
    await namespace.ip("route", "add", "default", "via", "10.78.0.1", "metric", "100")
    async with monitor_in(namespace, tmp_path / "monitor.log") as monitor:
        await monitor.until(
            routes((V4, "wlan0", "10.78.0.1"), (V6, "wan0", "fd77::1")), "the dump's routes"
        )

        # Set down, a link loses its IPv4 routes; the kernel says nothing of it, and
        # does not bring them back when the link comes up again. First a link that
        # had lost its carrier (its routes kept, "linkdown") before it was set down.
        await namespace.ip("link", "set", "wlan0p", "down")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1")), "wlan0 without carrier"
        )
        await namespace.ip("link", "set", "wlan0", "down")
        await namespace.ip("link", "set", "wlan0p", "up")
        await namespace.ip("link", "set", "wlan0", "up")
        await monitor.until(
            lambda answer: (
                "wlan0" in answer["interfaces"]
                and routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1"))(answer)
            ),
            "wlan0 up again after a carrier loss, without its default route",
        )
        await namespace.ip("route", "add", "default", "via", "10.78.0.1", "metric", "100")
        await monitor.until(
            routes((V4, "wlan0", "10.78.0.1"), (V6, "wan0", "fd77::1")), "the route back"
        )
        # Then a link that was running.
        await namespace.ip("link", "set", "wlan0", "down")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1")), "wlan0 down"
        )
        await namespace.ip("link", "set", "wlan0", "up")
        await monitor.until(
            lambda answer: (
                "wlan0" in answer["interfaces"]
                and routes((V4, "wan0", "10.77.0.1"), (V6, "wan0", "fd77::1"))(answer)
            ),
            "wlan0 up again, without its default route",
        )

        # Replaced: the old route goes without an RTM_DELROUTE.
        await namespace.ip("route", "replace", "default", "via", "10.77.0.9", "metric", "200")
        await monitor.until(
            routes((V4, "wan0", "10.77.0.9"), (V6, "wan0", "fd77::1")), "the route replaced"
        )
        await namespace.ip("route", "add", "default", "via", "10.78.0.1", "metric", "300")
        await monitor.until(
            lambda answer: (
                "10.78.0.2" in answer["interfaces"].get("wlan0", [])
                and routes((V4, "wan0", "10.77.0.9"), (V6, "wan0", "fd77::1"))(answer)
            ),
            "a worse route changes nothing",
        )

        # The last IPv4 address of wan0 goes, and its IPv4 default route with it.
        await namespace.ip("address", "del", "10.77.0.2/24", "dev", "wan0")
        await monitor.until(
            lambda answer: (
                answer["interfaces"].get("wan0") == ["fd77::2"]
                and routes((V4, "wlan0", "10.78.0.1"), (V6, "wan0", "fd77::1"))(answer)
            ),
            "wan0 without IPv4",
        )
