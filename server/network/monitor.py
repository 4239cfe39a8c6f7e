"""The one rtnetlink socket: events in, ``NetworkState`` kept current, subscribers told.

Why a dump and events on one socket: the socket joins the multicast groups before it
asks for the dumps, so nothing that happens meanwhile is missed, and the kernel
writes dump answers and events into the same queue in the order they happened, so
folding everything in arrival order gives the current state.

Why re-read everything sometimes: the kernel drops events when our receive buffer
is full (ENOBUFS), and it removes IPv4 routes without telling anyone when their link
is set down or loses its last IPv4 address, or when ``ip route replace`` swaps one
in. After each of these the monitor dumps everything again, on a new socket, into a
fresh ``NetworkState``, and swaps it in once complete; until then the old one keeps
answering.

Why subscribers hear of a burst once: a link going down brings a dozen messages
(link, addresses, routes, the peer...); subscribers run once, ``SETTLE`` seconds
after the first change that altered an answer, and read the state themselves.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Callable
from typing import Final

from .netlink import (
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
    AddressChange,
    Change,
    DumpDone,
    DumpFailed,
    LinkChange,
    NetlinkError,
    RouteChange,
    dump_request,
    parse,
)
from .state import MAIN_TABLE, DefaultRoute, Interface, NetworkState

__all__ = ["SETTLE", "NetworkMonitor"]

_log = logging.getLogger(__name__)

#: Seconds between the first change of a burst and the subscribers' callbacks.
SETTLE: Final = 0.05
#: Receive buffer asked for (the kernel caps it at net.core.rmem_max): a dump and a
#: burst of events (a bridge with many ports going down) must fit.
RECEIVE_BUFFER: Final = 4 * 1024 * 1024
#: Seconds a dump may take before the attempt counts as failed.
DUMP_TIMEOUT: Final = 10.0
#: Attempts ``open`` makes when dumps fail (interrupted by changes, events dropped).
OPEN_ATTEMPTS: Final = 3
#: Seconds between attempts at re-reading everything in the background.
RETRY_DELAY: Final = 1.0

_GROUPS: Final = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
)
_DUMPS: Final = (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE)
# Larger than any datagram the kernel writes (dumps come in pieces of at most 32 KiB).
_DATAGRAM: Final = 64 * 1024

_Answers = tuple[tuple[Interface, ...], tuple[DefaultRoute, ...]]


class _Interrupted(Exception):
    """A dump that did not complete: its results cannot be trusted."""


def _open_socket() -> socket.socket:
    """A non-blocking rtnetlink socket in our groups; OSError without netlink."""
    sock = socket.socket(
        socket.AF_NETLINK,
        socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
        socket.NETLINK_ROUTE,
    )
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError as error:  # best effort: the default works, with more resyncs
            _log.debug("network: cannot enlarge the netlink receive buffer: %s", error)
        sock.bind((0, _GROUPS))
    except BaseException:
        sock.close()
        raise
    return sock


def _strerror(number: int) -> str:
    """``os.strerror`` for any number a datagram may claim."""
    try:
        return os.strerror(number)
    except (ValueError, OverflowError):
        return f"error {number}"


def _answers(state: NetworkState) -> _Answers:
    return state.interfaces(), state.default_routes()


class NetworkMonitor:
    """Links, addresses and default routes, kept current from rtnetlink events."""

    state: NetworkState

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Not for direct use: ``open`` returns a monitor whose state is complete."""
        self.state = NetworkState()
        self._loop = loop
        self._socket: socket.socket | None = None
        # Where changes go: ``state``, or during a dump the fresh state being filled.
        self._target = self.state
        # The links of ``_target`` that are up, by index: for logging and resyncs.
        self._up: dict[int, str] = {}
        self._syncing = False
        self._seq = 0
        self._waiter: tuple[int, asyncio.Future[None]] | None = None
        self._subscribers: dict[int, Callable[[], None]] = {}
        self._next_token = 0
        self._timer: asyncio.TimerHandle | None = None
        self._dirty = False  # an answer changed since subscribers last ran
        self._reread = False  # the routes must be read again once things settle
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def open(cls) -> NetworkMonitor:
        """Subscribe to rtnetlink and read every link, address and route.

        Raises OSError when netlink is unavailable or keeps failing: the caller then
        does without access points.
        """
        monitor = cls(asyncio.get_running_loop())
        try:
            for attempt in range(1, OPEN_ATTEMPTS + 1):
                try:
                    await monitor._synchronise(initial=True)
                except _Interrupted as error:
                    _log.debug("network: initial dump, attempt %d: %s", attempt, error)
                    if monitor._closed:
                        break
                    continue
                return monitor
            raise OSError(errno.EIO, "reading the network interfaces through netlink failed")
        except BaseException:
            monitor.close()
            raise

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each settled burst of changes; returns the undo."""
        token = self._next_token
        self._next_token += 1
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    def close(self) -> None:
        """Stop watching: no more callbacks. Safe to call twice."""
        self._closed = True
        self._detach()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._fail_waiter("the monitor was closed")

    # Reading everything.

    async def _synchronise(self, initial: bool) -> None:
        """One attempt: a new socket, the three dumps into a fresh state, the swap."""
        if self._closed:
            raise _Interrupted("the monitor was closed")
        sock = _open_socket()
        self._detach()
        self._socket = sock
        self._loop.add_reader(sock.fileno(), self._on_readable)
        fresh = NetworkState()
        old_up = self._up
        self._target, self._up, self._syncing = fresh, {}, True
        try:
            for kind in _DUMPS:
                await self._dump(sock, kind)
        except BaseException:
            self._target, self._up = self.state, old_up
            raise
        finally:
            self._syncing = False
        before = _answers(self.state)
        self.state = fresh
        if initial:
            interfaces = ", ".join(view.name for view in fresh.interfaces()) or "none"
            _log.info("network: watching interfaces; usable now: %s", interfaces)
            return
        for index, name in old_up.items():
            if index not in self._up:
                _log.info("network: interface %s is down", name)
        for index, name in self._up.items():
            if index not in old_up:
                _log.info("network: interface %s is up", name)
        if _answers(fresh) != before:
            self._changed()

    async def _dump(self, sock: socket.socket, kind: int) -> None:
        self._seq += 1
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiter = (self._seq, future)
        try:
            try:
                sock.send(dump_request(kind, socket.AF_UNSPEC, self._seq))
            except OSError as error:
                raise _Interrupted(f"cannot ask for a dump: {error}") from error
            try:
                await asyncio.wait_for(future, DUMP_TIMEOUT)
            except TimeoutError:
                raise _Interrupted(f"no complete dump in {DUMP_TIMEOUT} s") from None
        finally:
            self._waiter = None

    def _fail_waiter(self, reason: str) -> bool:
        """End the dump being waited for with a failure; False if none is."""
        waiter = self._waiter
        if waiter is None or waiter[1].done():
            return False
        waiter[1].set_exception(_Interrupted(reason))
        return True

    def _lost(self, reason: str) -> None:
        """The socket's news can no longer be trusted: start over on a new one."""
        self._detach()
        if not self._fail_waiter(reason):  # else the running attempt fails and retries
            self._resync(reason)

    def _resync(self, reason: str) -> None:
        """Read everything again in the background (unless that is already going on).

        A reading that is going on started after ``reason`` arose, so it sees its
        outcome.
        """
        if self._closed or self._syncing or (self._task is not None and not self._task.done()):
            return
        _log.debug("network: reading every interface again: %s", reason)
        self._task = self._loop.create_task(self._resync_until_done())

    async def _resync_until_done(self) -> None:
        while not self._closed:
            try:
                await self._synchronise(initial=False)
                return
            except (OSError, _Interrupted) as error:
                _log.warning(
                    "network: reading the interfaces again failed (%s); retrying in %s s",
                    error,
                    RETRY_DELAY,
                )
                self._detach()
            await asyncio.sleep(RETRY_DELAY)

    def _detach(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    # Events.

    def _on_readable(self) -> None:
        """Drain the socket: every datagram that is ready, then back to the loop."""
        sock = self._socket
        while sock is not None and sock is self._socket:
            try:
                data, address = sock.recvfrom(_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                if error.errno == errno.ENOBUFS:
                    _log.warning("network: the kernel dropped network events; re-reading")
                    reason = "events were dropped (receive buffer overrun)"
                else:
                    _log.warning("network: netlink receive failed: %s; re-reading", error)
                    reason = f"receive failed: {error}"
                self._lost(reason)
                return
            if address[0] != 0:
                # Only the kernel speaks for the network; any process may send to us.
                _log.debug("network: ignored a datagram from netlink port %s", address[0])
                continue
            try:
                changes = parse(data)
            except NetlinkError as error:
                _log.warning("network: malformed netlink datagram (%s); re-reading", error)
                self._lost(f"malformed datagram: {error}")
                return
            for change in changes:
                self._handle(change)

    def _handle(self, change: Change) -> None:
        if isinstance(change, (DumpDone, DumpFailed)):
            waiter = self._waiter
            if waiter is None or waiter[0] != change.seq or waiter[1].done():
                return
            if isinstance(change, DumpDone):
                waiter[1].set_result(None)
            else:
                waiter[1].set_exception(_Interrupted(f"dump failed: {_strerror(change.errno)}"))
            return
        _log.debug("network: %s", change)
        changed = self._target.apply(change)
        self._track(change)
        if changed and not self._syncing:
            self._changed()

    def _track(self, change: Change) -> None:
        """Note links going up and down, and what the kernel may follow up silently.

        Routes are read again after news of a link that is down and carries a default
        route (it may have been set down: not running, we cannot tell), after an IPv4
        address of such a link is removed, and after a default route was replaced.
        """
        if isinstance(change, LinkChange):
            was = self._up.pop(change.index, None)
            if change.up and not change.removed:
                self._up[change.index] = change.name
            if self._syncing:
                return
            if was is None and change.up and not change.removed:
                _log.info("network: interface %s is up", change.name)
            elif was is not None and change.index not in self._up:
                now = "removed" if change.removed else "down"
                _log.info("network: interface %s is %s", change.name or was, now)
            if (
                not change.up
                and not change.removed
                and self._target.has_default_route_via(change.index)
            ):
                self._reread_later()
        elif isinstance(change, AddressChange):
            if (
                change.removed
                and change.family == socket.AF_INET
                and not self._syncing
                and self._target.has_default_route_via(change.index)
            ):
                self._reread_later()
        elif (
            isinstance(change, RouteChange)
            and change.replaces
            and change.destination is None
            and change.table == MAIN_TABLE
            and not self._syncing
        ):
            self._reread_later()

    # Telling the subscribers.

    def _changed(self) -> None:
        self._dirty = True
        self._arm()

    def _reread_later(self) -> None:
        # After the burst: by then the kernel has finished removing what it removes.
        self._reread = True
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = self._loop.call_later(SETTLE, self._settled)

    def _settled(self) -> None:
        self._timer = None
        if self._reread:
            self._reread = False
            self._resync("the kernel may have removed routes without notice")
        if not self._dirty:
            return
        self._dirty = False
        for callback in list(self._subscribers.values()):
            try:
                callback()
            except Exception:
                _log.exception("network: a subscriber failed")
