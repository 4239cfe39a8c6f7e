"""rtnetlink messages built by hand, from the kernel headers, for the codec's tests.

Written apart from ``sipprofile.server.network.netlink`` (its constants are not used
here), so a mistake in the codec cannot be mirrored by the messages that test it.
All numbers are from <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_addr.h>,
<linux/if_link.h> and <linux/if.h>; host byte order, as the kernel writes them.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

HEADER = struct.Struct("=IHHII")  # nlmsghdr
IFINFOMSG = struct.Struct("=BxHiII")
IFADDRMSG = struct.Struct("=BBBBI")
RTMSG = struct.Struct("=BBBBBBBBI")

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_REPLACE = 0x2, 0x10, 0x100
RTM_NEWLINK, RTM_DELLINK = 16, 17
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
IFF_UP, IFF_BROADCAST, IFF_RUNNING, IFF_MULTICAST, IFF_LOWER_UP = 0x1, 0x2, 0x40, 0x1000, 0x10000
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU = 1, 3, 4
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 6, 8
IFA_F_DADFAILED, IFA_F_TENTATIVE, IFA_F_PERMANENT = 0x08, 0x40, 0x80
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
RTN_UNICAST, RTN_LOCAL, RTN_BLACKHOLE = 1, 2, 6
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 4, 5, 6, 7
RTA_MULTIPATH, RTA_TABLE, RTA_VIA = 9, 15, 18
RTPROT_BOOT, RTPROT_KERNEL = 3, 2


def align(length: int) -> int:
    return (length + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + bytes(align(length) - length)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def message(kind: int, body: bytes, *, flags: int = 0, seq: int = 0, pad: bool = True) -> bytes:
    """One nlmsghdr and body; ``pad`` adds the alignment after an odd-sized body."""
    length = HEADER.size + len(body)
    raw = HEADER.pack(length, kind, flags, seq, 0) + body
    return raw + bytes(align(length) - length) if pad else raw


def link(
    index: int,
    name: str,
    flags: int,
    *,
    kind: int = RTM_NEWLINK,
    family: int = 0,
    extra: bytes = b"",
    seq: int = 0,
) -> bytes:
    body = IFINFOMSG.pack(family, 1, index, flags, 0)  # ARPHRD_ETHER
    body += u32(IFLA_MTU, 1500) + attr(IFLA_IFNAME, name.encode() + b"\0") + extra
    return message(kind, body, seq=seq)


def address(
    index: int,
    text: str,
    prefix: int,
    *,
    kind: int = RTM_NEWADDR,
    flags: int = IFA_F_PERMANENT,
    scope: int = RT_SCOPE_UNIVERSE,
    local: str | None = None,
    flags_attribute: int | None = None,
    family: int | None = None,
) -> bytes:
    if family is None:
        family = socket.AF_INET6 if ":" in text else socket.AF_INET
    body = IFADDRMSG.pack(family, prefix, flags & 0xFF, scope, index) + attr(IFA_ADDRESS, ip(text))
    if local is not None:
        body += attr(IFA_LOCAL, ip(local))
    body += attr(IFA_CACHEINFO, bytes(16))
    if flags_attribute is not None:
        body += u32(IFA_FLAGS, flags_attribute)
    return message(kind, body)


def route(
    family: int,
    *,
    kind: int = RTM_NEWROUTE,
    destination: str | None = None,
    prefix: int = 0,
    table: int = 254,
    table_attribute: int | None = None,
    oif: int | None = None,
    gateway: str | None = None,
    priority: int | None = None,
    type_: int = RTN_UNICAST,
    flags: int = 0,
    extra: bytes = b"",
) -> bytes:
    body = RTMSG.pack(family, prefix, 0, 0, table, RTPROT_BOOT, RT_SCOPE_UNIVERSE, type_, 0)
    if table_attribute is not None:
        body += u32(RTA_TABLE, table_attribute)
    if destination is not None:
        body += attr(RTA_DST, ip(destination))
    if priority is not None:
        body += u32(RTA_PRIORITY, priority)
    if gateway is not None:
        body += attr(RTA_GATEWAY, ip(gateway))
    if oif is not None:
        body += u32(RTA_OIF, oif)
    return message(kind, body + extra, flags=flags)


def nexthop(index: int, gateway: str | None = None) -> bytes:
    """One struct rtnexthop with its attributes, for RTA_MULTIPATH."""
    attributes = attr(RTA_GATEWAY, ip(gateway)) if gateway is not None else b""
    return struct.pack("=HBBi", 8 + len(attributes), 0, 0, index) + attributes


def done(seq: int, status: int = 0, *, flags: int = NLM_F_MULTI) -> bytes:
    return message(NLMSG_DONE, struct.pack("=i", status), flags=flags, seq=seq)


def error(seq: int, status: int) -> bytes:
    """NLMSG_ERROR: the status, then the request's header (as the kernel echoes it)."""
    return message(
        NLMSG_ERROR, struct.pack("=i", status) + HEADER.pack(20, 18, 0x301, seq, 0), seq=seq
    )
