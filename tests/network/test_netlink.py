"""The rtnetlink codec on hand-built messages: each kind, datagrams, alignment, garbage."""

from __future__ import annotations

import errno
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import messages as m
from sipprofile.server.network.netlink import (
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    AddressChange,
    DumpDone,
    DumpFailed,
    LinkChange,
    NetlinkError,
    RouteChange,
    dump_request,
    parse,
)

V4, V6 = socket.AF_INET, socket.AF_INET6
UP = m.IFF_UP | m.IFF_BROADCAST | m.IFF_MULTICAST | m.IFF_RUNNING | m.IFF_LOWER_UP


# Requests.


@pytest.mark.parametrize(
    ("kind", "body_size"), [(RTM_GETLINK, 16), (RTM_GETADDR, 8), (RTM_GETROUTE, 12)]
)
def test_dump_request_has_the_header_and_the_body_of_its_kind(kind: int, body_size: int) -> None:
    request = dump_request(kind, V6, 77)
    length, type_, flags, seq, pid = m.HEADER.unpack_from(request)
    assert (length, type_, flags, seq, pid) == (16 + body_size, kind, 0x301, 77, 0)
    assert len(request) == length
    assert request[16:] == bytes((V6,)) + bytes(body_size - 1)


def test_dump_request_refuses_what_is_not_a_dump() -> None:
    with pytest.raises(ValueError, match="dump"):
        dump_request(m.RTM_NEWLINK, 0, 1)
    with pytest.raises(ValueError, match="family"):
        dump_request(RTM_GETLINK, 256, 1)


# Links.


@pytest.mark.parametrize(
    ("flags", "up"),
    [
        (UP, True),
        (m.IFF_UP | m.IFF_RUNNING, True),
        (m.IFF_UP | m.IFF_BROADCAST, False),  # up without carrier (veth peer down)
        (m.IFF_RUNNING, False),
        (0, False),
    ],
)
def test_link_is_up_only_when_up_and_running(flags: int, up: bool) -> None:
    assert parse(m.link(7, "eth0", flags)) == [LinkChange(7, "eth0", up, False)]


def test_deleted_link_is_removed() -> None:
    data = m.link(7, "eth0", 0, kind=m.RTM_DELLINK)
    assert parse(data) == [LinkChange(7, "eth0", False, True)]


def test_per_family_link_news_is_skipped() -> None:
    # A bridge port leaving its bridge: AF_BRIDGE RTM_DELLINK; the link stays.
    assert parse(m.link(7, "eth0", UP, kind=m.RTM_DELLINK, family=7)) == []
    assert parse(m.link(7, "eth0", UP, family=V6)) == []


def test_link_name_in_any_encoding_survives() -> None:
    body = m.IFINFOMSG.pack(0, 1, 3, UP, 0) + m.attr(m.IFLA_IFNAME, b"w\xfflan\0")
    (change,) = parse(m.message(m.RTM_NEWLINK, body))
    assert isinstance(change, LinkChange)
    assert change.name.encode("utf-8", "surrogateescape") == b"w\xfflan"


# Addresses.


def test_ipv4_address_prefers_the_local_address() -> None:
    # Point to point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
    data = m.address(4, "10.0.0.9", 32, local="10.0.0.1")
    assert parse(data) == [AddressChange(4, V4, "10.0.0.1", 32, True, False)]
    assert parse(m.address(4, "192.0.2.7", 24)) == [
        AddressChange(4, V4, "192.0.2.7", 24, True, False)
    ]


@pytest.mark.parametrize("scope", [m.RT_SCOPE_UNIVERSE, m.RT_SCOPE_LINK, m.RT_SCOPE_HOST])
def test_ipv4_address_is_usable_in_any_scope(scope: int) -> None:
    (change,) = parse(m.address(1, "127.0.0.1", 8, scope=scope))
    assert isinstance(change, AddressChange)
    assert change.usable


