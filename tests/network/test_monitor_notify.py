"""How the monitor tells its subscribers, without a kernel: changes fed in by hand.

The monitor is built without ``open`` (no socket) and given changes as if they had
been read, so the settling and the isolation of subscribers are checked exactly,
which a shared machine's real links could not promise.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from network.kernel import wait_until
from sipprofile.server.network.monitor import SETTLE, NetworkMonitor
from sipprofile.server.network.netlink import AddressChange, Change, LinkChange

LOGGER = "sipprofile.server.network.monitor"


def burst(index: int, name: str) -> list[Change]:
    return [
        LinkChange(index, name, True, False),
        AddressChange(index, socket.AF_INET, "192.0.2.2", 24, True, False),
        AddressChange(index, socket.AF_INET, "192.0.2.3", 24, True, False),
        AddressChange(index, socket.AF_INET6, "2001:db8::2", 64, True, False),
    ]


async def settled() -> None:
    await asyncio.sleep(SETTLE * 4)


async def test_a_burst_is_told_once_after_it_settles() -> None:
    monitor = NetworkMonitor(asyncio.get_running_loop())
    calls: list[tuple[str, ...] | None] = []

    def record() -> None:
        view = monitor.state.interface("eth0")
        calls.append(None if view is None else view.addresses)

    monitor.subscribe(record)
    for change in burst(2, "eth0"):
        monitor._handle(change)
    assert calls == []  # not before it settled
    await wait_until(lambda: bool(calls), "a notification")
    await settled()
    assert calls == [("192.0.2.2", "192.0.2.3", "2001:db8::2")]
    monitor.close()


async def test_changes_that_answer_nothing_new_are_not_told() -> None:
    monitor = NetworkMonitor(asyncio.get_running_loop())
    calls: list[None] = []
    monitor.subscribe(lambda: calls.append(None))
    monitor._handle(LinkChange(3, "eth1", False, False))
    monitor._handle(AddressChange(3, socket.AF_INET6, "fe80::1", 64, False, False))
    await settled()
    assert calls == []
    monitor.close()


async def test_a_failing_subscriber_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = NetworkMonitor(asyncio.get_running_loop())
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("subscriber bug")

    monitor.subscribe(failing)
    monitor.subscribe(lambda: calls.append("second"))
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        for change in burst(2, "eth0"):
            monitor._handle(change)
        await wait_until(lambda: len(calls) == 2, "both subscribers")
    assert calls == ["failing", "second"]
    assert any(record.exc_info for record in caplog.records)
    # And the next burst reaches both again.
    monitor._handle(LinkChange(2, "eth0", False, False))
    await wait_until(lambda: len(calls) == 4, "both subscribers, again")
    monitor.close()


async def test_unsubscribe_and_close() -> None:
    monitor = NetworkMonitor(asyncio.get_running_loop())
    kept: list[None] = []
    dropped: list[None] = []
    monitor.subscribe(lambda: kept.append(None))
    unsubscribe = monitor.subscribe(lambda: dropped.append(None))
    unsubscribe()
    unsubscribe()  # harmless twice
    for change in burst(2, "eth0"):
        monitor._handle(change)
    await wait_until(lambda: bool(kept), "the kept subscriber")
    assert dropped == []
    # Closing cancels a notification that is pending.
    monitor._handle(LinkChange(2, "eth0", False, False))
    monitor.close()
    monitor.close()
    await settled()
    assert len(kept) == 1


async def test_info_logs_only_links_going_up_and_down(caplog: pytest.LogCaptureFixture) -> None:
    monitor = NetworkMonitor(asyncio.get_running_loop())
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for change in burst(2, "eth0"):
            monitor._handle(change)
        monitor._handle(LinkChange(2, "eth0", True, False))  # news, but still up
        monitor._handle(LinkChange(2, "eth0", False, False))
        monitor._handle(LinkChange(2, "eth0", False, True))
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["network: interface eth0 is up", "network: interface eth0 is down"]
    monitor.close()
