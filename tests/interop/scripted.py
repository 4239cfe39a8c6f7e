"""A scripted SIP registrar: the fault cases a real registrar will not produce on demand.

``ScriptedRegistrar`` listens on 127.0.0.1 (UDP or TCP, a free port), records every
request it receives, and answers each REGISTER by the next *handler* of its script:
``handler(request) -> list[Response] | None``. ``None`` or ``[]`` drops the request;
several responses are sent in order (duplicates, strays). When the script is empty
the ``default`` handler answers (200 OK echoing the Contact with the requested
expiry). Responses for any request can also be sent at any time with ``send``.

Responses are built as RFC 3261 §8.2.6 says: Via (all of them), From, To (with our
tag added), Call-ID and CSeq copied from the request.

Fixtures: ``scripted_registrar`` (one UDP registrar) and ``scripted_registrar_factory``
(``await factory(transport="udp" | "tcp")`` for more; all closed at teardown). Request
them *before* ``daemon`` in a test's arguments so they outlive it: the daemon
deregisters at shutdown and an unanswered un-REGISTER costs its 4 s grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import cast

import pytest

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.headers import NameAddr, parse_name_addr
from sipprofile.server.sip.message import Headers, Request, Response
from sipprofile.server.sip.parser import Keepalive, StreamFramer, parse_message
from sipprofile.server.transport.stun import MAGIC_COOKIE, is_stun, transaction_id

Handler = Callable[[Request], list[Response] | None]

REASONS = {
    100: "Trying",
    200: "OK",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Server Time-out",
}


# ---------------------------------------------------------------------- responses


def response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    to_tag: str = "scripted",
) -> Response:
    """A response to ``request``: Via, From, To (+tag), Call-ID, CSeq, then ``headers``."""
    out = Headers()
    for via in request.headers.get_all("Via"):
        out.add("Via", via)
    out.add("From", request.headers.get("From", ""))
    to = request.to
    if to.param("tag") is None:
        to = to.with_param("tag", to_tag)
    out.add("To", str(to))
    out.add("Call-ID", request.call_id)
    out.add("CSeq", request.headers.get("CSeq", ""))
    for name, value in headers:
        out.add(name, value)
    return Response(status, REASONS.get(status, "Whatever") if reason is None else reason, out)


def requested_expiry(request: Request, contact: NameAddr | None = None) -> int:
    """The expiry a REGISTER asks for: the Contact's ``expires``, else Expires, else 3600."""
    if contact is not None:
        value = contact.param("expires")
        if value and value.isdigit():
            return int(value)
    value = (request.headers.get("Expires") or "").strip()
    return int(value) if value.isdigit() else 3600


def contacts_of(request: Request) -> list[NameAddr]:
    """Every Contact of a request, parsed."""
    return [parse_name_addr(v) for v in request.headers.get_all("Contact")]