@pytest.mark.parametrize(
    ("text", "kwargs", "usable"),
    [
        ("2001:db8::5", {}, True),
        ("::1", {"scope": m.RT_SCOPE_HOST}, True),
        ("fe80::1", {"scope": m.RT_SCOPE_LINK}, False),
        ("fe80::1", {}, False),  # link-local whatever the scope says
        ("febf::1", {}, False),  # still fe80::/10
        ("fec0::1", {}, True),
        ("fd00::5", {"scope": m.RT_SCOPE_LINK}, False),
        ("2001:db8::5", {"flags": m.IFA_F_TENTATIVE}, False),
        ("2001:db8::5", {"flags": m.IFA_F_DADFAILED | m.IFA_F_TENTATIVE}, False),
        # IFA_FLAGS, when present, is what counts (it holds all 32 bits).
        ("2001:db8::5", {"flags": m.IFA_F_TENTATIVE, "flags_attribute": 0x80}, True),
        ("2001:db8::5", {"flags": 0, "flags_attribute": m.IFA_F_TENTATIVE | 0x100}, False),
        ("2001:db8::5", {"flags": 0, "flags_attribute": m.IFA_F_DADFAILED}, False),
    ],
)
def test_ipv6_address_usability(text: str, kwargs: dict[str, int], usable: bool) -> None:
    (change,) = parse(m.address(9, text, 64, **kwargs))
    assert change == AddressChange(9, V6, text, 64, usable, False)


def test_deleted_address_is_removed() -> None:
    data = m.address(9, "2001:db8::5", 64, kind=m.RTM_DELADDR)
    assert parse(data) == [AddressChange(9, V6, "2001:db8::5", 64, True, True)]


def test_address_of_another_family_is_skipped() -> None:
    body = m.IFADDRMSG.pack(17, 0, 0, 0, 2) + m.attr(m.IFA_ADDRESS, bytes(6))  # AF_PACKET
    assert parse(m.message(m.RTM_NEWADDR, body)) == []


# Routes.


def test_ipv4_default_route() -> None:
    data = m.route(V4, oif=4, gateway="192.0.2.1", priority=100)
    assert parse(data) == [RouteChange(V4, 254, None, 0, 4, "192.0.2.1", 100, False)]


def test_ipv6_default_route_and_a_prefix_route() -> None:
    default = m.route(V6, oif=2, gateway="fe80::1", priority=1024)
    prefix = m.route(V6, destination="2001:db8::", prefix=64, oif=2, priority=256)
    assert parse(default + prefix) == [
        RouteChange(V6, 254, None, 0, 2, "fe80::1", 1024, False),
        RouteChange(V6, 254, "2001:db8::", 64, 2, None, 256, False),
    ]


def test_route_without_priority_or_gateway() -> None:
    data = m.route(V4, destination="10.1.0.0", prefix=16, oif=3, kind=m.RTM_DELROUTE)
    assert parse(data) == [RouteChange(V4, 254, "10.1.0.0", 16, 3, None, 0, True)]


def test_route_table_attribute_wins_over_the_byte() -> None:
    # Tables above 255 exist only in RTA_TABLE; the byte then says RT_TABLE_COMPAT.
    data = m.route(V4, table=252, table_attribute=1000, oif=3, gateway="10.0.0.1")
    (change,) = parse(data)
    assert isinstance(change, RouteChange)
    assert change.table == 1000


@pytest.mark.parametrize("type_", [m.RTN_LOCAL, m.RTN_BLACKHOLE, 0, 255])
def test_route_that_is_not_unicast_is_skipped(type_: int) -> None:
    assert parse(m.route(V4, destination="127.0.0.1", prefix=32, oif=1, type_=type_)) == []


def test_route_of_another_family_is_skipped() -> None:
    assert parse(m.route(28, oif=1)) == []  # AF_MPLS


def test_replacing_route_says_so() -> None:
    data = m.route(V4, oif=3, gateway="10.0.0.2", flags=m.NLM_F_REPLACE)
    (change,) = parse(data)
    assert isinstance(change, RouteChange)
    assert change.replaces
    (deleted,) = parse(m.route(V4, oif=3, kind=m.RTM_DELROUTE, flags=m.NLM_F_REPLACE))
    assert isinstance(deleted, RouteChange)
    assert not deleted.replaces
    (dumped,) = parse(m.route(V4, oif=3, flags=m.NLM_F_MULTI))
    assert isinstance(dumped, RouteChange)
    assert not dumped.replaces


def test_multipath_route_reports_its_first_path() -> None:
    paths = m.nexthop(5, "10.0.0.1") + m.nexthop(6, "10.0.1.1")
    data = m.route(V4, priority=50, extra=m.attr(m.RTA_MULTIPATH, paths))
    assert parse(data) == [RouteChange(V4, 254, None, 0, 5, "10.0.0.1", 50, False)]


