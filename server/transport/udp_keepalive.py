"""STUN keep-alives of UDP flows (RFC 5626 §4.4.2): one keeper per remote address.

Every registration towards one registrar shares the daemon's UDP socket, so the NAT
mapping to keep open, and the server to watch, belong to the remote address: its
keeper sends a STUN Binding request every 80-100 % of the shortest interval asked
for, retransmitted at 0.5, 1.5, 3.5 ... s while unanswered (RFC 5389 §7.2.1). The
answer says where the server sees us: a change of that address (the NAT mapped us
anew) is told to the flow's users, who register the new address; no answer within
``timeout`` seconds fails the flow, and its users register again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from .stun import binding_request, mapped_address

if TYPE_CHECKING:
    from .udp import Address, UdpEndpoint

#: No answer for this long (retransmissions included) fails the flow.
STUN_TIMEOUT: Final = 10.0
#: First retransmission of an unanswered request (RFC 5389 §7.2.1 RTO), then doubled.
STUN_RTO: Final = 0.5

MappedHandler = Callable[[str], None]
FailedHandler = Callable[[str], None]


class StunKeeper:
    """Keep-alives towards one remote: its users hear of new mappings and failure."""

    def __init__(self, endpoint: UdpEndpoint, remote: Address, timeout: float) -> None:
        self._endpoint = endpoint
        self._remote = remote
        #: Where answers must come from, as the kernel writes it (recvfrom's form).
        self._answerer = (str(ipaddress.ip_address(remote[0])), remote[1])
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self.interval: float | None = None
        self.mapped = ""  # "host:port" as the server last saw us
        self.sent = 0
        self.answered = 0
        #: Subscriber token -> (mapped handler, failed handler): removal is O(1) for
        #: the thousand registrations a registrar may share.
        self._users: dict[int, tuple[MappedHandler, FailedHandler]] = {}
        self._tokens = itertools.count()
        self._next: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._pending: bytes | None = None  # the transaction id awaiting its answer
        self._started = 0.0

    def subscribe(self, on_mapped: MappedHandler, on_failed: FailedHandler) -> Callable[[], None]:
        """Hear of new mappings and of failure; returns an unsubscribe function."""
        token = next(self._tokens)
        self._users[token] = (on_mapped, on_failed)
        return lambda: self._users.pop(token, None) and None

    def keep_alive(self, interval: float) -> None:
        """Ping at most every ``interval`` seconds (the shortest asked for wins)."""
        if interval <= 0 or (self.interval is not None and self.interval <= interval):
            return
        self.interval = interval
        if self._pending is None:
            self._schedule()

    def close(self) -> None:
        """Stop pinging and forget the users."""
        for handle in (self._next, self._retry):
            if handle is not None:
                handle.cancel()
        if self._pending is not None:
            self._endpoint.stun_waiters.pop(self._pending, None)
        self._pending = None
        self._users.clear()

    def _schedule(self) -> None:
        if self._next is not None:
            self._next.cancel()
        assert self.interval is not None
        self._next = self._loop.call_later(self.interval * random.uniform(0.8, 1.0), self._ping)

    def _ping(self) -> None:
        self._next = None
        tid = os.urandom(12)
        self._pending = tid
        self._started = self._loop.time()
        self._endpoint.stun_waiters[tid] = (self._answerer, self._answer)
        self._send(tid, STUN_RTO)

    def _send(self, tid: bytes, rto: float) -> None:
        if self._pending != tid:
            return
        if self._loop.time() - self._started >= self._timeout:
            self._fail(f"no answer to the STUN keep-alive in {self._timeout:g} s")
            return
        self.sent += 1
        self._endpoint.sendto(binding_request(tid), self._remote)
        wait = min(rto, self._timeout - (self._loop.time() - self._started))
        self._retry = self._loop.call_later(max(wait, 0.0), self._send, tid, rto * 2)

    def _answer(self, data: bytes) -> None:
        tid = self._pending
        if tid is None:
            return
        found = mapped_address(data, tid)
        if found is None:  # not the answer (error, garbage): keep waiting for it
            self._endpoint.stun_waiters[tid] = (self._answerer, self._answer)
            return
        self._pending = None
        if self._retry is not None:
            self._retry.cancel()
        self.answered += 1
        host, port = found
        mapped = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if mapped != self.mapped:
            first = not self.mapped
            self.mapped = mapped
            if not first:
                for on_mapped, _ in list(self._users.values()):
                    on_mapped(mapped)
        self._schedule()

    def _fail(self, reason: str) -> None:
        self._endpoint.stun_waiters.pop(self._pending or b"", None)
        self._pending = None
        for _, on_failed in list(self._users.values()):
            on_failed(reason)
        if self.interval is not None:
            self._schedule()  # keep trying: the users register again meanwhile