def ok(
    request: Request,
    *,
    expires: int | None = None,
    others: Iterable[str] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """200 OK listing the request's Contacts with ``;expires=`` (``expires`` or requested).

    ``others`` are further Contact header values (other bindings of the AOR), listed
    before and after ours (the first half before): a registrar lists every binding.
    """
    extra = list(others)
    before, after = extra[: len(extra) // 2], extra[len(extra) // 2 :]
    ours = []
    for contact in contacts_of(request):
        if contact.is_wildcard:
            continue
        granted = requested_expiry(request, contact) if expires is None else expires
        ours.append(str(contact.with_param("expires", str(granted))))
    lines = [("Contact", value) for value in [*before, *ours, *after]]
    return response(request, 200, headers=[*lines, *headers])


def challenge(request: Request, realm: str = "example.test", nonce: str | None = None) -> Response:
    """401 with a digest challenge (MD5, qop=auth)."""
    nonce = nonce or secrets.token_hex(8)
    value = f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'
    return response(request, 401, headers=[("WWW-Authenticate", value)])


# ---------------------------------------------------------------------- handlers


def drop(_request: Request) -> list[Response] | None:
    """A handler that does not answer."""
    return None


def default_handler(request: Request) -> list[Response] | None:
    """200 OK echoing the Contact with the requested expiry."""
    return [ok(request)]


def reply(status: int, reason: str | None = None, **headers: str) -> Handler:
    """A handler answering ``status`` with extra headers (``Retry_After="1"``)."""
    extra = [(name.replace("_", "-"), value) for name, value in headers.items()]

    def handler(request: Request) -> list[Response] | None:
        return [response(request, status, reason, headers=extra)]

    return handler


def grant(expires: int | None = None, others: Iterable[str] = ()) -> Handler:
    """A handler answering 200 OK (``ok``) with ``expires`` and other bindings."""
    listed = tuple(others)

    def handler(request: Request) -> list[Response] | None:
        return [ok(request, expires=expires, others=listed)]

    return handler


def bindings_behind_nat(public: tuple[str, int] | None) -> tuple[dict[str, int], Handler]:
    """A registrar that keeps bindings (RFC 3261 §10.3) and, with ``public``, says in
    the top Via (received/rport) that the request came from there: a NAT."""
    bindings: dict[str, int] = {}

    def handler(request):
        for contact in contacts_of(request):
            expires = requested_expiry(request, contact)
            if expires == 0:
                bindings.pop(contact.uri, None)
            else:
                bindings[contact.uri] = expires
        answer = response(
            request,
            200,
            headers=[("Contact", f"<{uri}>;expires={n}") for uri, n in bindings.items()],
        )
        if public is not None:
            top = request.via[0].with_param("received", public[0])
            answer.headers.set("Via", str(top.with_param("rport", str(public[1]))))
        return [answer]

    return bindings, handler


# ---------------------------------------------------------------------- the server


@dataclass(frozen=True, slots=True)
class Received:
    """One request as it arrived: parsed, when (``loop.time()``), from where, how.

    ``data`` is the datagram as received (UDP) or the message re-serialised (TCP).
    """

    request: Request
    at: float
    source: tuple[str, int]
    transport: str
    data: bytes

    @property
    def branch(self) -> str | None:
        return self.request.via[0].branch

    @property
    def cseq(self) -> int:
        return self.request.cseq[0]


@dataclass(eq=False)
class ScriptedRegistrar:
    """A registrar that answers as scripted; see the module docstring."""

    transport: str = "udp"
    host: str = "127.0.0.1"
    port: int = 0
    #: Every request received, parsed, in order (``received`` has the details).
    requests: list[Request] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    #: Handlers for the next REGISTERs, first first; ``default`` once it is empty.
    script: deque[Handler] = field(default_factory=deque)
    default: Handler = default_handler
    #: What was sent: ``(response, destination, loop time)``.
    sent: list[tuple[Response, tuple[str, int], float]] = field(default_factory=list)
    #: Handlers of other methods than REGISTER (SUBSCRIBE, ...), by method.
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: Responses received: answers to requests sent with ``send_request`` (NOTIFY).
    responses: list[Response] = field(default_factory=list)
    #: UDP: STUN Binding requests received (RFC 5626 keep-alives), and the address to
    #: answer them with (None: no answer, a keep-alive that fails).
    stun_requests: int = 0
    stun_mapped: tuple[str, int] | None = None
    _udp: asyncio.DatagramTransport | None = None
    _server: asyncio.Server | None = None
    _streams: dict[tuple[str, int], asyncio.StreamWriter] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> ScriptedRegistrar:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, 0)
            )
            self._udp = cast(asyncio.DatagramTransport, transport)
            self.port = self._udp.get_extra_info("sockname")[1]
        elif self.transport == "tcp":
            self._server = await asyncio.start_server(self._serve, self.host, 0)
            self.port = self._server.sockets[0].getsockname()[1]
        else:
            raise ValueError(f"unsupported transport {self.transport!r}")
        return self

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for writer in self._streams.values():
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # ------------------------------------------------------------ scripting

    @property
    def uri(self) -> str:
        """The registrar's SIP URI (with ``;transport=tcp`` over TCP)."""
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{self.host}:{self.port}{suffix}"

    def answer(self, *handlers: Handler) -> None:
        """Append handlers for the next REGISTERs (retransmissions count too)."""
        self.script.extend(handlers)

    @property
    def registers(self) -> list[Received]:
        return [r for r in self.received if r.request.method == "REGISTER"]

    async def wait_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` requests have arrived in all; return them all."""

        async def enough() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        try:
            await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.uri}: {len(self.received)} request(s) arrived in {timeout} s, not {count}"
            ) from None
        return list(self.received)

    def send(self, message: Response, to: Received) -> None:
        """Send ``message`` where ``to`` came from (UDP source, or its connection)."""
        self.sent.append((message, to.source, asyncio.get_running_loop().time()))
        self._deliver(message.to_bytes(), to)

    def send_request(self, request: Request, to: Received) -> None:
        """Send a request where ``to`` came from (a NOTIFY back over the UE's flow)."""
        self._deliver(request.to_bytes(), to)

    def _deliver(self, data: bytes, to: Received) -> None:
        if to.transport == "udp":
            assert self._udp is not None
            self._udp.sendto(data, to.source)
        else:
            writer = self._streams.get(to.source)
            if writer is not None and not writer.is_closing():
                writer.write(data)

    def disconnect(self) -> None:
        """Close every TCP connection from our side (a registrar restart, a NAT timeout)."""
        for writer in list(self._streams.values()):
            writer.close()

    # ------------------------------------------------------------ receiving

    def _on_message(self, data: bytes, message: object, source: tuple[str, int]) -> None:
        if not isinstance(message, Request):
            if isinstance(message, Response):
                self.responses.append(message)  # to our NOTIFYs
                self._arrived.set()
            return
        arrival = Received(message, asyncio.get_running_loop().time(), source, self.transport, data)
        self.received.append(arrival)
        self.requests.append(message)
        self._arrived.set()
        if message.method == "ACK":
            return
        if message.method == "REGISTER":
            handler = self.script.popleft() if self.script else self.default
            answers = handler(message) or []
        elif message.method in self.handlers:
            answers = self.handlers[message.method](message) or []
        elif message.method == "OPTIONS":
            answers = [response(message, 200)]
        else:
            answers = [response(message, 501)]
        for answer in answers:
            self.send(answer, arrival)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(cast("asyncio.Task[None]", task))
        peer = writer.get_extra_info("peername")
        source = (peer[0], peer[1])
        self._streams[source] = writer
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    if not isinstance(item, Keepalive):
                        self._on_message(item.to_bytes(), item, source)
        except (SipParseError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._streams.pop(source, None)
            self._tasks.discard(cast("asyncio.Task[None]", task))
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, registrar: ScriptedRegistrar) -> None:
        self.registrar = registrar

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if is_stun(data):
            self.registrar.stun_requests += 1
            mapped = self.registrar.stun_mapped
            if mapped is not None and self.registrar._udp is not None:
                self.registrar._udp.sendto(stun_success(transaction_id(data), mapped), addr)
            return
        try:
            message = parse_message(data)
        except SipParseError:
            return
        self.registrar._on_message(data, message, (addr[0], addr[1]))


def stun_success(tid: bytes, mapped: tuple[str, int]) -> bytes:
    """A Binding success response with XOR-MAPPED-ADDRESS (RFC 5389 §15.2), IPv4."""
    host, port = mapped
    cookie = struct.pack("!I", MAGIC_COOKIE)
    raw = bytes(a ^ b for a, b in zip(socket.inet_aton(host), cookie, strict=True))
    value = struct.pack("!BBH", 0, 1, port ^ (MAGIC_COOKIE >> 16)) + raw
    body = struct.pack("!HH", 0x0020, len(value)) + value
    return struct.pack("!HHI12s", 0x0101, len(body), MAGIC_COOKIE, tid) + body


# ---------------------------------------------------------------------- fixtures

Factory = Callable[..., Awaitable[ScriptedRegistrar]]


@pytest.fixture
async def scripted_registrar_factory() -> AsyncIterator[Factory]:
    """``await factory(transport="udp")``: a started registrar, closed at teardown."""
    started: list[ScriptedRegistrar] = []

    async def factory(transport: str = "udp") -> ScriptedRegistrar:
        registrar = await ScriptedRegistrar(transport).start()
        started.append(registrar)
        return registrar

    try:
        yield factory
    finally:
        for registrar in started:
            await registrar.close()


@pytest.fixture
async def scripted_registrar(scripted_registrar_factory: Factory) -> ScriptedRegistrar:
    """One scripted UDP registrar on 127.0.0.1."""
    return await scripted_registrar_factory()
