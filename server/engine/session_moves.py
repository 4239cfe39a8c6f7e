"""How a session gets its flow, and moves it: connecting, failover, the network.

The half of ``Session`` that deals with *where* REGISTERs go: resolving and opening
a flow with backoff (``_connect``), moving to a new flow when the old one closed or a
3xx named another hop (``_move``), failing over to the next server of an RFC 3263
list (``_fail_over``), and following the network: waiting while no access point is
up, registering again when one returns, switching to a preferred one
(``network_changed``, ``route_changed``). The other half, ``session.Session``, feeds
the SIP machine and reports its events.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from sipprofile.proto.schema import State
from sipprofile.server.sip.registration import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RegistrationConfig,
)
from sipprofile.server.sip.registration_events import TRANSPORT_FAILED, Retrying
from sipprofile.server.sip.uri import SipUri
from sipprofile.server.transport.flow import Flow, Target
from sipprofile.server.transport.resolve import ResolveError, resolve

from .access_point import NetworkPath
from .flag import Flag
from .pacing import Pacer
from .profile_config import extension_int, tls_policy
from .servers import Servers
from .session_reg_event import SessionRegEvent
from .status_batch import UNBOUND

_log = logging.getLogger(__name__)

#: The error of a registration whose access points are all down.
NETWORK_UNAVAILABLE = "NetworkUnavailable"


class SessionMoves(SessionRegEvent):
    """Connecting and moving, for ``Session`` (which sets every attribute below)."""

    __slots__ = ()

    _servers: Servers
    _hop: SipUri
    _moving: asyncio.Task[None] | None
    _unsent: str | None
    _unsubscribe: Callable[[], None]
    _path: NetworkPath | None
    _network_reason: str
    _wake: Flag
    _waiting: bool
    _reregister: bool
    _switched: bool
    _pacer: Pacer | None

    def _attach(self, flow: Flow, uri: SipUri) -> None:
        raise NotImplementedError

    def _config(self, flow: Flow, uri: SipUri) -> RegistrationConfig:
        raise NotImplementedError

    async def _connect(self, uri: SipUri, *, paced: bool = False) -> Flow | None:
        """Resolve and connect, retrying with backoff; None if stopped meanwhile.

        A registrar that cannot be resolved or reached is a temporary failure, as for
        peers that back off: ``retrying`` with 30 s x 2^n x (50-100 %), capped at 30 min.
        Once connected, the REGISTER to come waits for a slot of the engine's pacer
        (``paced``: it has one already): when a flow shared by thousands of
        registrations closes, they all come here at once.
        """
        base = extension_int(self.profile, "RetryBaseSeconds", BACKOFF_BASE)
        failures = 0
        while not self.done.is_set():
            path = self._path
            if path is None:  # no access point is up: wait until one is
                self._show_waiting()
                await self._until_woken(None)
                continue
            self._waiting = False
            if self._machine is None:
                self._status.now(state=State.REGISTERING)
            try:
                targets = await resolve(uri, tls_policy(self.profile))
                flow = await self._servers.open(self._flows, self._servers.resolved(targets), path)
            except (ResolveError, ConnectionError) as exc:
                error = "ResolveFailed" if isinstance(exc, ResolveError) else "TransportFailed"
                jitter = 0.5 + secrets.randbelow(501) / 1000
                delay = min(base * 2**failures, BACKOFF_CAP) * jitter
                failures += 1
                self._status.set(state=State.RETRYING)
                self._report_failure(error, str(exc))
                if await self._until_woken(delay):
                    return None
                continue
            if self._path == path:
                if paced or not await self._paced():
                    return flow
                return None
            # the network changed while connecting: connect again, the new way
        return None

    def _move(self, uri: SipUri) -> None:
        """Continue on a new flow: the old one closed, or a 3xx named another hop.

        The request in flight carries the old flow's Via and Contact, so it is not
        sent; once connected, the machine re-sends on the new flow with new ones.
        """
        self._flow = None
        if self._moving is not None and not self._moving.done():
            return
        self._moving = self._loop.create_task(self._rebind(uri))

    async def _rebind(self, uri: SipUri) -> None:
        flow = await self._connect(uri)
        if flow is None or self._machine is None:
            return
        self._attach(flow, uri)
        config = self._config(flow, uri)
        now = self._loop.time()
        events = self._machine.rebind(config, now, unsent=self._unsent)
        if self._reregister:  # the network came back or changed: now, whatever the backoff
            self._reregister = False
            events += self._machine.register(now)
        self._feed(events)

    def _fail_over(self, event: Retrying) -> bool:
        """Move to the registrar's next server at once (RFC 3263 §4.3); False if none.

        With no server left, the machine's backoff stands, and the session moves back
        to the start of a fresh resolution for the attempt after it.
        """
        rest = self._servers.failed()
        if self._machine is None:
            return False
        if not rest:
            self._move(self._hop)  # no send: the machine waits for its backoff
            return False
        if self._moving is not None and not self._moving.done():
            return True
        _log.info("profile %d: %s; trying the next server", self.profile.id, event.message)
        self._moving = self._loop.create_task(self._switch(rest))
        return True

    async def _switch(self, servers: list[Target]) -> None:
        path = self._path
        if path is None:  # the network went meanwhile: the wait for it has begun
            return
        try:
            flow = await self._servers.open(self._flows, servers, path)
        except ConnectionError as exc:  # none of them either: the backoff stands
            self._report_failure(TRANSPORT_FAILED, str(exc))
            return
        if self._machine is None or await self._paced():
            return
        # stopped while paced? Read anew, not as narrowed before the ``await``: mypyc
        # (this module is compiled) would check that stale narrowing and raise on None
        machine = self._current_machine()
        if machine is None:
            return
        self._attach(flow, self._hop)
        now = self._loop.time()
        self._feed(machine.rebind(self._config(flow, self._hop), now))
        self._feed(machine.register(now))

    async def _paced(self) -> bool:
        """Wait for a slot of the pacer; True if the session was stopped meanwhile."""
        pacer = self._pacer
        delay = 0.0 if pacer is None else pacer.delay(self._loop.time())
        if delay > 0 and not self.done.is_set():
            waiter = asyncio.ensure_future(self.done.wait())
            try:
                await asyncio.wait([waiter], timeout=delay)
            finally:
                waiter.cancel()
        return self.done.is_set()

    async def _until_woken(self, delay: float | None) -> bool:
        """Wait ``delay`` seconds (None: for ever) or until the network changes.

        True if the session was stopped meanwhile. A change of path ends the wait at
        once: a registration waiting out its backoff, or waiting for any network,
        tries again as soon as there is somewhere new to try.
        """
        if not self.done.is_set() and not self._wake.is_set():
            waiters = [
                asyncio.ensure_future(self.done.wait()),
                asyncio.ensure_future(self._wake.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        self._wake.clear()
        return self.done.is_set()

    # ---------------------------------------------------------------- network

    def network_changed(self, path: NetworkPath | None, reason: str = "") -> None:
        """The engine's choice of path changed: an access point came, went or changed.

        Gone: the registration waits for the network (``waiting-for-network``,
        ``deregistered`` with ``NetworkUnavailable``; holders stay). Back: it registers
        again at once. Another (a preferred interface came up, the one in use lost its
        address): it registers the new way, and the 200 OK's listing of the binding at
        the old address gets that one removed (make-before-break), then ``updated``.
        """
        self._network_reason = reason
        if path == self._path:
            return
        old, self._path = self._path, path
        self._wake.set()
        if self._machine is None or self.done.is_set():
            return  # the connect loop, if any, sees the new path when woken
        if path is None:
            self._show_waiting()
        elif old is not None:
            self._switched = True
        self._reregister = path is not None
        self._move(self._hop)

    def route_changed(self) -> None:
        """The default route changed: a registration that follows it registers again.

        Over UDP the source address may have changed (the Contact with it); the
        engine has closed the connections that followed the old route.
        """
        path = self._path
        if path is None or path.interface or self._machine is None or self.done.is_set():
            return
        self._switched = True
        self._reregister = True
        self._move(self._hop)

    def _show_waiting(self) -> None:
        """Enter ``waiting-for-network`` (once per outage): nothing is sent meanwhile."""
        if self._waiting:
            return
        self._waiting = True
        self._flow = None
        self._unsubscribe()
        self._unsubscribe = lambda: None
        if self._machine is not None:
            self._machine.suspend()
        self._end_watch()
        self._status.set(state=State.WAITING_FOR_NETWORK, **UNBOUND)
        self._report_failure(NETWORK_UNAVAILABLE, self._network_reason or "no network")
        self._feed([])  # the machine wants no timer now
