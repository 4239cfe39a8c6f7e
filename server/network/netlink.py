"""The rtnetlink messages we need, read and written without I/O.

Why by hand: the standard library has the socket but no message codec, and the few
messages the engine depends on (links, addresses, routes; see ``rtnetlink(7)``) are
small fixed structs followed by type-length-value attributes. Reading only what we
use, and skipping the rest, keeps this independent of the kernel version.

Why strict: a datagram is either read completely or refused with ``NetlinkError``
(never another exception), because a half-read datagram would leave the caller's view
silently wrong; refusing it lets the caller fetch everything again instead.

Everything is in host byte order, as the kernel writes it.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "NLMSG_DONE",
    "NLMSG_ERROR",
    "RTMGRP_IPV4_IFADDR",
    "RTMGRP_IPV4_ROUTE",
    "RTMGRP_IPV6_IFADDR",
    "RTMGRP_IPV6_ROUTE",
    "RTMGRP_LINK",
    "RTM_DELADDR",
    "RTM_DELLINK",
    "RTM_DELROUTE",
    "RTM_GETADDR",
    "RTM_GETLINK",
    "RTM_GETROUTE",
    "RTM_NEWADDR",
    "RTM_NEWLINK",
    "RTM_NEWROUTE",
    "AddressChange",
    "Change",
    "DumpDone",
    "DumpFailed",
    "LinkChange",
    "NetlinkError",
    "RouteChange",
    "dump_request",
    "parse",
]

# Multicast groups (bit masks for bind), <linux/rtnetlink.h>.
RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV4_ROUTE: Final = 0x40
RTMGRP_IPV6_IFADDR: Final = 0x100
RTMGRP_IPV6_ROUTE: Final = 0x400

# Message types.
NLMSG_NOOP: Final = 1
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_GETADDR: Final = 22
RTM_NEWROUTE: Final = 24
RTM_DELROUTE: Final = 25
RTM_GETROUTE: Final = 26

# Header flags.
NLM_F_REQUEST: Final = 0x1
NLM_F_DUMP_INTR: Final = 0x10
NLM_F_REPLACE: Final = 0x100
NLM_F_DUMP: Final = 0x300

# Link flags (<linux/if.h>) and attributes (<linux/if_link.h>).
IFF_UP: Final = 0x1
IFF_RUNNING: Final = 0x40
IFLA_IFNAME: Final = 3

# Address flags, scopes and attributes (<linux/if_addr.h>, <linux/rtnetlink.h>).
IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8
IFA_F_DADFAILED: Final = 0x08
IFA_F_TENTATIVE: Final = 0x40
RT_SCOPE_LINK: Final = 253

# Route types and attributes.
RTN_UNICAST: Final = 1
RTA_DST: Final = 1
RTA_OIF: Final = 4
RTA_GATEWAY: Final = 5
RTA_PRIORITY: Final = 6
RTA_MULTIPATH: Final = 9
RTA_TABLE: Final = 15
RTA_VIA: Final = 18

#: More messages than this in one datagram is not the kernel talking (a 64 KiB
#: datagram of header-only messages holds 4096).
MAX_MESSAGES: Final = 4096

_HEADER: Final = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_IFINFOMSG: Final = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG: Final = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG: Final = struct.Struct("=BBBBBBBBI")  # family, dst/src len, tos, table, ..., type
_RTATTR: Final = struct.Struct("=HH")  # len, type
_RTNEXTHOP: Final = struct.Struct("=HBBi")  # len, flags, hops, ifindex
_RTVIA_FAMILY: Final = struct.Struct("=H")
_INT: Final = struct.Struct("=i")
_U32: Final = struct.Struct("=I")
_NLA_TYPE_MASK: Final = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
_ADDRESS_SIZES: Final[dict[int, int]] = {int(socket.AF_INET): 4, int(socket.AF_INET6): 16}


class NetlinkError(ValueError):
    """A datagram that is not well-formed netlink: the caller should fetch afresh."""


@dataclass(frozen=True, slots=True)
class LinkChange:
    """A link appeared, changed or (``removed``) went away.

    ``up`` is IFF_UP and IFF_RUNNING together: administratively up *and* with carrier,
    since a link that is up without carrier (a cable out, a veth whose peer is down)
    carries no packets.
    """

    index: int
    name: str
    up: bool
    removed: bool


@dataclass(frozen=True, slots=True)
class AddressChange:
    """An address was added, changed (e.g. its DAD finished) or ``removed``.

    ``usable`` says whether a registration may be bound to it: not while IPv6 duplicate
    address detection is pending or has failed, and never an IPv6 link-local address
    (a SIP registrar is not on the link, and such an address needs a scope id).
    """

    index: int
    family: int
    address: str
    prefix: int
    usable: bool
    removed: bool


@dataclass(frozen=True, slots=True)
class RouteChange:
    """A unicast route was added, changed or ``removed``; ``destination`` None = default.

    ``replaces``: the route took the place of the one with the same destination and
    priority (``ip route replace``), which the kernel removed without a word.
    """

    family: int
    table: int
    destination: str | None
    prefix: int
    oif: int | None
    gateway: str | None
    priority: int
    removed: bool
    replaces: bool = False


@dataclass(frozen=True, slots=True)
class DumpDone:
    """The dump asked for with ``seq`` is complete."""

    seq: int


@dataclass(frozen=True, slots=True)
class DumpFailed:
    """The request ``seq`` failed (``errno``), or its dump was interrupted (EINTR).

    The kernel flags a dump whose tables changed while it was being written
    (NLM_F_DUMP_INTR); its answers may then miss objects, so it counts as failed.
    """

    seq: int
    errno: int


Change = LinkChange | AddressChange | RouteChange | DumpDone | DumpFailed

_BODIES: Final = {
    RTM_GETLINK: _IFINFOMSG,
    RTM_GETADDR: _IFADDRMSG,
    RTM_GETROUTE: _RTMSG,
}


def _align(length: int) -> int:
    """NLMSG_ALIGN and RTA_ALIGN: messages and attributes start on 4-byte boundaries."""
    return (length + 3) & ~3


def dump_request(message_type: int, family: int, seq: int) -> bytes:
    """A request for every link, address or route (RTM_GET*) of ``family``.

    The body is the fixed struct of that kind with only the family set: the kernel
    reads it (strictly, for some families) before it starts the dump.
    """
    body = _BODIES.get(message_type)
    if body is None:
        raise ValueError(f"not a dump request type: {message_type}")
    if not 0 <= family <= 0xFF:
        raise ValueError(f"not an address family: {family}")
    # The family is the first byte of all three structs; the rest stays zero.
    payload = bytes((family,)) + bytes(body.size - 1)
    flags = NLM_F_REQUEST | NLM_F_DUMP
    return _HEADER.pack(_HEADER.size + len(payload), message_type, flags, seq, 0) + payload


def parse(data: bytes) -> list[Change]:
    """Every change in one datagram, in order; unknown messages and attributes skipped."""
    changes: list[Change] = []
    offset = 0
    count = 0
    end = len(data)
    while offset < end:
        if end - offset < _HEADER.size:
            raise NetlinkError(f"truncated netlink header at byte {offset}")
        length, kind, flags, seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            raise NetlinkError(f"netlink message length {length} below the header size")
        if offset + length > end:
            raise NetlinkError(f"netlink message length {length} past the end of the datagram")
        count += 1
        if count > MAX_MESSAGES:
            raise NetlinkError(f"more than {MAX_MESSAGES} messages in one datagram")
        change = _message(data, offset + _HEADER.size, offset + length, kind, flags, seq)
        if change is not None:
            changes.append(change)
        offset += _align(length)
    return changes


def _message(data: bytes, start: int, end: int, kind: int, flags: int, seq: int) -> Change | None:
    """One message's change, or None for what we do not use."""
    if kind == NLMSG_DONE:
        # The body is the dump's final status (0, or a negative errno).
        status = _INT.unpack_from(data, start)[0] if end - start >= _INT.size else 0
        if status != 0:
            return DumpFailed(seq, abs(status))
        if flags & NLM_F_DUMP_INTR:
            return DumpFailed(seq, _errno.EINTR)
        return DumpDone(seq)
    if kind == NLMSG_ERROR:
        if end - start < _INT.size:
            raise NetlinkError("truncated netlink error message")
        status = _INT.unpack_from(data, start)[0]
        return DumpFailed(seq, abs(status)) if status != 0 else None  # 0 is an ACK
    if kind in (RTM_NEWLINK, RTM_DELLINK):
        return _link(data, start, end, kind == RTM_DELLINK)
    if kind in (RTM_NEWADDR, RTM_DELADDR):
        return _address(data, start, end, kind == RTM_DELADDR)
    if kind in (RTM_NEWROUTE, RTM_DELROUTE):
        replaces = kind == RTM_NEWROUTE and bool(flags & NLM_F_REPLACE)
        return _route(data, start, end, kind == RTM_DELROUTE, replaces)
    return None


