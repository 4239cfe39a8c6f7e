"""Access point rules: which names are valid, and which way a registration goes."""

from __future__ import annotations

import pytest

from sipprofile.server.engine.access_point import (
    DEFAULT_PATH,
    NetworkPath,
    choose,
    unavailable_reason,
)
from sipprofile.server.network.netlink import AddressChange, LinkChange
from sipprofile.server.network.state import NetworkState
from sipprofile.server.registry.access_point import AccessPointError, interface_names

AF_INET, AF_INET6 = 2, 10


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ()),
        ("wlan0", ("wlan0",)),
        ("eth0,wlan0", ("eth0", "wlan0")),
        (" eth0 , wwan0 ", ("eth0", "wwan0")),
        ("a" * 15, ("a" * 15,)),
        ("br-lan.10", ("br-lan.10",)),
    ],
)
def test_valid_access_points(text: str, names: tuple[str, ...]) -> None:
    assert interface_names(text) == names


@pytest.mark.parametrize(
    "text",
    ["  ", ",", "eth0,,wlan0", "a" * 16, "é" * 8, ".", "..", "eth0/1", "eth0:1", "my wifi",
     "eth0,eth0", ",".join(f"e{i}" for i in range(9))],
)  # fmt: skip
def test_invalid_access_points_are_refused(text: str) -> None:
    with pytest.raises(AccessPointError):
        interface_names(text)


def network(*links: tuple[int, str, bool, tuple[str, ...]]) -> NetworkState:
    state = NetworkState()
    for index, name, up, addresses in links:
        state.apply(LinkChange(index=index, name=name, up=up, removed=False))
        for address in addresses:
            family = AF_INET6 if ":" in address else AF_INET
            state.apply(AddressChange(index, family, address, 24, usable=True, removed=False))
    return state


def test_no_names_follow_the_default_route_even_without_netlink() -> None:
    assert choose((), None) is DEFAULT_PATH
    assert choose((), network()) is DEFAULT_PATH


def test_the_first_listed_interface_that_is_up_with_an_address_is_chosen() -> None:
    state = network(
        (2, "eth0", False, ("192.0.2.10",)),  # down
        (3, "wlan0", True, ()),  # up, no address
        (4, "wwan0", True, ("198.51.100.7", "2001:db8::7")),
    )
    path = choose(("eth0", "wlan0", "wwan0"), state)
    assert path == NetworkPath("wwan0", ("198.51.100.7", "2001:db8::7"))
    assert path.local_address(family_v6=False) == "198.51.100.7"
    assert path.local_address(family_v6=True) == "2001:db8::7"
    state.apply(LinkChange(index=2, name="eth0", up=True, removed=False))
    assert choose(("eth0", "wlan0", "wwan0"), state) == NetworkPath("eth0", ("192.0.2.10",))


def test_nothing_up_means_waiting_and_says_why() -> None:
    state = network((2, "eth0", False, ("192.0.2.10",)))
    assert choose(("eth0",), state) is None
    assert choose(("eth0",), None) is None  # netlink unavailable: cannot know
    assert "eth0 is down or has no address" in unavailable_reason(("eth0",), True)
    assert "none of the interfaces eth0, wlan0" in unavailable_reason(("eth0", "wlan0"), True)
    assert "netlink unavailable" in unavailable_reason(("eth0",), False)


def test_an_ipv4_only_path_has_no_ipv6_source() -> None:
    assert NetworkPath("eth0", ("192.0.2.10",)).local_address(family_v6=True) is None
