"""A hostile registrar, and a hostile stranger, for the reliability tests.

``HostileRegistrar`` is the scripted registrar of ``interop.scripted`` (its script,
its records, its fixtures' life cycle) plus what a well-behaved one never does: send
raw bytes where a REGISTER came from (over UDP to its source, over TCP down its
connection), answer with bytes no serialiser would write, and send requests of its
own to the daemon's Contact over the daemon's flow. ``Stranger`` is a UDP socket of
its own that talks to the Contact: unsolicited requests and floods, and whatever comes
back to it.

The helpers build messages as text, so that a test can break any part of them:
``wire_ok`` is a 200 for a REGISTER as bytes, ``request_bytes`` a request to the
Contact with the headers RFC 3261 §8.1.1 asks for (and the extras some methods carry).

Fixture: ``hostile_registrar_factory`` (``await factory("udp" | "tcp")``, all closed
at teardown). As with the scripted registrar, request it *before* ``daemon`` so the
registrars outlive the daemon, which deregisters at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import pytest
from interop.scripted import Handler, Received, ScriptedRegistrar, ok

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Message, Request, Response
from sipprofile.server.sip.parser import parse_message

#: Every method a peer may send to a Contact (RFC 3261, 3262, 3265, 3311, 3428, 3515,
#: 3903, 2976), and one no RFC defines.
METHODS = (
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "OPTIONS",
    "REGISTER",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
    "FROBNICATE",
)


# ---------------------------------------------------------------------- messages


def wire_ok(request: Request, expires: int) -> bytes:
    """A 200 for ``request`` granting ``expires`` s to its Contact, as bytes to break."""
    return ok(request, expires=expires).to_bytes()


def request_bytes(
    method: str,
    target: str,
    *,
    sent_by: str,
    transport: str = "UDP",
    call_id: str | None = None,
    to_tag: str | None = None,
    branch: str | None = None,
    extra: tuple[str, ...] = (),
) -> bytes:
    """A request to ``target`` as a peer at ``sent_by`` writes it (RFC 3261 §8.1.1).

    Methods that carry something do: INVITE and UPDATE an SDP offer, MESSAGE text,
    PRACK an RAck, SUBSCRIBE and PUBLISH an Event, NOTIFY a Subscription-State,
    REFER a Refer-To. A CANCEL or an ACK has the CSeq number of the INVITE it is for.
    """
    call_id = call_id or f"{secrets.token_hex(8)}@stranger.test"
    branch = branch or f"z9hG4bK{secrets.token_hex(8)}"
    to = f"<{target}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {target} SIP/2.0",
        f"Via: SIP/2.0/{transport} {sent_by};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:mallory@stranger.test>;tag={secrets.token_hex(4)}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        f"Contact: <sip:mallory@{sent_by}>",
    ]
    body = b""
    if method in ("INVITE", "UPDATE"):
        lines.append("Content-Type: application/sdp")
        body = (
            b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"
        )
    elif method == "MESSAGE":
        lines.append("Content-Type: text/plain")
        body = b"hello from a stranger"
    elif method == "PRACK":
        lines.append("RAck: 1 1 INVITE")
    elif method in ("SUBSCRIBE", "PUBLISH"):
        lines += ["Event: presence", "Expires: 60"]
    elif method == "NOTIFY":
        lines += ["Event: presence", "Subscription-State: active;expires=60"]
    elif method == "REFER":
        lines.append("Refer-To: <sip:bob@stranger.test>")
    lines += [*extra, f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


def parse(data: bytes) -> Message | None:
    """``data`` parsed, or None if it is not SIP."""
    try:
        return parse_message(data)
    except SipParseError:
        return None


# ---------------------------------------------------------------------- registrar


@dataclass(eq=False)
class HostileRegistrar(ScriptedRegistrar):
    """A scripted registrar that can also send raw bytes and requests of its own."""

    def send_raw(self, data: bytes, to: Received) -> None:
        """Send ``data`` as it is where ``to`` came from (its UDP source, its connection)."""
        self._deliver(data, to)

    def raw(self, make: Callable[[Request], list[bytes]]) -> Handler:
        """A script handler that answers a REGISTER with raw bytes: ``make(request)``."""

        def handler(request: Request) -> list[Response] | None:
            arrival = self.received[-1]  # the request being handled
            for data in make(request):
                self.send_raw(data, arrival)
            return None

        return handler

    def connected(self, arrival: Received) -> bool:
        """Whether the TCP connection ``arrival`` came over is still open."""
        return arrival.source in self._streams

    async def wait_disconnected(self, arrival: Received, timeout: float = 3.0) -> None:
        """Return once the daemon closed the connection ``arrival`` came over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.connected(arrival):
            if loop.time() > deadline:
                raise AssertionError(f"the connection from {arrival.source} stayed open")
            await asyncio.sleep(0.01)

    async def wait_responses(self, count: int, timeout: float = 3.0) -> list[Response]:
        """Wait until ``count`` responses (to our requests) have arrived; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.responses) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"{len(self.responses)} response(s) arrived in {timeout} s, not {count}"
                )
            await asyncio.sleep(0.01)
        return list(self.responses)


# ---------------------------------------------------------------------- stranger


class Stranger(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 of its own: sends to the Contact, records the answers."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        #: ``(datagram, source)`` of everything received, in order.
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        self.address: tuple[str, int] = ("", 0)

    @classmethod
    async def open(cls) -> Stranger:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(cls, local_addr=("127.0.0.1", 0))
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = self.transport.get_extra_info("sockname")
        self.address = (sockname[0], sockname[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((data, (addr[0], addr[1])))

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def wait(self, count: int, timeout: float = 2.0) -> list[tuple[bytes, tuple[str, int]]]:
        """Wait until ``count`` datagrams have arrived in all; return them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.received) < count:
            if loop.time() > deadline:
                raise AssertionError(
                    f"{len(self.received)} datagram(s) arrived in {timeout} s, not {count}"
                )
            await asyncio.sleep(0.01)
        return list(self.received)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# ---------------------------------------------------------------------- fixtures

HostileFactory = Callable[..., Awaitable[HostileRegistrar]]


@pytest.fixture
async def hostile_registrar_factory() -> AsyncIterator[HostileFactory]:
    """``await factory(transport="udp")``: a started hostile registrar, closed at teardown."""
    started: list[HostileRegistrar] = []

    async def factory(transport: str = "udp") -> HostileRegistrar:
        registrar = HostileRegistrar(transport)
        await registrar.start()
        started.append(registrar)
        return registrar

    try:
        yield factory
    finally:
        for registrar in started:
            await registrar.close()


@pytest.fixture
async def stranger() -> AsyncIterator[Stranger]:
    """A UDP socket of its own on 127.0.0.1, closed at teardown."""
    peer = await Stranger.open()
    try:
        yield peer
    finally:
        with contextlib.suppress(Exception):
            peer.close()
