"""RFC 3263 §4 choices, without any lookup: which records to ask for, in which order.

The resolver (``resolve.py``) asks DNS; this module decides. Kept apart so the rules
(NAPTR services and ordering, the SRV names per transport, RFC 2782's weighted
order) are tested on plain values with a seeded random source, and the asyncio side
stays a sequence of lookups.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: NAPTR services we can use (RFC 3263 §4.1, RFC 3261 §26.2): transport per service.
NAPTR_SERVICES: Final = {"sip+d2u": "udp", "sip+d2t": "tcp", "sips+d2t": "tls"}
#: The SRV name prefix of each transport (RFC 3263 §4.2).
SRV_PREFIX: Final = {"udp": "_sip._udp.", "tcp": "_sip._tcp.", "tls": "_sips._tcp."}
#: Without NAPTR records, the transports tried by SRV, in our order of preference.
SRV_FALLBACK: Final = {False: ("udp", "tcp"), True: ("tls",)}
#: RFC 3263 §4.2 default ports.
DEFAULT_PORT: Final = {"udp": 5060, "tcp": 5060, "tls": 5061}
#: Longest NAPTR chain or CNAME detour followed; beyond it the name is a loop.
MAX_HOPS: Final = 8


class DnsError(Exception):
    """A lookup failed for a reason other than the name or record not existing.

    Here rather than beside the lookups so that catching it needs no dnspython.
    """


@dataclass(frozen=True, slots=True)
class NaptrChoice:
    """A usable NAPTR record: SRV-look up ``replacement`` for ``transport``."""

    order: int
    preference: int
    transport: str
    replacement: str


@dataclass(frozen=True, slots=True)
class SrvChoice:
    """One SRV record, as read: its ``target`` of "." means "no service here"."""

    priority: int
    weight: int
    port: int
    target: str


def default_transport(secure: bool) -> str:
    """What a URI naming no transport uses when DNS names none either (§4.1)."""
    return "tls" if secure else "udp"


def naptr_choices(
    records: Iterable[tuple[int, int, str, str, str]], *, secure: bool
) -> list[NaptrChoice]:
    """The NAPTR records to follow, best first (RFC 3263 §4.1, RFC 3403 §4.1).

    ``records`` are ``(order, preference, flags, service, replacement)``. Only
    terminal "s" records (the next step is SRV) for a SIP service over a transport we
    have are kept; a ``sips:`` URI keeps only ``SIPS+D2T``. Lower order first, then
    lower preference; equal records keep DNS's order.
    """
    found = []
    for order, preference, flags, service, replacement in records:
        transport = NAPTR_SERVICES.get(service.lower())
        if transport is None or flags.lower() != "s":
            continue
        if secure and transport != "tls":
            continue
        if not replacement or replacement == ".":
            continue
        found.append(NaptrChoice(order, preference, transport, replacement))
    found.sort(key=lambda c: (c.order, c.preference))
    return found


def srv_order(
    records: Sequence[SrvChoice], rng: Callable[[], float] = _random.random
) -> list[SrvChoice]:
    """The SRV records in the order to try them (RFC 2782, "Usage rules").

    Lowest priority first; within one priority, RFC 2782's weighted random order:
    the records of weight 0 are put first, a point is drawn between 0 and the sum of
    the weights, and the first record whose running sum reaches it is taken; again
    for the rest. So a record is taken with probability proportional to its weight,
    and those of weight 0 (a tiny chance each) come last. A target of "." (RFC 2782:
    the service is decidedly not available at this domain) is left out.
    """
    usable = [r for r in records if r.target not in ("", ".")]
    ordered: list[SrvChoice] = []
    for priority in sorted({r.priority for r in usable}):
        # zero weights first, as RFC 2782 says, so they get their small chance
        group = sorted((r for r in usable if r.priority == priority), key=lambda r: r.weight != 0)
        while group:
            point = rng() * sum(r.weight for r in group)
            running = 0
            pick = len(group) - 1  # only reached through rounding
            for index, record in enumerate(group):
                running += record.weight
                if running >= point:
                    pick = index
                    break
            ordered.append(group.pop(pick))
    return ordered


def srv_name(transport: str, domain: str) -> str:
    """``_sip._udp.example.com`` and the like, for ``transport`` at ``domain``."""
    return SRV_PREFIX[transport] + domain
