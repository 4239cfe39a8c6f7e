"""NetworkState from sequences of changes: what ``interface`` and ``default_routes`` say."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from sipprofile.server.network.netlink import (
    AddressChange,
    Change,
    DumpDone,
    DumpFailed,
    LinkChange,
    RouteChange,
)
from sipprofile.server.network.state import DefaultRoute, Interface, NetworkState

V4, V6 = socket.AF_INET, socket.AF_INET6


def up(index: int, name: str) -> LinkChange:
    return LinkChange(index, name, True, False)


def down(index: int, name: str) -> LinkChange:
    return LinkChange(index, name, False, False)


def gone(index: int, name: str) -> LinkChange:
    return LinkChange(index, name, False, True)


def addr(index: int, text: str, *, usable: bool = True, removed: bool = False) -> AddressChange:
    family = V6 if ":" in text else V4
    return AddressChange(index, family, text, 64 if family == V6 else 24, usable, removed)


def default(
    oif: int | None,
    gateway: str | None,
    priority: int = 0,
    *,
    family: int = V4,
    table: int = 254,
    removed: bool = False,
    replaces: bool = False,
) -> RouteChange:
    return RouteChange(family, table, None, 0, oif, gateway, priority, removed, replaces)


def state_after(changes: Iterable[Change]) -> NetworkState:
    state = NetworkState()
    for change in changes:
        state.apply(change)
    return state


def test_empty_state_knows_nothing() -> None:
    state = NetworkState()
    assert state.interface("eth0") is None
    assert state.interfaces() == ()
    assert state.default_routes() == ()


def test_interface_needs_the_link_up_and_a_usable_address() -> None:
    state = NetworkState()
    assert state.apply(down(2, "eth0")) is False
    assert state.apply(addr(2, "192.0.2.2")) is False  # link down: still no answer
    assert state.interface("eth0") is None
    assert state.apply(up(2, "eth0")) is True
    assert state.interface("eth0") == Interface("eth0", 2, ("192.0.2.2",))
    assert state.apply(down(2, "eth0")) is True
    assert state.interface("eth0") is None
    assert state.apply(up(2, "eth0")) is True  # IPv4 addresses stay over a down link
    assert state.interface("eth0") == Interface("eth0", 2, ("192.0.2.2",))


def test_link_up_without_addresses_is_no_interface() -> None:
    state = NetworkState()
    assert state.apply(up(3, "wlan0")) is False
    assert state.interface("wlan0") is None
    assert state.apply(addr(3, "fe80::1", usable=False)) is False
    assert state.interface("wlan0") is None


def test_addresses_ipv4_first_then_ipv6_in_arrival_order() -> None:
    state = state_after(
        [
            up(2, "eth0"),
            addr(2, "2001:db8::2"),
            addr(2, "192.0.2.2"),
            addr(2, "fe80::2", usable=False),
            addr(2, "2001:db8::1"),
            addr(2, "10.0.0.2"),
        ]
    )
    assert state.interface("eth0") == Interface(
        "eth0", 2, ("192.0.2.2", "10.0.0.2", "2001:db8::2", "2001:db8::1")
    )


def test_address_added_and_removed() -> None:
    state = state_after([up(2, "eth0"), addr(2, "192.0.2.2")])
    assert state.apply(addr(2, "192.0.2.3")) is True
    assert state.apply(addr(2, "192.0.2.3")) is False  # the same news again
    assert state.apply(addr(2, "192.0.2.2", removed=True)) is True
    assert state.interface("eth0") == Interface("eth0", 2, ("192.0.2.3",))
    assert state.apply(addr(2, "192.0.2.3", removed=True)) is True
    assert state.interface("eth0") is None
    assert state.apply(addr(2, "192.0.2.3", removed=True)) is False


def test_tentative_address_becomes_usable_in_its_place() -> None:
    state = state_after([up(2, "eth0"), addr(2, "2001:db8::1", usable=False)])
    assert state.interface("eth0") is None
    assert state.apply(addr(2, "2001:db8::2")) is True
    assert state.apply(addr(2, "2001:db8::1")) is True  # DAD done
    view = state.interface("eth0")
    assert view is not None
    assert view.addresses == ("2001:db8::1", "2001:db8::2")  # first seen first
    assert state.apply(addr(2, "2001:db8::1", usable=False)) is True  # e.g. DAD failed
    assert state.interface("eth0") == Interface("eth0", 2, ("2001:db8::2",))


def test_same_address_with_two_prefixes_is_listed_once() -> None:
    state = state_after(
        [
            up(2, "eth0"),
            AddressChange(2, V4, "10.0.0.1", 24, True, False),
            AddressChange(2, V4, "10.0.0.1", 16, True, False),
        ]
    )
    assert state.interface("eth0") == Interface("eth0", 2, ("10.0.0.1",))
    assert state.apply(AddressChange(2, V4, "10.0.0.1", 24, True, True)) is False
    assert state.apply(AddressChange(2, V4, "10.0.0.1", 16, True, True)) is True
    assert state.interface("eth0") is None


def test_address_may_arrive_before_its_link() -> None:
    state = state_after([addr(5, "192.0.2.5"), up(5, "eth5")])
    assert state.interface("eth5") == Interface("eth5", 5, ("192.0.2.5",))


def test_removed_link_takes_its_addresses_and_routes() -> None:
    state = state_after([up(2, "eth0"), addr(2, "192.0.2.2"), default(2, "192.0.2.1")])
    assert state.default_routes() == (DefaultRoute(V4, "eth0", "192.0.2.1"),)
    assert state.apply(gone(2, "eth0")) is True
    assert state.interface("eth0") is None
    assert state.default_routes() == ()
    # A new link with the same index starts afresh.
    assert state.apply(up(2, "eth0")) is False
    assert state.interface("eth0") is None
    assert state.default_routes() == ()


def test_rename_is_followed() -> None:
    state = state_after([up(2, "eth0"), addr(2, "192.0.2.2"), default(2, "192.0.2.1")])
    assert state.apply(down(2, "eth0")) is True
    assert state.apply(down(2, "lan")) is False  # renamed while down: no answer changes
    assert state.apply(up(2, "lan")) is True
    assert state.interface("eth0") is None
    assert state.interface("lan") == Interface("lan", 2, ("192.0.2.2",))
    assert state.default_routes() == (DefaultRoute(V4, "lan", "192.0.2.1"),)
    assert state.apply(up(2, "wan")) is True  # renamed while up
    assert state.interface("lan") is None
    assert state.interfaces() == (Interface("wan", 2, ("192.0.2.2",)),)


def test_name_taken_over_by_another_index() -> None:
    # The kernel's names are unique: news of a name on a new index means the old
    # holder was renamed or removed, even if that news has not come yet.
    state = state_after([up(2, "eth0"), addr(2, "192.0.2.2"), up(3, "eth0"), addr(3, "10.0.0.3")])
    assert state.interface("eth0") == Interface("eth0", 3, ("10.0.0.3",))
    assert state.interfaces() == (Interface("eth0", 3, ("10.0.0.3",)),)
    assert state.apply(up(2, "old")) is True  # the rename arrives
    assert state.interface("old") == Interface("old", 2, ("192.0.2.2",))
    assert state.interface("eth0") == Interface("eth0", 3, ("10.0.0.3",))


def test_interfaces_lists_the_usable_ones_by_index() -> None:
    state = state_after(
        [
            up(4, "wlan0"),
            addr(4, "10.1.0.4"),
            up(1, "lo"),
            addr(1, "127.0.0.1"),
            up(3, "eth1"),  # no address
            down(2, "eth0"),
            addr(2, "192.0.2.2"),
        ]
    )
    assert [view.name for view in state.interfaces()] == ["lo", "wlan0"]


def test_default_route_lowest_priority_of_an_up_link_per_family() -> None:
    state = state_after(
        [
            up(2, "eth0"),
            up(3, "wlan0"),
            default(2, "192.0.2.1", 100),
            default(3, "10.1.0.1", 600),
            default(3, "fe80::1", 1024, family=V6),
        ]
    )
    assert state.default_routes() == (
        DefaultRoute(V4, "eth0", "192.0.2.1"),
        DefaultRoute(V6, "wlan0", "fe80::1"),
    )
    assert state.apply(default(3, "10.1.0.1", 50)) is True
    assert state.default_routes()[0] == DefaultRoute(V4, "wlan0", "10.1.0.1")
    assert state.apply(default(3, "10.1.0.1", 50, removed=True)) is True
    assert state.default_routes()[0] == DefaultRoute(V4, "eth0", "192.0.2.1")


def test_default_route_tie_goes_to_the_first_seen() -> None:
    state = state_after(
        [up(2, "eth0"), up(3, "eth1"), default(3, "10.0.1.1", 10), default(2, "10.0.0.1", 10)]
    )
    assert state.default_routes() == (DefaultRoute(V4, "eth1", "10.0.1.1"),)
    assert state.apply(default(3, "10.0.1.1", 10)) is False  # seen again: keeps its place
    assert state.apply(default(3, "10.0.1.1", 10, removed=True)) is True
    assert state.default_routes() == (DefaultRoute(V4, "eth0", "10.0.0.1"),)


def test_default_route_on_a_down_link_is_ignored() -> None:
    state = state_after(
        [up(2, "eth0"), up(3, "wlan0"), default(2, "192.0.2.1", 10), default(3, "10.1.0.1", 600)]
    )
    assert state.apply(down(2, "eth0")) is True  # e.g. carrier lost: the kernel keeps it
    assert state.default_routes() == (DefaultRoute(V4, "wlan0", "10.1.0.1"),)
    assert state.apply(down(3, "wlan0")) is True
    assert state.default_routes() == ()
    assert state.apply(up(2, "eth0")) is True
    assert state.default_routes() == (DefaultRoute(V4, "eth0", "192.0.2.1"),)


def test_default_route_without_a_known_link_is_ignored() -> None:
    state = state_after([default(9, "10.0.0.1"), default(None, None, family=V6)])
    assert state.default_routes() == ()
    assert state.apply(up(9, "eth9")) is True  # the route came first, as in a resync
    assert state.default_routes() == (DefaultRoute(V4, "eth9", "10.0.0.1"),)


def test_only_default_routes_of_the_main_table_count() -> None:
    state = state_after([up(2, "eth0")])
    assert state.apply(default(2, "10.0.0.1", table=100)) is False
    assert state.apply(default(2, "10.0.0.1", table=255)) is False
    prefix = RouteChange(V4, 254, "10.0.0.0", 8, 2, None, 0, False)
    assert state.apply(prefix) is False
    assert state.default_routes() == ()
    assert state.has_default_route_via(2) is False
    assert state.apply(default(2, "10.0.0.1")) is True
    assert state.has_default_route_via(2) is True
    assert state.has_default_route_via(3) is False


def test_replaced_default_route_takes_the_place_of_the_old_one() -> None:
    state = state_after(
        [
            up(2, "eth0"),
            default(2, "10.0.0.1", 100),
            default(2, "10.0.0.4", 100),  # appended: same priority
            default(2, "fe80::1", 100, family=V6),
        ]
    )
    assert state.apply(default(2, "10.0.0.3", 100, replaces=True)) is True
    assert state.default_routes() == (
        DefaultRoute(V4, "eth0", "10.0.0.3"),
        DefaultRoute(V6, "eth0", "fe80::1"),
    )
    assert state.apply(default(2, "10.0.0.3", 100, removed=True)) is True
    assert state.default_routes()[0] == DefaultRoute(V4, "eth0", "10.0.0.4")
    # A replace of nothing is an add.
    assert state.apply(default(2, "10.0.0.9", 5, replaces=True)) is True
    assert state.default_routes()[0] == DefaultRoute(V4, "eth0", "10.0.0.9")


def test_dump_ends_change_nothing() -> None:
    state = state_after([up(2, "eth0"), addr(2, "192.0.2.2")])
    assert state.apply(DumpDone(1)) is False
    assert state.apply(DumpFailed(1, 4)) is False
    assert state.interface("eth0") == Interface("eth0", 2, ("192.0.2.2",))


def test_apply_is_true_exactly_when_an_answer_changes() -> None:
    changes: list[Change] = [
        up(2, "eth0"),
        addr(2, "192.0.2.2"),
        default(2, "192.0.2.1"),
        up(2, "eth0"),
        addr(2, "fe80::2", usable=False),
        down(3, "eth1"),
        default(3, "10.0.0.1"),
        RouteChange(V4, 254, "192.0.2.0", 24, 2, None, 0, False),
        up(3, "eth1"),
        addr(2, "192.0.2.2", removed=True),
        gone(3, "eth1"),
        down(2, "eth0"),
    ]
    state = NetworkState()
    for change in changes:
        before = (state.interfaces(), state.default_routes())
        changed = state.apply(change)
        assert changed == ((state.interfaces(), state.default_routes()) != before), change
