"""What every flow is: where a registration's requests go and its responses come from.

A *flow* is the shared UDP socket of an address family plus a remote address, or one
TCP/TLS connection. What a flow receives goes to the ``dispatch.Dispatcher``, which
finds the registration that waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

CloseHandler = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How to check the server: system CAs by default, a CA file, or (labs) nothing."""

    server_name: str
    ca_file: str | None = None
    verify: bool = True


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved next hop."""

    transport: str  # "udp", "tcp" or "tls"
    address: str  # an IP address
    port: int
    tls: TlsSettings | None = None


class Flow:
    """Somewhere to send requests; ``local`` is our address as the peer will see it."""

    transport: str
    local: tuple[str, int]
    #: The peer's address, as connected or sent to.
    remote: tuple[str, int]

    @property
    def reliable(self) -> bool:
        """Whether the transport retransmits for us (TCP, TLS)."""
        return self.transport != "udp"

    def send(self, data: bytes) -> None:
        """Queue ``data``; failures surface through the close handlers."""
        raise NotImplementedError

    def on_close(self, handler: CloseHandler) -> Callable[[], None]:
        """Call ``handler(reason)`` when the flow dies; returns an unsubscribe function."""
        raise NotImplementedError

    def on_mapped(self, handler: Callable[[str], None]) -> Callable[[], None]:
        """Hear the ``host:port`` a NAT maps the flow to, when it changes (UDP only)."""
        return lambda: None

    def watch(self, closed: CloseHandler, mapped: Callable[[str], None]) -> Callable[[], None]:
        """``on_close`` and ``on_mapped`` at once, ended by one function (a session's).

        What a registration subscribes to, held for its whole life by each of
        thousands: flows override it to keep one entry per user instead of two.
        """
        stop_closed = self.on_close(closed)
        stop_mapped = self.on_mapped(mapped)

        def stop() -> None:
            stop_closed()
            stop_mapped()

        return stop

    def keep_alive(self, interval: float) -> None:
        """Keep the flow alive, and find out when it is not, every ``interval`` seconds.

        RFC 5626 §4.4.1; the shortest interval asked for by the flow's users wins.
        Nothing by default; TCP/TLS flows ping with CRLF, UDP flows with STUN.
        """
