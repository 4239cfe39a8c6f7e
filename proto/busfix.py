"""A guard for dbus-fast's asyncio writer, used by the daemon and the client library.

dbus-fast (5.2.0 and earlier) sends a queued message at once when its queue is empty,
and treats ``EAGAIN`` from that first ``send`` as a fatal error: the whole bus
connection is closed. It happens whenever the socket towards dbus-daemon is still
full from a large message (a 10 MB ``GetManagedObjects`` reply) and the next message
follows immediately; the same flaw was reported against dbus-next (issue 153).

``harden(bus)`` wraps the writer's socket so that a send that would block reports
0 bytes sent; the writer then waits for the socket to become writable, as it already
does after a partial send. It lives in ``proto`` because that is the one package both
the daemon and the client library depend on.
"""

from __future__ import annotations

import socket
from typing import Any


class _NonBlockingSend:
    """A socket whose ``send`` answers 0 instead of raising when it would block."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return self._sock.send(data, flags)
        except (BlockingIOError, InterruptedError):
            return 0

    def __getattr__(self, name: str) -> Any:
        # sendmsg (file descriptors) and everything else pass through unchanged:
        # dbus-fast drops the descriptors after a sendmsg, so 0 would lose them.
        return getattr(self._sock, name)


def harden(bus: object) -> None:
    """Apply the guard to a connected ``dbus_fast.aio.MessageBus`` (idempotent)."""
    writer = getattr(bus, "_writer", None)
    if writer is None or isinstance(writer.sock, _NonBlockingSend):
        return
    writer.sock = _NonBlockingSend(writer.sock)
