"""TCP and TLS flows: one connection per remote, transport and TLS identity.

Every user of a connection hears when it closes, so a registration notices a dead
flow and registers again on a new one (peers.md, complaint 3). TLS verifies the
server with the system CAs unless the profile names a CA file or, for labs, turns
verification off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from typing import Final, cast

from sipprofile.server.logs import SIP_TRACE
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.parser import Keepalive, StreamFramer

from .dispatch import Dispatcher
from .flow import CloseHandler, Flow, TlsSettings

_log = logging.getLogger(__name__)

#: RFC 5626 §4.4.1: a ping without a pong for this long means the flow is dead.
PONG_TIMEOUT: Final = 10.0
#: The double CRLF ping of RFC 5626 §3.5.1; the pong is a single CRLF.
PING: Final = b"\r\n\r\n"


class StreamFlow(Flow, asyncio.Protocol):
    """One TCP or TLS connection."""

    def __init__(
        self, transport_name: str, dispatcher: Dispatcher, pong_timeout: float = PONG_TIMEOUT
    ) -> None:
        self.transport = transport_name
        self._dispatcher = dispatcher
        self._framer = StreamFramer()
        self._stream: asyncio.Transport | None = None
        self._closed: str | None = None
        #: Subscriber token -> handler: thousands of registrations may share one
        #: connection, and each leaves it when it moves: removal must be O(1).
        self._handlers: dict[int, CloseHandler] = {}
        self._tokens = 0
        self.local = ("", 0)
        self.remote = ("", 0)
        self.pongs = 0
        self.pings = 0
        self._pong_timeout = pong_timeout
        self._interval: float | None = None
        self._keeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the connection and our end of it."""
        self._stream = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])
        peername = transport.get_extra_info("peername")
        if peername:
            self.remote = (peername[0], peername[1])

    def data_received(self, data: bytes) -> None:
        """Frame by Content-Length; a framing error ends the connection (RFC 3261 §18.3)."""
        try:
            items = self._framer.feed(data)
        except SipParseError as exc:
            self.close(f"the peer sent something that is not SIP: {exc}")
            return
        for item in items:
            if isinstance(item, Keepalive):
                self.pongs += 1
            else:
                if SIP_TRACE.enabled:  # as parsed: the framer keeps no bytes of its own
                    SIP_TRACE.received(self.transport, self.local, self.remote, item)
                # A failing handler costs its message, not the connection: raised out
                # of data_received, it would end the flow every registration on it uses.
                try:
                    self._dispatcher.deliver(item, self.send)
                except Exception:
                    _log.exception("a message from %s could not be handled", self.remote)

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell every user of the flow, once."""
        self._lost(str(exc) if exc else "the peer closed the connection")

    def _lost(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        if self._keeper is not None:
            self._keeper.cancel()
            self._keeper = None
        for handler in list(self._handlers.values()):
            with contextlib.suppress(Exception):
                handler(reason)
        self._handlers.clear()

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        return self._closed is not None

    def send(self, data: bytes) -> None:
        """Write to the connection, or report it dead."""
        if self._stream is None or self._stream.is_closing():
            self._lost("the connection is closed")
            return
        if SIP_TRACE.enabled:
            SIP_TRACE.sent(self.transport, self.local, self.remote, data)
        self._stream.write(data)

    def on_close(self, handler: CloseHandler) -> Callable[[], None]:
        """Subscribe to the connection's end."""
        if self._closed is not None:
            handler(self._closed)
            return lambda: None
        self._tokens += 1
        token = self._tokens
        self._handlers[token] = handler
        return lambda: self._handlers.pop(token, None) and None

    def watch(self, closed: CloseHandler, mapped: Callable[[str], None]) -> Callable[[], None]:
        """A connection has no NAT mapping to report: only its end."""
        return self.on_close(closed)

    def keep_alive(self, interval: float) -> None:
        """CRLF ping every 80-100 % of ``interval`` s; no pong in 10 s closes the flow.

        The users of the flow hear of the close and register again on a new one
        (RFC 5626 §4.4.1, §4.5). The shortest interval asked for wins.
        """
        if self._closed is not None or interval <= 0:
            return
        if self._interval is not None and self._interval <= interval:
            return
        self._interval = interval
        if self._keeper is not None:
            self._keeper.cancel()
        self._schedule_ping()

    def _schedule_ping(self) -> None:
        assert self._interval is not None
        delay = self._interval * random.uniform(0.8, 1.0)
        self._keeper = asyncio.get_running_loop().call_later(delay, self._ping)

    def _ping(self) -> None:
        pongs = self.pongs
        self.pings += 1
        self.send(PING)
        if self._closed is not None:
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self._pong_timeout, self._check_pong, pongs)
        self._schedule_ping()

    def _check_pong(self, pongs_before: int) -> None:
        if self._closed is None and self.pongs == pongs_before:
            self.close(f"no answer to the keep-alive in {self._pong_timeout:g} s")

    def close(self, reason: str = "closed by us") -> None:
        """Close the connection and tell its users."""
        if self._stream is not None:
            self._stream.close()
        self._lost(reason)


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """Verification on by default with the system CAs (peers that skip it are wrong)."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
