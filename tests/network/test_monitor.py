"""NetworkMonitor against the real kernel: veth pairs in the root namespace.

Other tests (ours or another project's) may change links at the same time, so every
check waits for the state it expects of *our* links, never for an exact sequence of
callbacks, and never on a duration.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from network import messages
from network.kernel import Veth, ip, ip_sync, ipv6_sysctl, operstate, wait_until
from sipprofile.server.network import monitor as monitor_module
from sipprofile.server.network.monitor import SETTLE, NetworkMonitor
from sipprofile.server.network.netlink import NetlinkError, parse
from sipprofile.server.network.state import Interface

LOGGER = "sipprofile.server.network.monitor"


def v4() -> str:
    """An address of the benchmarking range 198.18.0.0/15 (RFC 2544)."""
    a, b = secrets.token_bytes(2)
    return f"198.18.{a}.{b or 1}"


def v6() -> str:
    """An address of the documentation range (RFC 3849)."""
    network = ipaddress.IPv6Network("2001:db8:5e7::/64")
    return str(network[1 + secrets.randbelow(2**32)])  # as the kernel (and ip) write it


class Seen:
    """A subscriber that records what ``interface(name)`` said each time it ran."""

    def __init__(self, monitor: NetworkMonitor, name: str) -> None:
        self.monitor = monitor
        self.name = name
        self.views: list[Interface | None] = []

    def __call__(self) -> None:
        self.views.append(self.monitor.state.interface(self.name))

    async def until(self, expected: Callable[[Interface | None], bool], what: str) -> None:
        """Wait until a callback saw the expected view (so a notification came)."""
        start = len(self.views)
        await wait_until(
            lambda: any(expected(view) for view in self.views[start:]),
            f"a notification with {self.name} {what}",
        )
        assert expected(self.monitor.state.interface(self.name)), what


async def link_up(veth: Veth) -> None:
    await ip("link", "set", veth.b, "up")
    await ip("link", "set", veth.a, "up")
    await wait_until(lambda: operstate(veth.a) == "up", f"{veth.a} has carrier")


async def test_dump_sees_an_existing_interface_and_its_addresses(veth: Veth) -> None:
    address4, address6 = v4(), v6()
    await ip("address", "add", f"{address6}/128", "dev", veth.a, "nodad")
    await ip("address", "add", f"{address4}/32", "dev", veth.a)
    await link_up(veth)
    monitor = await NetworkMonitor.open()
    try:
        index = socket.if_nametoindex(veth.a)
        assert monitor.state.interface(veth.a) == Interface(veth.a, index, (address4, address6))
        assert monitor.state.interface(veth.a) in monitor.state.interfaces()
        # Up and running, but with only its link-local address (if any yet).
        assert monitor.state.interface(veth.b) is None
        assert monitor.state.interface("lo") is not None
    finally:
        monitor.close()


async def test_link_and_address_events_reach_subscribers(
    veth: Veth, monitor: NetworkMonitor
) -> None:
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    index = socket.if_nametoindex(veth.a)
    first, second = v4(), v4()
    await ip("address", "add", f"{first}/32", "dev", veth.a)
    await ip("link", "set", veth.a, "up")  # up, but no carrier while the peer is down
    await ip("link", "set", veth.b, "up")
    await seen.until(lambda view: view == Interface(veth.a, index, (first,)), "up")

    await ip("link", "set", veth.b, "down")
    await seen.until(lambda view: view is None, "without carrier")
    assert operstate(veth.a) == "lowerlayerdown"  # still administratively up

    await ip("link", "set", veth.b, "up")
    await seen.until(lambda view: view is not None, "with carrier again")

    await ip("address", "add", f"{second}/32", "dev", veth.a)
    await seen.until(lambda view: view is not None and view.addresses == (first, second), "+")
    await ip("address", "del", f"{first}/32", "dev", veth.a)
    await seen.until(lambda view: view is not None and view.addresses == (second,), "-")

    await ip("link", "set", veth.a, "down")
    await seen.until(lambda view: view is None, "set down")
    await ip("link", "set", veth.a, "up")
    await seen.until(lambda view: view is not None and view.addresses == (second,), "set up")

    await ip("link", "del", veth.a)
    await seen.until(lambda view: view is None, "deleted")
    assert all(view.index != index for view in monitor.state.interfaces())


async def test_ipv4_first_then_ipv6(veth: Veth, monitor: NetworkMonitor) -> None:
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    await link_up(veth)
    address4, address6 = v4(), v6()
    await ip("address", "add", f"{address6}/128", "dev", veth.a, "nodad")
    await seen.until(lambda view: view is not None and view.addresses == (address6,), "v6")
    await ip("address", "add", f"{address4}/32", "dev", veth.a)
    await seen.until(
        lambda view: view is not None and view.addresses == (address4, address6), "v4 and v6"
    )


async def test_ipv6_address_is_usable_only_after_dad(veth: Veth, monitor: NetworkMonitor) -> None:
    if (
        ipv6_sysctl(veth.a, "disable_ipv6") != 0
        or (ipv6_sysctl(veth.a, "accept_dad") or 0) < 1
        or (ipv6_sysctl(veth.a, "dad_transmits") or 0) < 1
    ):
        pytest.skip("duplicate address detection is off on this machine")
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    await link_up(veth)
    tentative, marker = v6(), v4()
    await ip("address", "add", f"{tentative}/128", "dev", veth.a)
    # The tentative address changes no answer, so nothing is notified; an IPv4 address
    # added after it does, and the kernel reports the two in that order: once the
    # marker is seen, the tentative address has been read too.
    await ip("address", "add", f"{marker}/32", "dev", veth.a)
    await seen.until(lambda view: view is not None and marker in view.addresses, "a marker")
    view = monitor.state.interface(veth.a)
    still_tentative = "tentative" in await ip("-6", "address", "show", "dev", veth.a, "tentative")
    await seen.until(
        lambda view: view is not None and view.addresses == (marker, tentative), "DAD done"
    )
    if not still_tentative:
        pytest.skip("DAD finished before the tentative state could be observed")
    assert view == Interface(veth.a, socket.if_nametoindex(veth.a), (marker,))


async def test_rename_is_followed(veth: Veth, monitor: NetworkMonitor) -> None:
    renamed = veth.a[:-1] + "r"
    seen = Seen(monitor, renamed)
    monitor.subscribe(seen)
    address = v4()
    await ip("address", "add", f"{address}/32", "dev", veth.a)
    await ip("link", "set", veth.a, "name", renamed)  # only while down
    await ip("link", "set", veth.b, "up")
    await ip("link", "set", renamed, "up")
    await seen.until(lambda view: view is not None and view.addresses == (address,), "up")
    assert monitor.state.interface(veth.a) is None


async def test_datagrams_not_from_the_kernel_are_ignored(
    veth: Veth, monitor: NetworkMonitor
) -> None:
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    index = socket.if_nametoindex(veth.a)
    forged, real = v4(), v4()
    stranger = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        stranger.bind((0, 0))
        up = messages.IFF_UP | messages.IFF_RUNNING
        lie = messages.link(index, veth.a, up) + messages.address(index, forged, 32)
        assert monitor._socket is not None
        stranger.sendto(lie, (monitor._socket.getsockname()[0], 0))
    finally:
        stranger.close()
    # Sent before the kernel's news of the changes below, so read before them too.
    await ip("address", "add", f"{real}/32", "dev", veth.a)
    await link_up(veth)
    await seen.until(lambda view: view is not None and view.addresses == (real,), "real only")


async def test_dropped_events_are_read_again(
    veth: Veth, monitor: NetworkMonitor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    await link_up(veth)
    await ip("address", "add", "198.19.0.1/32", "dev", veth.a)
    await seen.until(lambda view: view is not None, "up")
    # The smallest receive buffer the kernel allows, and a burst of events while the
    # event loop is blocked (ip_sync): the kernel has to drop some (ENOBUFS).
    assert monitor._socket is not None
    monitor._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)
    burst = [f"198.19.{1 + i // 200}.{1 + i % 200}" for i in range(300)]
    batch = tmp_path / "burst"
    batch.write_text("".join(f"address add {a}/32 dev {veth.a}\n" for a in burst))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ip_sync("-batch", str(batch))
        await seen.until(
            lambda view: view is not None and len(view.addresses) == 301, "all addresses"
        )
    assert any("dropped" in record.getMessage() for record in caplog.records)
    # Events flow again, on the new socket.
    await ip("address", "del", "198.19.0.1/32", "dev", veth.a)
    await seen.until(lambda view: view is not None and len(view.addresses) == 300, "one less")


async def test_malformed_datagram_makes_it_read_everything_again(
    veth: Veth,
    monitor: NetworkMonitor,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    first, second, third = v4(), v4(), v4()
    await ip("address", "add", f"{first}/32", "dev", veth.a)
    await link_up(veth)
    await seen.until(lambda view: view is not None, "up")
    refused: list[bytes] = []

    def parse_once_badly(data: bytes) -> list[monitor_module.Change]:
        if not refused:
            refused.append(data)
            raise NetlinkError("garbled (test)")
        return parse(data)

    monkeypatch.setattr(monitor_module, "parse", parse_once_badly)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await ip("address", "add", f"{second}/32", "dev", veth.a)
        await seen.until(
            lambda view: view is not None and view.addresses == (first, second), "re-read"
        )
    assert refused
    assert any("malformed" in record.getMessage() for record in caplog.records)
    await ip("address", "add", f"{third}/32", "dev", veth.a)
    await seen.until(
        lambda view: view is not None and view.addresses == (first, second, third), "later"
    )


async def test_close_is_idempotent_and_silences_subscribers(veth: Veth) -> None:
    monitor = await NetworkMonitor.open()
    seen = Seen(monitor, veth.a)
    monitor.subscribe(seen)
    monitor.close()
    monitor.close()
    await ip("address", "add", f"{v4()}/32", "dev", veth.a)
    await link_up(veth)
    # Another monitor sees the change; the closed one, given time, still says nothing.
    other = await NetworkMonitor.open()
    try:
        assert other.state.interface(veth.a) is not None
    finally:
        other.close()
    await asyncio.sleep(SETTLE * 5)
    assert seen.views == []


async def test_open_raises_oserror_without_netlink(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_netlink() -> socket.socket:
        raise OSError(97, "Address family not supported by protocol")

    monkeypatch.setattr(monitor_module, "_open_socket", no_netlink)
    with pytest.raises(OSError, match="not supported"):
        await NetworkMonitor.open()
