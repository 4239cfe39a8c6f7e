"""SIP over UDP, TCP and TLS: the asyncio side of the sans-I/O core.

A *flow* is where a registration's requests go and its responses come from: the
shared UDP socket of an address family plus a remote address, or one TCP/TLS
connection. Responses are routed back by the branch of their top Via, which the
registration chose. One connection is kept per remote, transport and TLS identity,
and every user of a connection hears when it closes, so a registration notices a
dead flow and registers again on a new one (peers.md, complaint 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, cast

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Headers, Request, Response
from sipprofile.server.sip.parser import Keepalive, StreamFramer, parse_message

_log = logging.getLogger(__name__)

ResponseHandler = Callable[[Response], None]
CloseHandler = Callable[[str], None]

CONNECT_TIMEOUT: Final = 10.0


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


class Dispatcher:
    """Routes responses to whoever sent the request with that branch."""

    def __init__(self) -> None:
        self._by_branch: dict[str, ResponseHandler] = {}

    def expect(self, branch: str, handler: ResponseHandler) -> None:
        """Deliver responses whose top Via has ``branch`` to ``handler``."""
        self._by_branch[branch] = handler

    def forget(self, branch: str) -> None:
        """Stop delivering for ``branch``."""
        self._by_branch.pop(branch, None)

    def deliver(self, data: bytes | Request | Response, reply: Callable[[bytes], None]) -> None:
        """Hand a received message to its handler; answer simple requests ourselves."""
        try:
            message = parse_message(data) if isinstance(data, bytes) else data
        except SipParseError as exc:
            _log.debug("dropped an unparsable datagram: %s", exc)
            return
        if isinstance(message, Request):
            answer = _answer_request(message)
            if answer is not None:
                reply(answer)
            return
        try:
            vias = message.via
        except (SipParseError, ValueError):
            return
        handler = self._by_branch.get(vias[0].branch or "") if vias else None
        if handler is not None:
            handler(message)


def _answer_request(request: Request) -> bytes | None:
    """OPTIONS pings get 200; other requests to our Contact are not ours to serve yet."""
    if request.method == "ACK":
        return None
    status, reason = (200, "OK") if request.method == "OPTIONS" else (501, "Not Implemented")
    headers = Headers()
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        for value in (
            request.headers.get_all(name) if name == "Via" else [request.headers.get(name) or ""]
        ):
            headers.add(name, value)
    return Response(status, reason, headers).to_bytes()


class UdpFlow(Flow):
    """The shared UDP socket, aimed at one remote address."""

    def __init__(self, endpoint: UdpEndpoint, remote: tuple[str, int], local_ip: str) -> None:
        self.transport = "udp"
        self._endpoint = endpoint
        self.remote = remote
        self.local = (local_ip, endpoint.port)

    def send(self, data: bytes) -> None:
        """Send one datagram."""
        self._endpoint.sendto(data, self.remote)

    def on_close(self, handler: CloseHandler) -> Callable[[], None]:
        """A UDP flow never closes; errors show up as transaction timeouts."""
        return lambda: None


class UdpEndpoint(asyncio.DatagramProtocol):
    """One UDP socket per address family, shared by every registration."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the socket and its port (the one our Via and Contact carry)."""
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        """Route a response; answer a ping."""
        self._dispatcher.deliver(data, lambda answer: self.sendto(answer, addr))

    def error_received(self, exc: Exception) -> None:
        """ICMP errors arrive here; the transaction's timer reports the failure."""
        _log.debug("UDP error: %s", exc)

    def sendto(self, data: bytes, remote: tuple[str, int]) -> None:
        """Send a datagram (dropped silently if the socket is closed)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, remote)

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()


class StreamFlow(Flow, asyncio.Protocol):
    """One TCP or TLS connection."""

    def __init__(self, transport_name: str, dispatcher: Dispatcher) -> None:
        self.transport = transport_name
        self._dispatcher = dispatcher
        self._framer = StreamFramer()
        self._stream: asyncio.Transport | None = None
        self._closed: str | None = None
        self._handlers: list[CloseHandler] = []
        self.local = ("", 0)
        self.pongs = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the connection and our end of it."""
        self._stream = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        self.local = (sockname[0], sockname[1])

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
                self._dispatcher.deliver(item, self.send)

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell every user of the flow, once."""
        self._lost(str(exc) if exc else "the peer closed the connection")

    def _lost(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for handler in list(self._handlers):
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
        self._stream.write(data)

    def on_close(self, handler: CloseHandler) -> Callable[[], None]:
        """Subscribe to the connection's end."""
        if self._closed is not None:
            handler(self._closed)
            return lambda: None
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler) if handler in self._handlers else None

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


class Flows:
    """Every socket and connection of the daemon."""

    def __init__(self) -> None:
        self.dispatcher = Dispatcher()
        self._udp: dict[int, UdpEndpoint] = {}
        self._streams: dict[Target, StreamFlow] = {}
        self._connecting: dict[Target, asyncio.Future[StreamFlow]] = {}

    async def flow(self, target: Target) -> Flow:
        """A flow to ``target``: the shared UDP socket, or a (reused) connection."""
        if target.transport == "udp":
            return await self._udp_flow(target)
        existing = self._streams.get(target)
        if existing is not None and not existing.closed:
            return existing
        pending = self._connecting.get(target)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(target))
            self._connecting[target] = pending
            pending.add_done_callback(lambda _: self._connecting.pop(target, None))
        return await asyncio.shield(pending)

    async def _udp_flow(self, target: Target) -> UdpFlow:
        family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
        endpoint = self._udp.get(family)
        if endpoint is None:
            loop = asyncio.get_running_loop()
            bind = "::" if family == socket.AF_INET6 else "0.0.0.0"
            _, endpoint = await loop.create_datagram_endpoint(
                lambda: UdpEndpoint(self.dispatcher), local_addr=(bind, 0), family=family
            )
            self._udp[family] = endpoint
        return UdpFlow(endpoint, (target.address, target.port), local_ip_for(target.address))

    async def _connect(self, target: Target) -> StreamFlow:
        loop = asyncio.get_running_loop()
        context = tls_context(target.tls) if target.tls else None
        server_hostname = target.tls.server_name if target.tls else None
        try:
            _, flow = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamFlow(target.transport, self.dispatcher),
                    target.address,
                    target.port,
                    ssl=context,
                    server_hostname=server_hostname,
                ),
                CONNECT_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise ConnectionError(
                f"cannot connect to {target.transport}:{target.address}:{target.port}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        self._streams[target] = flow

        def forget(_reason: str) -> None:
            if self._streams.get(target) is flow:
                del self._streams[target]

        flow.on_close(forget)
        return flow

    def close(self) -> None:
        """Close every socket and connection."""
        for flow in list(self._streams.values()):
            flow.close("shutting down")
        self._streams.clear()
        for endpoint in self._udp.values():
            endpoint.close()
        self._udp.clear()


def local_ip_for(remote: str) -> str:
    """The source address the kernel would use towards ``remote`` (no packet is sent)."""
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"