def _fixed(data: bytes, start: int, end: int, body: struct.Struct) -> tuple[int, ...]:
    """The fixed struct at the start of a message's body."""
    if end - start < body.size:
        raise NetlinkError(f"message body of {end - start} bytes, {body.size} needed")
    values: tuple[int, ...] = body.unpack_from(data, start)
    return values


def _attributes(data: bytes, start: int, end: int) -> dict[int, bytes]:
    """The attributes between ``start`` and ``end`` by type (the last of a type wins)."""
    found: dict[int, bytes] = {}
    offset = start
    while offset < end:
        if end - offset < _RTATTR.size:
            raise NetlinkError(f"truncated attribute header at byte {offset}")
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > end:
            raise NetlinkError(f"attribute length {length} out of bounds at byte {offset}")
        found[kind & _NLA_TYPE_MASK] = data[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return found


def _u32(value: bytes) -> int:
    """A 32-bit unsigned attribute."""
    if len(value) != _U32.size:
        raise NetlinkError(f"32-bit attribute of {len(value)} bytes")
    number: int = _U32.unpack(value)[0]
    return number


def _ip(family: int, value: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 or IPv6 address attribute."""
    if len(value) != _ADDRESS_SIZES[family]:
        raise NetlinkError(f"address attribute of {len(value)} bytes for family {family}")
    return ipaddress.ip_address(value)


def _address_text(family: int, value: bytes) -> str:
    """An IPv4 or IPv6 address attribute as text."""
    return str(_ip(family, value))


def _link(data: bytes, start: int, end: int, removed: bool) -> LinkChange | None:
    family, _type, index, flags, _change = _fixed(data, start, end, _IFINFOMSG)
    if family != socket.AF_UNSPEC:
        # Per-family link news (a bridge port's state, IPv6 device settings) is not
        # about the link itself: an AF_BRIDGE RTM_DELLINK means "left the bridge".
        return None
    attributes = _attributes(data, start + _IFINFOMSG.size, end)
    name = attributes.get(IFLA_IFNAME, b"").split(b"\0", 1)[0]
    up = flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING
    return LinkChange(index, name.decode("utf-8", "surrogateescape"), up, removed)


def _address(data: bytes, start: int, end: int, removed: bool) -> AddressChange | None:
    family, prefix, flags8, scope, index = _fixed(data, start, end, _IFADDRMSG)
    if family not in _ADDRESS_SIZES:
        return None
    attributes = _attributes(data, start + _IFADDRMSG.size, end)
    raw = attributes.get(IFA_LOCAL, attributes.get(IFA_ADDRESS))
    if raw is None:
        raise NetlinkError("address message without an address")
    address = _ip(family, raw)
    # IFA_FLAGS, when present, holds all 32 flag bits; ifa_flags only the low 8.
    flags = _u32(attributes[IFA_FLAGS]) if IFA_FLAGS in attributes else flags8
    usable = not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
    if family == socket.AF_INET6 and (scope == RT_SCOPE_LINK or address.is_link_local):
        usable = False
    return AddressChange(index, family, str(address), prefix, usable, removed)


def _route(data: bytes, start: int, end: int, removed: bool, replaces: bool) -> RouteChange | None:
    family, dst_len, _src, _tos, table, _proto, _scope, kind, _flags = _fixed(
        data, start, end, _RTMSG
    )
    if kind != RTN_UNICAST or family not in _ADDRESS_SIZES:
        return None
    attributes = _attributes(data, start + _RTMSG.size, end)
    destination: str | None = None
    if dst_len:
        raw = attributes.get(RTA_DST, bytes(_ADDRESS_SIZES[family]))
        destination = _address_text(family, raw)
    oif = _u32(attributes[RTA_OIF]) if RTA_OIF in attributes else None
    gateway = _gateway(family, attributes)
    if oif is None and RTA_MULTIPATH in attributes:
        oif, gateway = _first_nexthop(family, attributes[RTA_MULTIPATH])
    return RouteChange(
        family=family,
        table=_u32(attributes[RTA_TABLE]) if RTA_TABLE in attributes else table,
        destination=destination,
        prefix=dst_len,
        oif=oif,
        gateway=gateway,
        priority=_u32(attributes[RTA_PRIORITY]) if RTA_PRIORITY in attributes else 0,
        removed=removed,
        replaces=replaces,
    )


def _gateway(family: int, attributes: dict[int, bytes]) -> str | None:
    """RTA_GATEWAY, or RTA_VIA (an IPv4 route through an IPv6 neighbour)."""
    if RTA_GATEWAY in attributes:
        return _address_text(family, attributes[RTA_GATEWAY])
    via = attributes.get(RTA_VIA)
    if via is None:
        return None
    if len(via) < _RTVIA_FAMILY.size:
        raise NetlinkError("truncated RTA_VIA attribute")
    via_family: int = _RTVIA_FAMILY.unpack_from(via)[0]
    if via_family not in _ADDRESS_SIZES:
        return None
    return _address_text(via_family, via[_RTVIA_FAMILY.size :])


def _first_nexthop(family: int, value: bytes) -> tuple[int | None, str | None]:
    """The first path of a multipath route: where its packets go when it is the only one.

    A multipath default route still says which interfaces carry the traffic; the first
    one is what the engine reports (the kernel balances over all of them).
    """
    if not value:
        return None, None
    if len(value) < _RTNEXTHOP.size:
        raise NetlinkError("truncated multipath next hop")
    length, _flags, _hops, index = _RTNEXTHOP.unpack_from(value)
    if length < _RTNEXTHOP.size or length > len(value):
        raise NetlinkError(f"multipath next hop length {length} out of bounds")
    nested = _attributes(value, _RTNEXTHOP.size, length)
    return (index if index > 0 else None), _gateway(family, nested)