def test_ipv4_route_through_an_ipv6_neighbour() -> None:
    via = m.attr(m.RTA_VIA, struct.pack("=H", V6) + m.ip("fe80::1"))
    (change,) = parse(m.route(V4, oif=2, extra=via))
    assert isinstance(change, RouteChange)
    assert change.gateway == "fe80::1"


# Dump ends and errors.


def test_done_ends_a_dump() -> None:
    assert parse(m.done(41)) == [DumpDone(41)]
    assert parse(m.message(m.NLMSG_DONE, b"", seq=42)) == [DumpDone(42)]


def test_done_of_an_interrupted_dump_fails_it() -> None:
    assert parse(m.done(41, flags=m.NLM_F_MULTI | m.NLM_F_DUMP_INTR)) == [
        DumpFailed(41, errno.EINTR)
    ]
    assert parse(m.done(41, -errno.ENOBUFS)) == [DumpFailed(41, errno.ENOBUFS)]


def test_error_fails_the_request_and_an_ack_is_skipped() -> None:
    assert parse(m.error(9, -errno.EBUSY)) == [DumpFailed(9, errno.EBUSY)]
    assert parse(m.error(9, 0)) == []


# Datagrams.


def test_several_messages_in_one_datagram_in_order() -> None:
    data = (
        m.link(2, "eth0", UP)
        + m.address(2, "192.0.2.2", 24)
        + m.message(0x1234, b"future")
        + m.route(V4, oif=2, gateway="192.0.2.1")
        + m.done(3)
    )
    assert parse(data) == [
        LinkChange(2, "eth0", True, False),
        AddressChange(2, V4, "192.0.2.2", 24, True, False),
        RouteChange(V4, 254, None, 0, 2, "192.0.2.1", 0, False),
        DumpDone(3),
    ]


def test_empty_datagram_has_no_changes() -> None:
    assert parse(b"") == []


def test_unknown_types_and_attributes_are_skipped() -> None:
    unknown = (
        m.message(m.NLMSG_NOOP, b"")
        + m.message(28, bytes(12))  # RTM_NEWNEIGH
        + m.message(0xFFFF, b"\x01\x02\x03")
    )
    extra = m.attr(200, b"x") + m.attr(0x8000 | 201, m.attr(1, b"nested")) + m.attr(0, b"")
    data = unknown + m.link(3, "wlan0", UP, extra=extra)
    assert parse(data) == [LinkChange(3, "wlan0", True, False)]


def test_alignment_between_attributes_and_messages() -> None:
    # A 3-byte name ("ab\0") is padded to 4; the body of the unknown message is 5
    # bytes, so the next message starts after 3 bytes of padding; the last message
    # of a datagram may come without its padding.
    first = m.link(3, "ab", UP, extra=m.attr(201, b"\x07"))
    middle = m.message(0x1234, b"12345")
    assert len(middle) % 4 == 0
    assert m.HEADER.unpack_from(middle)[0] == 21
    body = m.IFINFOMSG.pack(0, 1, 4, UP, 0) + m.attr(m.IFLA_IFNAME, b"xy\0")
    last = m.message(m.RTM_NEWLINK, body[:-1], pad=False)  # attr padding cut off too
    assert parse(first + middle + last) == [
        LinkChange(3, "ab", True, False),
        LinkChange(4, "xy", True, False),
    ]


# Malformed input: NetlinkError, never anything else.


def _header(length: int, kind: int = m.RTM_NEWLINK) -> bytes:
    return m.HEADER.pack(length, kind, 0, 0, 0)


