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

``hold_back(bus, flush)`` serves the daemon, which holds signals back until the end
of a loop turn to merge and batch them (``server/bus/signals.py``): ``flush`` runs
before any other message is queued on the connection (a method reply, a call
dbus-fast makes itself), so nothing it holds is ever overtaken. ``drain(bus)`` sends
what is held and waits until the writer has written everything, before a disconnect.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)

#: Attribute of a writer holding the flush functions ``hold_back`` installed on it.
_HOOKS = "_sipprofile_hold_back"


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


def hold_back(bus: object, flush: Callable[[], None]) -> None:
    """Call ``flush`` before any message is queued on connected ``bus``.

    Every message dbus-fast sends (``MessageBus.send``, and through it replies and
    its own calls) is queued by the writer's ``schedule_write``; the guard wraps it.
    ``flush`` may send: its own messages pass through without calling it again as
    long as it empties what it holds before sending. Nothing is installed when the
    connection has no writer (not connected): there is nothing to overtake then.
    """
    writer = getattr(bus, "_writer", None)
    if writer is None:
        return
    hooks: list[Callable[[], None]] | None = getattr(writer, _HOOKS, None)
    if hooks is None:
        hooks = _guard_writer(writer)
    hooks.append(flush)


def _guard_writer(writer: Any) -> list[Callable[[], None]]:
    hooks: list[Callable[[], None]] = []
    schedule_write = writer.schedule_write

    def guarded(msg: Any = None, future: Any = None) -> None:
        if msg is not None:
            _run(hooks)
        schedule_write(msg, future)

    writer.schedule_write = guarded
    setattr(writer, _HOOKS, hooks)
    return hooks


def _run(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        try:
            hook()
        except Exception:  # what comes next must still go out
            _log.exception("sending held messages failed")


def flush_held(bus: object) -> None:
    """Send now what ``hold_back`` functions of ``bus`` hold."""
    _run(getattr(getattr(bus, "_writer", None), _HOOKS, []))


async def drain(bus: object, within: float = 1.0) -> None:
    """Send what is held, then wait (at most ``within`` seconds) until all is written.

    ``disconnect()`` shuts the socket at once; whatever the writer still queues is
    lost. Shutdown calls this first so the last status changes reach clients.
    """
    flush_held(bus)
    writer = getattr(bus, "_writer", None)
    if writer is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (
        getattr(writer, "buf", None) is not None or getattr(writer, "messages", None)
    ) and loop.time() < deadline:
        if not getattr(bus, "connected", False):
            return
        await asyncio.sleep(0.005)