MALFORMED = {
    "truncated header": b"\x14\x00\x00\x00\x10\x00",
    "header after a message": m.done(1) + b"\x00" * 8,
    "length below the header": _header(8) + bytes(8),
    "length zero": _header(0) + bytes(16),
    "length past the end": _header(64) + bytes(16),
    "body shorter than ifinfomsg": m.message(m.RTM_NEWLINK, bytes(8)),
    "body shorter than ifaddrmsg": m.message(m.RTM_NEWADDR, bytes(4)),
    "body shorter than rtmsg": m.message(m.RTM_NEWROUTE, bytes(8)),
    "error without status": m.message(m.NLMSG_ERROR, b""),
    "attribute length below its header": m.message(
        m.RTM_NEWLINK, m.IFINFOMSG.pack(0, 1, 1, 0, 0) + struct.pack("=HH", 2, 3)
    ),
    "attribute past the message": m.message(
        m.RTM_NEWLINK, m.IFINFOMSG.pack(0, 1, 1, 0, 0) + struct.pack("=HH", 40, 3) + b"lo\0\0"
    ),
    "attribute header truncated": m.message(
        m.RTM_NEWLINK, m.IFINFOMSG.pack(0, 1, 1, 0, 0) + b"\x08\x00"
    ),
    "address of the wrong size": m.message(
        m.RTM_NEWADDR, m.IFADDRMSG.pack(V4, 24, 0, 0, 2) + m.attr(m.IFA_ADDRESS, bytes(16))
    ),
    "address message without address": m.message(
        m.RTM_NEWADDR, m.IFADDRMSG.pack(V6, 64, 0, 0, 2) + m.attr(m.IFA_LABEL, b"eth0\0")
    ),
    "32-bit attribute of 2 bytes": m.message(
        m.RTM_NEWROUTE,
        m.RTMSG.pack(V4, 0, 0, 0, 254, 3, 0, 1, 0) + m.attr(m.RTA_OIF, b"\x01\x00"),
    ),
    "gateway of the wrong family": m.route(V6, oif=1, extra=m.attr(m.RTA_GATEWAY, bytes(4))),
    "multipath next hop past its attribute": m.route(
        V4, extra=m.attr(m.RTA_MULTIPATH, struct.pack("=HBBi", 64, 0, 0, 2))
    ),
    "multipath next hop truncated": m.route(V4, extra=m.attr(m.RTA_MULTIPATH, b"\x08\x00")),
    "via truncated": m.route(V4, oif=1, extra=m.attr(m.RTA_VIA, b"\x0a")),
    "too many messages": m.message(m.NLMSG_NOOP, b"") * 4097,
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_datagram_raises_netlink_error(data: bytes) -> None:
    with pytest.raises(NetlinkError):
        parse(data)


def test_netlink_error_is_a_value_error() -> None:
    assert issubclass(NetlinkError, ValueError)


VALID = [
    m.link(2, "eth0", UP) + m.link(3, "ab", UP, extra=m.attr(200, b"x")),
    m.address(2, "192.0.2.2", 24, local="192.0.2.2") + m.address(2, "fe80::1", 64),
    m.address(2, "2001:db8::1", 64, flags_attribute=0x40) + m.done(2),
    m.route(V4, oif=2, gateway="192.0.2.1", priority=10, table_attribute=254),
    m.route(V6, destination="2001:db8::", prefix=64, oif=2, priority=256) + m.error(5, -16),
    m.route(V4, extra=m.attr(m.RTA_MULTIPATH, m.nexthop(5, "10.0.0.1") + m.nexthop(6))),
    m.route(V4, oif=2, extra=m.attr(m.RTA_VIA, struct.pack("=H", V6) + m.ip("fe80::1"))),
]


def _parse_or_refuse(data: bytes) -> None:
    try:
        changes = parse(data)
    except NetlinkError:
        return
    assert isinstance(changes, list)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_netlink_error(data: bytes) -> None:
    _parse_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([2, 3, 16, 17, 20, 21, 24, 25]),
    st.integers(min_value=0, max_value=0xFFFF),
    st.binary(max_size=200),
)
def test_well_framed_messages_with_arbitrary_bodies(kind: int, flags: int, body: bytes) -> None:
    _parse_or_refuse(m.message(kind, body, flags=flags))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(
            st.sampled_from(["set", "cut", "insert", "delete"]),
            st.integers(min_value=0, max_value=400),
            st.integers(min_value=0, max_value=255),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_valid_datagrams_raise_only_netlink_error(
    data: bytes, mutations: list[tuple[str, int, int]]
) -> None:
    mutated = bytearray(data)
    for what, where, value in mutations:
        at = where % (len(mutated) + 1)
        if what == "set" and at < len(mutated):
            mutated[at] = value
        elif what == "cut":
            del mutated[at:]
        elif what == "insert":
            mutated[at:at] = bytes((value,))
        elif what == "delete" and at < len(mutated):
            del mutated[at]
    _parse_or_refuse(bytes(mutated))
