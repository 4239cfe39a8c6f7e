"""Issue 8, point 2: a hostile registrar, and strangers at the Contact.

A registrar that sends malformed, oversized, truncated, duplicated, reordered and late
responses, responses for other transactions, and requests of every method to the
Contact. The daemon must answer or drop each correctly, stay registered where the
protocol allows it, and keep other profiles out of it. Everything runs through the
real daemon over real loopback sockets; what is checked is what a user or a peer can
see: the profile's State, Expires, LastError and signals on the bus, and what the
registrars and a stranger's socket receive.

The shape of most cases: the registrar answers a REGISTER with a *broken* 200 that
grants ``BROKEN`` seconds, then at once with a good one that grants ``GOOD`` (over UDP
two datagrams from one socket, which loopback delivers in order; over TCP one after the
other on the stream). Had the broken one been taken, ``Expires`` would have been
``BROKEN`` first, and the good one absorbed as a retransmission; so the bus showing
``GOOD`` and only ``GOOD`` proves the broken one was dropped. Over TCP a message that cannot be
framed or parsed ends the connection (RFC 3261 §18.3: the stream is out of step): the
REGISTER then goes again on a new connection and gets the registrar's default answer
(``ASKED``); the broken one is not taken either.

Registrar fixtures come before ``daemon`` in the arguments so they outlive it (the
daemon deregisters at shutdown); a test that changes a registrar's default answer puts
the usual one back before it ends.
"""

# The fixtures are imported by name and taken as parameters of the same name; ruff
# reads each parameter as redefining the import.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import secrets
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

import pytest
from busutil import Raw, raw_bus
from conftest import RunningDaemon
from interop.scripted import (  # noqa: F401
    Factory,
    Received,
    ScriptedRegistrar,
    challenge,
    default_handler,
    grant,
    ok,
    reply,
    response,
    scripted_registrar_factory,
)
from interop.waiting import wait_state

from reliability.hostile import (  # noqa: F401
    METHODS,
    HostileFactory,
    HostileRegistrar,
    Stranger,
    hostile_registrar_factory,
    parse,
    request_bytes,
    stranger,
    wire_ok,
)
from sipprofile.proto import names
from sipprofile.server.sip.message import Request, Response
from sipprofile.server.sip.uri import parse_uri

AOR = "sip:alice@example.test"
#: What a broken answer grants: seen on the bus, it was taken.
BROKEN = 7
#: What the good answer that follows it grants.
GOOD = 120
#: What the daemon asks for, and the registrar's default answer grants.
ASKED = 3600
TRANSPORTS = ["udp", "tcp"]


# ---------------------------------------------------------------------- helpers


async def enable(raw: Raw, registrar: ScriptedRegistrar, aor: str = AOR, **server: Any) -> str:
    """Create a profile at ``registrar`` and enable it; retries after 0.5-1 s, not 15-30."""
    path = await raw.create(
        Aor=aor, Registrar={"Uri": registrar.uri, **server}, Extensions={"RetryBaseSeconds": 1}
    )
    await raw.profile(path, "Enable")
    return path


def profile_id(path: str) -> int:
    return int(path.rsplit("/", 1)[1])


def changed(raw: Raw, path: str, prop: str) -> list[Any]:
    """Every value ``prop`` of the profile at ``path`` took, from PropertiesChanged."""
    return [
        m.body[1][prop].value
        for m in raw.signals
        if m.member == "PropertiesChanged" and m.path == path and prop in m.body[1]
    ]


def errors(raw: Raw, path: str) -> list[tuple[str, str]]:
    """The ProfileError signals of the profile at ``path``: (error, message)."""
    pid = profile_id(path)
    return [
        (m.body[1], m.body[2])
        for m in raw.signals
        if m.member == "ProfileError" and m.body[0] == pid
    ]


def events(raw: Raw, path: str) -> list[str]:
    pid = profile_id(path)
    return [m.body[1] for m in raw.signals if m.member == "ProfileEvent" and m.body[0] == pid]


def contact_of(props: dict[str, Any]) -> tuple[str, int]:
    """Where the registered Contact is: the daemon's socket."""
    uri = parse_uri(props["RegisteredContact"])
    assert uri.port is not None
    return uri.host, uri.port


async def quick_props(raw: Raw, path: str, bound: float = 1.0) -> dict[str, Any]:
    """The profile's properties, failing if the daemon takes more than ``bound`` s."""
    try:
        return await asyncio.wait_for(raw.get_all(path), bound)
    except TimeoutError:
        raise AssertionError(f"GetAll took more than {bound} s") from None


def sub(pattern: bytes, replacement: bytes) -> Callable[[bytes], bytes]:
    """A mutation of a message's bytes: the first match of ``pattern`` replaced."""
    compiled = re.compile(pattern, re.MULTILINE)

    def mutate(data: bytes) -> bytes:
        out, count = compiled.subn(replacement, data, count=1)
        assert count == 1, f"{pattern!r} is not in the message"
        return out

    return mutate


def broken_then_good(mutate: Callable[[bytes], bytes]) -> Callable[[Request], list[bytes]]:
    """The broken 200 (granting BROKEN), then the good one (GOOD): two datagrams over
    UDP, one after the other on a TCP stream."""
    return lambda request: [mutate(wire_ok(request, BROKEN)), wire_ok(request, GOOD)]


# ---------------------------------------------------------------------- 1. malformed

# Mutations of a 200 OK and whether they end a TCP connection: what the parser refuses
# (start line, header lines, UTF-8, Content-Length) is a framing error there; what it
# reads but the REGISTER client finds does not answer its request (Via, CSeq, Call-ID)
# is dropped, and the connection stays.
MALFORMED: dict[str, tuple[Callable[[bytes], bytes], bool]] = {
    # start line
    "status-code-with-letters": (sub(rb"^SIP/2\.0 200 OK", b"SIP/2.0 2OO OK"), True),
    "sip-version-3": (sub(rb"^SIP/2\.0", b"SIP/3.0"), True),
    "http-status-line": (sub(rb"^SIP/2\.0 200 OK", b"HTTP/1.1 200 OK"), True),
    "status-code-too-long": (sub(rb"^SIP/2\.0 200", b"SIP/2.0 2000"), True),
    "no-start-line": (sub(rb"^SIP/2\.0 200 OK\r\n", b""), True),
    # Via
    "top-via-without-host": (sub(rb"^(Via: SIP/2\.0/(?:UDP|TCP) )[^;]*", rb"\1"), False),
    "top-via-port-out-of-range": (sub(rb"^(Via: SIP/2\.0/\w+ [^:;]*):\d+", rb"\1:99999"), False),
    "no-via": (sub(rb"^Via: [^\r]*\r\n", b""), False),
    "second-via-unreadable": (sub(rb"^(Via: [^\r]*\r\n)", rb"\1Via: garbage\r\n"), False),
    # CSeq and Call-ID
    "no-cseq": (sub(rb"^CSeq: [^\r]*\r\n", b""), False),
    "no-call-id": (sub(rb"^Call-ID: [^\r]*\r\n", b""), False),
    "two-cseqs": (sub(rb"^(CSeq: [^\r]*\r\n)", rb"\1CSeq: 9 REGISTER\r\n"), False),
    "two-call-ids": (sub(rb"^(Call-ID: [^\r]*\r\n)", rb"\1Call-ID: other@host\r\n"), False),
    "cseq-not-a-number": (sub(rb"^CSeq: \d+", b"CSeq: one"), False),
    # not UTF-8
    "non-utf8-reason-phrase": (sub(rb" OK\r\n", b" O\xffK\r\n"), True),
    "non-utf8-display-name": (sub(rb"^To: ", b'To: "\xc3\x28" '), True),
    "overlong-utf8": (sub(rb"^From: ", b'From: "\xc0\xaf" '), True),
    # NUL bytes
    "nul-in-reason-phrase": (sub(rb" OK\r\n", b" O\x00K\r\n"), True),
    "nul-in-header-name": (sub(rb"^Contact:", b"Con\x00tact:"), True),
    "nul-in-call-id": (sub(rb"^(Call-ID: [^\r]*)", b"\\1\x00"), False),
    "nul-in-branch": (sub(rb"branch=z9hG4bK", b"branch=z9hG4bK\x00"), False),
    # line ends
    "bare-lf-ends-a-line": (sub(rb"^(CSeq: [^\r]*)\r\n", rb"\1\n"), True),
    "bare-cr-ends-a-line": (sub(rb"^(CSeq: [^\r]*)\r\n", rb"\1\r"), True),
    # folding (RFC 3261 §7.3.1) abused
    "fold-before-the-first-header": (sub(rb"^(SIP/2\.0 200 OK\r\n)", rb"\1 folded\r\n"), True),
    "fold-splits-a-header-name": (sub(rb"^Call-ID:", b"Call-\r\n ID:"), True),
    "fold-smuggles-a-call-id": (sub(rb"^Call-ID: ", b"Call-ID: smuggled\r\n Call-ID: "), False),
    "fold-smuggles-a-cseq": (sub(rb"^CSeq: ", b"CSeq: 9 REGISTER\r\n CSeq: "), False),
    # limits and Content-Length
    "257-header-fields": (
        sub(rb"^Content-Length", b"X-Filler: x\r\n" * 250 + b"Content-Length"),
        True,
    ),
    "content-length-not-a-number": (sub(rb"^Content-Length: 0", b"Content-Length: zero"), True),
    "content-length-negative": (sub(rb"^Content-Length: 0", b"Content-Length: -1"), True),
    "content-lengths-disagree": (
        sub(rb"^(Content-Length: 0\r\n)", rb"\1Content-Length: 1\r\n"),
        True,
    ),
}

# Datagram-only breakage: on a stream these are "wait for more" (tested below).
MALFORMED_DATAGRAMS: dict[str, Callable[[bytes], bytes]] = {
    "lf-only-line-ends": lambda data: data.replace(b"\r\n", b"\n"),
    "content-length-beyond-the-datagram": sub(rb"^Content-Length: 0", b"Content-Length: 40"),
    "no-blank-line": lambda data: data[:-2],
    "empty-datagram": lambda data: b"",
    "crlf-only": lambda data: b"\r\n" * 8,
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_200_is_not_taken(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, case: str, transport: str
) -> None:
    mutate, framing_error = MALFORMED[case]
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(registrar.raw(broken_then_good(mutate)))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        first = registrar.registers[0]
        if transport == "tcp" and framing_error:
            await registrar.wait_disconnected(first)
            again = registrar.registers[1]
            assert again.source != first.source  # a new connection
            assert again.request.call_id == first.request.call_id
            assert again.cseq == first.cseq + 1
            assert props["Expires"] == ASKED
        else:
            assert props["Expires"] == GOOD
            assert len(registrar.registers) == 1
            if transport == "tcp":
                assert registrar.connected(first)
        assert BROKEN not in changed(raw, path, "Expires")
        assert errors(raw, path) == []


@pytest.mark.parametrize("case", sorted(MALFORMED_DATAGRAMS))
async def test_malformed_datagram_is_dropped(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, case: str
) -> None:
    registrar = await hostile_registrar_factory("udp")
    mutate = MALFORMED_DATAGRAMS[case]
    registrar.answer(registrar.raw(broken_then_good(mutate)))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        assert props["Expires"] == GOOD
        assert changed(raw, path, "Expires") == [GOOD]
        assert len(registrar.registers) == 1
        assert errors(raw, path) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_legal_but_unusual_syntax_is_read(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    """The other side of the cases above: what RFC 3261 allows must not be dropped.

    Folded header values (§7.3.1), compact names (§7.3.3), whitespace before the
    colon, a body the 200 does not need, and 256 header fields (the parser's limit).
    """

    def unusual(request: Request) -> list[bytes]:
        data = wire_ok(request, GOOD)
        for mutate in (
            sub(rb"^CSeq: (\d+) ", rb"CSeq: \1\r\n\t "),
            sub(rb"^(Via: [^;\r]*);", rb"\1\r\n ;"),
            sub(rb"^Call-ID:", b"i  :"),
            sub(rb"^Contact:", b"m:"),
            sub(rb"^From:", b"f:"),
            # 6 fields above, 249 fillers and l: 256 in all
            sub(rb"^Content-Length: 0\r\n\r\n\Z", b"X-Filler: x\r\n" * 249 + b"l: 5\r\n\r\nhello"),
        ):
            data = mutate(data)
        return [data]

    registrar = await hostile_registrar_factory(transport)
    registrar.answer(registrar.raw(unusual))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        assert props["Expires"] == GOOD
        assert len(registrar.registers) == 1


def sized_ok(request: Request, expires: int, size: int) -> bytes:
    """A 200 of exactly ``size`` bytes, padded with its body."""
    answer = ok(request, expires=expires)
    answer.body = b"x" * (size - len(answer.to_bytes()))
    while len(data := answer.to_bytes()) != size:
        answer.body = answer.body[: size - len(data)]
    return data


async def test_largest_udp_datagram_is_read_whole(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    """65507 bytes, the most a UDP datagram over IPv4 carries (none bigger can be sent,
    so the parser's 65535-byte limit is for streams): read whole, not cut short."""
    registrar = await hostile_registrar_factory("udp")
    registrar.answer(registrar.raw(lambda r: [sized_ok(r, GOOD, 65507)]))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        assert props["Expires"] == GOOD
        assert len(registrar.registers) == 1


@pytest.mark.parametrize(("size", "taken"), [(65535, True), (65536, False)])
async def test_message_size_limit_on_tcp(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, size: int, taken: bool
) -> None:
    """A stream message up to 65535 bytes is read; one byte more ends the connection."""
    registrar = await hostile_registrar_factory("tcp")
    registrar.answer(registrar.raw(lambda r: [sized_ok(r, GOOD if taken else BROKEN, size)]))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        first = registrar.registers[0]
        if taken:
            assert props["Expires"] == GOOD
            assert registrar.connected(first)
            assert len(registrar.registers) == 1
        else:
            await registrar.wait_disconnected(first)
            assert props["Expires"] == ASKED
            assert len(registrar.registers) == 2
            assert BROKEN not in changed(raw, path, "Expires")
        assert errors(raw, path) == []


async def test_endless_header_section_on_tcp_is_cut_off(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    """A head that never ends: waited for up to the size limit, then the connection ends."""
    registrar = await hostile_registrar_factory("tcp")
    registrar.answer(registrar.raw(lambda r: [b"SIP/2.0 200 OK\r\nX-Filler: " + b"x" * 60000]))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        [first] = await registrar.wait_requests(1)
        await asyncio.sleep(0.3)
        props = await quick_props(raw, path)
        assert props["State"] == "registering"
        assert registrar.connected(first)  # under the limit: maybe more is coming
        registrar.send_raw(b"x" * 6000, first)  # now over it
        await registrar.wait_disconnected(first)
        props = await wait_state(raw, path, "registered", timeout=5)
        assert props["Expires"] == ASKED
        assert len(registrar.registers) == 2
        assert errors(raw, path) == []


def split_200(request: Request, cut: int) -> tuple[bytes, bytes]:
    """A 200 granting GOOD with a body, cut in two ``cut`` bytes before its end."""
    answer = ok(request, expires=GOOD)
    answer.body = b"v=0\r\n" * 40
    data = answer.to_bytes()
    return data[:-cut], data[-cut:]


async def test_truncated_response_on_tcp_waits_for_the_rest(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    registrar = await hostile_registrar_factory("tcp")
    rest: list[bytes] = []

    def first_part(request: Request) -> list[bytes]:
        head, tail = split_200(request, 100)
        rest.append(tail)
        return [head]

    registrar.answer(registrar.raw(first_part))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        [first] = await registrar.wait_requests(1)
        await asyncio.sleep(0.3)
        props = await quick_props(raw, path)  # waiting, not stuck
        assert props["State"] == "registering"
        assert registrar.connected(first)
        registrar.send_raw(rest[0], first)
        props = await wait_state(raw, path, "registered", timeout=5)
        assert props["Expires"] == GOOD
        assert registrar.connected(first)
        assert len(registrar.registers) == 1


async def test_truncated_response_on_tcp_then_close(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    registrar = await hostile_registrar_factory("tcp")
    registrar.answer(registrar.raw(lambda r: [split_200(r, 100)[0]]))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        [first] = await registrar.wait_requests(1)
        await asyncio.sleep(0.1)
        registrar.disconnect()  # the rest never comes
        props = await wait_state(raw, path, "registered", timeout=5)
        again = registrar.registers[1]
        assert again.source != first.source
        assert again.cseq == first.cseq + 1
        assert props["Expires"] == ASKED
        assert GOOD not in changed(raw, path, "Expires")


async def test_crlf_between_messages_on_tcp_is_harmless(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    """RFC 3261 §7.5 lets CRLFs precede a message; RFC 5626 pings and pongs are CRLFs."""
    registrar = await hostile_registrar_factory("tcp")
    registrar.answer(
        registrar.raw(lambda r: [b"\r\n\r\n\r\n" + wire_ok(r, GOOD) + b"\r\n\r\n\r\n\r\n"])
    )
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=5)
        first = registrar.registers[0]
        registrar.send_raw(b"\r\n" * 9, first)
        await asyncio.sleep(0.2)
        assert props["Expires"] == GOOD
        assert registrar.connected(first)
        assert len(registrar.registers) == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
        b"hello registrar\r\n\r\n",
        b"\x00" * 64 + b"\r\n\r\n",
    ],
    ids=["tls-hello", "text", "nuls"],
)
async def test_garbage_between_messages_on_tcp_closes_and_registers_again(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, garbage: bytes
) -> None:
    """The stream is out of step for good: closed, and the binding renewed on a new one."""
    registrar = await hostile_registrar_factory("tcp")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered", timeout=5)
        first = registrar.registers[0]
        registrar.send_raw(garbage, first)
        await registrar.wait_disconnected(first)
        await registrar.wait_requests(2)
        props = await wait_state(raw, path, "registered", timeout=5)
        again = registrar.registers[1]
        assert again.source != first.source
        assert again.request.call_id == first.request.call_id
        assert again.cseq == first.cseq + 1
        assert props["Expires"] == ASKED
        assert "failed" not in changed(raw, path, "State")
        assert errors(raw, path) == []


# ------------------------------------------------ 1b. values no registrar may send


def plain_200(*headers: tuple[str, str]) -> Callable[[Request], list[Response] | None]:
    """A 200 listing our Contact without ``expires``, with ``headers``."""

    def handler(request: Request) -> list[Response] | None:
        [contact] = request.headers.get_all("Contact")
        mine = contact.split(">")[0] + ">"
        return [response(request, 200, headers=[("Contact", mine), *headers])]

    return handler


def contact_expires(value: str) -> Callable[[Request], list[Response] | None]:
    """A 200 listing our Contact with ``;expires=value``."""

    def handler(request: Request) -> list[Response] | None:
        [contact] = request.headers.get_all("Contact")
        mine = contact.split(">")[0] + ">"
        return [response(request, 200, headers=[("Contact", f"{mine};expires={value}")])]

    return handler


HUGE = "9" * 5000  # more digits than int() converts (4300)
SUPERSCRIPT = "\u00b2"  # str.isdigit() says yes, int() says no

# What a registrar says, and what the profile must end up as: a value that is not
# delta-seconds (ASCII digits, at most 2**32-1: RFC 3261 §25.1, §20.19; RFC 4475
# §3.1.2.19) is read as if absent.
ODD_NUMBERS: dict[str, tuple[Callable[[Request], list[Response] | None], str, int]] = {
    "expires-header-superscript-digit": (plain_200(("Expires", SUPERSCRIPT)), "registered", ASKED),
    "expires-header-2**32": (plain_200(("Expires", str(2**32))), "registered", ASKED),
    "expires-header-5000-digits": (plain_200(("Expires", HUGE)), "registered", ASKED),
    "contact-expires-2**32": (contact_expires(str(2**32)), "registered", ASKED),
    "contact-expires-5000-digits": (contact_expires(HUGE), "registered", ASKED),
    "contact-expires-2**32-1": (contact_expires(str(2**32 - 1)), "registered", 2**32 - 1),
    "flow-timer-superscript-digit": (plain_200(("Flow-Timer", SUPERSCRIPT)), "registered", ASKED),
    "flow-timer-5000-digits": (plain_200(("Flow-Timer", HUGE)), "registered", ASKED),
    "min-expires-superscript-digit": (reply(423, Min_Expires=SUPERSCRIPT), "failed", 0),
    "min-expires-5000-digits": (reply(423, Min_Expires=HUGE), "failed", 0),
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", sorted(ODD_NUMBERS))
async def test_numbers_no_registrar_may_send(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, case: str, transport: str
) -> None:
    """Out-of-range or non-ASCII numbers: read as absent, never wedging the profile.

    Before the fix, ``int()`` raised inside the registration (which then waited
    forever), or an expiry beyond 2**32-1 made every read of the profile's
    properties over the bus fail (``Expires`` is a uint32).
    """
    handler, state, expires = ODD_NUMBERS[case]
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(handler)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, state, timeout=3)
        assert props["Expires"] == expires
        if state == "failed":
            assert props["LastError"][0] == names.Error.REJECTED
        assert len(registrar.registers) == 1
        if transport == "tcp":
            assert registrar.connected(registrar.registers[0])


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("value", [SUPERSCRIPT, HUGE], ids=["superscript-digit", "5000-digits"])
async def test_unreadable_retry_after_is_the_usual_backoff(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, value: str, transport: str
) -> None:
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(reply(503, Retry_After=value))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)  # RetryBaseSeconds=1: 0.5-1 s
        first, second = await registrar.wait_requests(2, timeout=3)
        assert 0.4 <= second.at - first.at <= 1.5
        await wait_state(raw, path, "registered", timeout=3)
        assert [e[0] for e in errors(raw, path)] == [names.Error.REJECTED]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "contacts",
    ["*", "<tel:+15551234>", "<http://example.test/>", "<urn:x:y>, *"],
    ids=["wildcard", "tel", "http", "urn-and-wildcard"],
)
async def test_redirect_to_nothing_usable_fails_the_profile(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, contacts: str, transport: str
) -> None:
    """A 3xx whose Contacts are no SIP URIs: Rejected, not a registration stuck for good."""
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(lambda r: [response(r, 302, headers=[("Contact", contacts)])])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "failed", timeout=3)
        assert props["LastError"][0] == names.Error.REJECTED
        assert len(registrar.registers) == 1
        if transport == "tcp":
            assert registrar.connected(registrar.registers[0])


async def test_redirect_skips_contacts_that_are_no_sip_uris(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    registrar = await hostile_registrar_factory("udp")
    elsewhere = await hostile_registrar_factory("udp")
    contacts = f"<tel:+15551234>;q=1.0, *, <{elsewhere.uri}>;q=0.5"
    registrar.answer(lambda r: [response(r, 302, headers=[("Contact", contacts)])])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered", timeout=3)
        assert len(registrar.registers) == 1
        [moved] = elsewhere.registers
        assert moved.request.uri == elsewhere.uri


@pytest.mark.parametrize("received", ["evil.example", "~~~", '"127.0.0.1"'])
async def test_via_received_that_is_no_address_moves_no_contact(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, received: str
) -> None:
    """RFC 3261 §18.2.1: ``received`` is an IP address; anything else says nothing."""
    registrar = await hostile_registrar_factory("udp")

    def nat_of_names(request: Request) -> list[Response] | None:
        answer = ok(request)
        top = request.via[0].with_param("received", received).with_param("rport", "5")
        answer.headers.set("Via", str(top))
        return [answer]

    registrar.default = nat_of_names
    try:
        async with raw_bus(daemon.address) as raw:
            path = await enable(raw, registrar)
            props = await wait_state(raw, path, "registered", timeout=3)
            await asyncio.sleep(0.3)
            assert len(registrar.registers) == 1  # no REGISTER moving the Contact
            assert (await quick_props(raw, path))["RegisteredContact"] == props["RegisteredContact"]
    finally:
        registrar.default = default_handler


# ---------------------------------------------------------------------- 2. strays


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_retransmitted_200_is_absorbed(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    """Copies of the final answer, one of them saying something else, change nothing."""
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(lambda r: [ok(r, expires=GOOD), ok(r, expires=GOOD), ok(r, expires=BROKEN)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        await asyncio.sleep(0.7)  # past Timer E: the first 200 stopped it
        assert props["Expires"] == GOOD
        assert changed(raw, path, "Expires") == [GOOD]
        assert changed(raw, path, "State") == ["registering", "registered"]
        assert events(raw, path).count("registered") == 1
        assert len(registrar.registers) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_retransmitted_401_is_answered_once(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(
        lambda r: [
            challenge(r, nonce="n1"),
            challenge(r, nonce="n1"),
            challenge(r, nonce="n2"),  # a "retransmission" with another nonce
        ]
    )
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar, Username="alice", Password="secret")
        await wait_state(raw, path, "registered", timeout=3)
        await asyncio.sleep(0.7)
        first, second = registrar.registers
        assert 'nonce="n1"' in (second.request.headers.get("Authorization") or "")
        assert second.cseq == first.cseq + 1
        assert errors(raw, path) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_100_trying_after_the_final_is_ignored(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(lambda r: [ok(r, expires=GOOD), response(r, 100), response(r, 100)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered", timeout=3)
        await asyncio.sleep(0.7)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert props["Expires"] == GOOD
        assert changed(raw, path, "State") == ["registering", "registered"]
        assert len(registrar.registers) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_late_answers_to_an_older_cseq_change_nothing(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    """Challenged, then registered: the first REGISTER's 401 again, a 200, a 503 and a
    403 for it, all late and reordered behind the second's 200."""
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(lambda r: [challenge(r)], lambda r: [ok(r, expires=GOOD)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar, Username="alice", Password="secret")
        await wait_state(raw, path, "registered", timeout=3)
        old, current = registrar.registers
        for late in (
            challenge(old.request),
            ok(old.request, expires=BROKEN),
            response(old.request, 503, headers=[("Retry-After", "1")]),
            response(old.request, 403),
        ):
            registrar.send(late, current)  # over the connection in use, on TCP
        await asyncio.sleep(0.7)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert props["Expires"] == GOOD
        assert tuple(props["LastError"]) == ("", "")
        assert changed(raw, path, "Expires") == [GOOD]
        assert errors(raw, path) == []
        assert len(registrar.registers) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_final_for_a_transaction_replaced_by_a_retry_is_ignored(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    """503 Retry-After 1 ended the first transaction; its 200 arrives with the retry."""
    registrar = await hostile_registrar_factory(transport)
    first: list[Request] = []

    def unavailable(request: Request) -> list[Response] | None:
        first.append(request)
        return [response(request, 503, headers=[("Retry-After", "1")])]

    registrar.answer(unavailable, lambda r: [ok(first[0], expires=BROKEN), ok(r, expires=GOOD)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await registrar.wait_requests(2, timeout=3)
        props = await wait_state(raw, path, "registered", timeout=3)
        assert props["Expires"] == GOOD
        assert changed(raw, path, "Expires") == [GOOD]
        assert len(registrar.registers) == 2


async def test_final_for_a_transaction_replaced_by_a_new_connection_is_ignored(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon
) -> None:
    registrar = await hostile_registrar_factory("tcp")
    first: list[Request] = []

    def hang_up(request: Request) -> list[Response] | None:
        first.append(request)
        registrar.disconnect()
        return None

    registrar.answer(hang_up, lambda r: [ok(first[0], expires=BROKEN), ok(r, expires=GOOD)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        assert props["Expires"] == GOOD
        assert changed(raw, path, "Expires") == [GOOD]
        assert len(registrar.registers) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_late_200_after_disable_registers_nothing(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    registrar = await hostile_registrar_factory(transport)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered", timeout=3)
        await raw.profile(path, "Disable")
        await wait_state(raw, path, "unregistered", timeout=3)
        register, unregister = registrar.registers
        for late in (ok(register.request, expires=BROKEN), ok(unregister.request, expires=BROKEN)):
            registrar.send(late, unregister)
        await asyncio.sleep(0.3)
        props = await quick_props(raw, path)
        assert props["State"] == "unregistered"
        assert props["Expires"] == 0
        assert props["RegisteredContact"] == ""
        assert BROKEN not in changed(raw, path, "Expires")
        assert len(registrar.registers) == 2


def other_branch(answer: Response) -> None:
    top = answer.headers.get_all("Via")[0]
    rest = answer.headers.get_all("Via")[1:]
    answer.headers.remove("Via")
    for via in [re.sub(r"branch=[^;]+", f"branch=z9hG4bK{secrets.token_hex(6)}", top), *rest]:
        answer.headers.add("Via", via)


def set_header(name: str, value: Callable[[str], str]) -> Callable[[Response], None]:
    def mutate(answer: Response) -> None:
        answer.headers.set(name, value(answer.headers.get(name) or ""))

    return mutate


# How a response can be for another transaction (RFC 3261 §17.1.3: branch and CSeq
# method name it; Call-ID and CSeq number must be ours too).
OTHER_TRANSACTIONS: dict[str, Callable[[Response], None]] = {
    "another-branch": other_branch,
    "another-call-id": set_header("Call-ID", lambda _: f"{secrets.token_hex(8)}@elsewhere"),
    "cseq-method-invite": set_header("CSeq", lambda v: v.split()[0] + " INVITE"),
    "cseq-number-ahead": set_header("CSeq", lambda v: f"{int(v.split()[0]) + 1} REGISTER"),
    "cseq-number-behind": set_header("CSeq", lambda v: f"{int(v.split()[0]) - 1} REGISTER"),
}


def strays(request: Request, mutate: Callable[[Response], None]) -> list[Response]:
    """Every kind of final answer to ``request``, each made to answer another transaction."""
    answers = [
        ok(request, expires=BROKEN),
        challenge(request),
        response(request, 403),
        response(request, 503, headers=[("Retry-After", "1")]),
        response(request, 423, headers=[("Min-Expires", "7200")]),
        response(request, 302, headers=[("Contact", "<sip:127.0.0.1:9>")]),
        response(request, 100),
    ]
    for answer in answers:
        mutate(answer)
    return answers


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", sorted(OTHER_TRANSACTIONS))
async def test_answers_for_other_transactions_change_nothing(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, case: str, transport: str
) -> None:
    """While the first REGISTER waits: a 200, 401, 403, 503, 423, 302 and 100 that are
    not its own; then its own 200."""
    mutate = OTHER_TRANSACTIONS[case]
    registrar = await hostile_registrar_factory(transport)
    registrar.answer(lambda r: [*strays(r, mutate), ok(r, expires=GOOD)])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar, Username="alice", Password="secret")
        props = await wait_state(raw, path, "registered", timeout=3)
        await asyncio.sleep(0.7)  # a REGISTER answering a stray 401/423/302 would be in
        assert props["Expires"] == GOOD
        assert changed(raw, path, "Expires") == [GOOD]
        assert changed(raw, path, "State") == ["registering", "registered"]
        assert errors(raw, path) == []
        assert len(registrar.registers) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_strays_during_a_refresh_leave_the_registration_alone(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, transport: str
) -> None:
    """Registered, refreshing: every stray of every kind; still registered throughout."""
    registrar = await hostile_registrar_factory(transport)

    def refreshed(request: Request) -> list[Response]:
        out: list[Response] = []
        for mutate in OTHER_TRANSACTIONS.values():
            out += strays(request, mutate)
        return [*out, ok(request, expires=300)]

    registrar.answer(lambda r: [ok(r, expires=GOOD)], refreshed)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar, Username="alice", Password="secret")
        await wait_state(raw, path, "registered", timeout=3)
        await raw.profile(path, "Refresh")
        await registrar.wait_requests(2)
        await asyncio.sleep(0.7)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert props["Expires"] == 300
        assert changed(raw, path, "Expires") == [GOOD, 300]
        assert changed(raw, path, "State") == ["registering", "registered"]
        assert errors(raw, path) == []
        assert len(registrar.registers) == 2


# ---------------------------------------------------------------------- 3. requests

#: What a request of no dialog of ours gets at our Contact (``transport.flow``): OPTIONS
#: is a ping, a NOTIFY names no subscription of ours (RFC 6665 §4.1.3), an ACK gets
#: nothing, and a registration serves nothing else.
EXPECTED_STATUS: dict[str, int | None] = {
    method: {"OPTIONS": 200, "NOTIFY": 481, "BYE": 481, "CANCEL": 481, "ACK": None}.get(method, 501)
    for method in METHODS
}


def check_answer(answer: Response, request: bytes, status: int) -> None:
    """RFC 3261 §8.2.6: status, and Via, From, To (+tag), Call-ID, CSeq as received."""
    asked = parse(request)
    assert isinstance(asked, Request)
    assert answer.status == status
    assert answer.headers.get_all("Via") == asked.headers.get_all("Via")
    for name in ("From", "Call-ID", "CSeq"):
        assert answer.header(name) == asked.header(name), name
    assert answer.to.uri == asked.to.uri
    if asked.to.param("tag") is None:
        assert answer.to.param("tag"), "RFC 3261 §8.2.6.2: the UAS adds a To tag"
    else:
        assert answer.header("To") == asked.header("To")


@pytest.mark.parametrize("method", METHODS)
async def test_request_over_udp_is_answered_to_its_sender(
    hostile_registrar_factory: HostileFactory,
    stranger: Stranger,
    daemon: RunningDaemon,
    method: str,
) -> None:
    """From a stranger's own socket, its Via naming somewhere else (with rport, RFC
    3581: the answer goes where the request came from)."""
    registrar = await hostile_registrar_factory("udp")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        contact = contact_of(props)
        request = request_bytes(method, props["RegisteredContact"], sent_by="192.0.2.1:5060")
        stranger.send(request, contact)
        status = EXPECTED_STATUS[method]
        if status is None:
            await asyncio.sleep(0.3)
            assert stranger.received == []
        else:
            [(data, source)] = await stranger.wait(1)
            assert source == contact  # from the Contact's socket
            answer = parse(data)
            assert isinstance(answer, Response), data[:80]
            check_answer(answer, request, status)
            stranger.send(request, contact)  # retransmitted: the same answer, To tag too
            _, (again, _) = await stranger.wait(2)
            assert again == data
        await asyncio.sleep(0.1)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert registrar.responses == []  # nothing went to the registrar
        assert len(registrar.received) == 1
        assert errors(raw, path) == []


@pytest.mark.parametrize("method", METHODS)
async def test_request_over_tcp_is_answered_on_its_connection(
    hostile_registrar_factory: HostileFactory, daemon: RunningDaemon, method: str
) -> None:
    """From the registrar, down the connection our REGISTER went up."""
    registrar = await hostile_registrar_factory("tcp")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        first = registrar.registers[0]
        request = request_bytes(
            method,
            props["RegisteredContact"],
            sent_by=f"{registrar.host}:{registrar.port}",
            transport="TCP",
        )
        registrar.send_raw(request, first)
        status = EXPECTED_STATUS[method]
        if status is None:
            await asyncio.sleep(0.3)
            assert registrar.responses == []
        else:
            [answer] = await registrar.wait_responses(1)
            check_answer(answer, request, status)
        await asyncio.sleep(0.1)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert registrar.connected(first)
        assert len(registrar.received) == 1
        assert errors(raw, path) == []


@pytest.mark.parametrize("method", ["BYE", "NOTIFY", "INFO"])
async def test_request_of_an_unknown_dialog_keeps_its_to_tag(
    hostile_registrar_factory: HostileFactory,
    stranger: Stranger,
    daemon: RunningDaemon,
    method: str,
) -> None:
    registrar = await hostile_registrar_factory("udp")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        request = request_bytes(
            method, props["RegisteredContact"], sent_by="192.0.2.1:5060", to_tag="theirs"
        )
        stranger.send(request, contact_of(props))
        [(data, _)] = await stranger.wait(1)
        answer = parse(data)
        assert isinstance(answer, Response)
        check_answer(answer, request, EXPECTED_STATUS[method] or 0)
        assert answer.to.param("tag") == "theirs"


def unanswerable(transport: str, target: str, sent_by: str) -> dict[str, bytes]:
    """Requests no answer can be built for: RFC 3261 §8.2.6.2 copies Via, From, To,
    Call-ID and CSeq, and these lack one, or carry bytes no header may (NUL, escape)."""
    base = request_bytes("OPTIONS", target, sent_by=sent_by, transport=transport)
    return {
        "nul-in-from": sub(rb"^(From: [^\r]*)", b"\\1\x00")(base),
        "escape-in-to": sub(rb"^To: ", b'To: "\x1b[2J" ')(base),
        "nul-in-call-id": sub(rb"^(Call-ID: [^\r]*)", b"\\1\x00")(base),
        "no-via": sub(rb"^Via: [^\r]*\r\n", b"")(base),
        "no-from": sub(rb"^From: [^\r]*\r\n", b"")(base),
        "no-call-id": sub(rb"^Call-ID: [^\r]*\r\n", b"")(base),
        "no-cseq": sub(rb"^CSeq: [^\r]*\r\n", b"")(base),
        "unreadable-to": sub(rb"^To: [^\r]*", b"To: <<<")(base),
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unanswerable_requests_are_dropped_and_cost_nothing(
    hostile_registrar_factory: HostileFactory,
    stranger: Stranger,
    daemon: RunningDaemon,
    transport: str,
) -> None:
    """Before the fix, a request with a control character in a header the answer copies
    raised in the dispatcher: over TCP that ended the connection (every profile on it
    registered again), over UDP it logged a traceback per datagram; one missing a
    header got an answer with that header empty."""
    registrar = await hostile_registrar_factory(transport)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        first = registrar.registers[0]
        contact = contact_of(props)
        target = props["RegisteredContact"]
        if transport == "udp":
            sent_by = f"{stranger.address[0]}:{stranger.address[1]}"
            for request in unanswerable("UDP", target, sent_by).values():
                stranger.send(request, contact)
            ping = request_bytes("OPTIONS", target, sent_by=sent_by)
            stranger.send(ping, contact)
            [(data, _)] = await stranger.wait(1)  # the ping's answer, and only that
            await asyncio.sleep(0.2)
            assert len(stranger.received) == 1
        else:
            sent_by = f"{registrar.host}:{registrar.port}"
            for request in unanswerable("TCP", target, sent_by).values():
                registrar.send_raw(request, first)
            ping = request_bytes("OPTIONS", target, sent_by=sent_by, transport="TCP")
            registrar.send_raw(ping, first)
            [received] = await registrar.wait_responses(1)
            data = received.to_bytes()
            await asyncio.sleep(0.2)
            assert len(registrar.responses) == 1
            assert registrar.connected(first)
        answer = parse(data)
        assert isinstance(answer, Response)
        check_answer(answer, ping, 200)
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert len(registrar.registers) == 1
        assert errors(raw, path) == []


# ---------------------------------------------------------------------- 4. isolation


def abuse(registrar: HostileRegistrar, arrival: Received, contact: str) -> None:
    """One round of everything hostile, sent where ``arrival`` came from."""
    request = arrival.request
    transport = arrival.transport.upper()
    data = wire_ok(request, BROKEN)
    for mutate, framing_error in MALFORMED.values():
        if transport == "UDP" or not framing_error:
            registrar.send_raw(mutate(data), arrival)
    for mutate_response in OTHER_TRANSACTIONS.values():
        for stray in strays(request, mutate_response):
            registrar.send(stray, arrival)
    for late in (ok(request, expires=BROKEN), challenge(request), response(request, 403)):
        registrar.send(late, arrival)  # late: its transaction is over
    sent_by = f"{registrar.host}:{registrar.port}"
    for method in METHODS:
        registrar.send_raw(
            request_bytes(method, contact, sent_by=sent_by, transport=transport), arrival
        )
    for bad in unanswerable(transport, contact, sent_by).values():
        registrar.send_raw(bad, arrival)
    if transport == "UDP":
        for size in (0, 1, 3, 200, 1400, 60000):
            registrar.send_raw(os.urandom(size), arrival)


async def test_other_profiles_do_not_notice(
    hostile_registrar_factory: HostileFactory,
    scripted_registrar_factory: Factory,
    daemon: RunningDaemon,
) -> None:
    """Two profiles at a hostile UDP registrar and two at a hostile TCP one; one at a
    well-behaved UDP registrar (short grant: it refreshes during the abuse, which then
    hits the shared UDP socket its answers come in on) and one at a well-behaved TCP
    registrar. After about 3 s of abuse the well-behaved profiles never left
    "registered", sent only their normal refreshes, and the bus answered within
    0.5 s all along; the hostile profiles are registered again as well."""
    bad_udp = await hostile_registrar_factory("udp")
    bad_tcp = await hostile_registrar_factory("tcp")
    good_udp = await scripted_registrar_factory("udp")
    good_tcp = await scripted_registrar_factory("tcp")
    good_udp.default = grant(2)
    async with raw_bus(daemon.address) as raw:
        hostile = [
            await enable(raw, registrar, f"sip:h{n}-{registrar.transport}@example.test")
            for registrar in (bad_udp, bad_tcp)
            for n in range(2)
        ]
        g_udp = await enable(raw, good_udp, "sip:good-udp@example.test")
        g_tcp = await enable(raw, good_tcp, "sip:good-tcp@example.test")
        for path in [*hostile, g_udp, g_tcp]:
            await wait_state(raw, path, "registered", timeout=5)
        good_contacts = {
            path: (await quick_props(raw, path))["RegisteredContact"] for path in (g_udp, g_tcp)
        }
        loop = asyncio.get_running_loop()
        slowest = 0.0
        end = loop.time() + 3.0
        rounds = 0
        while loop.time() < end:
            for registrar in (bad_udp, bad_tcp):
                for path in hostile[:2] if registrar is bad_udp else hostile[2:]:
                    props = await raw.get_all(path)
                    if props["State"] != "registered":
                        continue
                    contact = props["RegisteredContact"]
                    arrival = [r for r in registrar.registers if contact in r.data.decode()][-1]
                    if registrar is bad_tcp and not registrar.connected(arrival):
                        continue
                    abuse(registrar, arrival, contact)
            if rounds % 5 == 4 and bad_tcp.registers:  # now and then: a stream out of step
                bad_tcp.send_raw(b"garbage\r\n\r\n", bad_tcp.registers[-1])
            rounds += 1
            for path in (g_udp, g_tcp):
                started = loop.time()
                props = await quick_props(raw, path, 0.5)
                slowest = max(slowest, loop.time() - started)
                assert props["State"] == "registered"
                assert props["RegisteredContact"] == good_contacts[path]
            await asyncio.sleep(0.05)
        assert rounds >= 10
        for path in (g_udp, g_tcp):
            assert changed(raw, path, "State") == ["registering", "registered"]
            assert errors(raw, path) == []
            assert events(raw, path) == ["created", "registered"]
        assert len(good_tcp.received) == 1
        times = [r.at for r in good_udp.received]
        assert len(times) >= 2  # the first REGISTER and its refreshes, each in time
        for before, after in itertools.pairwise(times):
            assert 1.45 <= after - before <= 2.0, times
        assert all(r.request.method == "REGISTER" for r in [*good_udp.received, *good_tcp.received])
        for path in hostile:  # and the hostile ones, where the protocol let them
            await wait_state(raw, path, "registered", timeout=5)
            assert BROKEN not in changed(raw, path, "Expires")
        assert slowest < 0.5
        good_udp.default = default_handler


# ---------------------------------------------------------------------- 5. flood


def flood_datagrams(count: int, contact: str, rng: random.Random) -> list[bytes]:
    """Garbage of every kind: random bytes, STUN look-alikes, SIP cut short, responses to
    nothing, requests that cannot be answered, a few huge ones."""
    stun_cookie = struct.pack("!I", 0x2112A442)
    template = request_bytes("OPTIONS", contact, sent_by="192.0.2.1:5060")
    out: list[bytes] = []
    for n in range(count):
        kind = n % 6
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(1, 1400)))
        elif kind == 1:  # a STUN Binding success with a transaction nobody asked
            out.append(struct.pack("!HH", 0x0101, 0) + stun_cookie + rng.randbytes(12))
        elif kind == 2:
            out.append(template[: rng.randrange(1, len(template))])
        elif kind == 3:
            branch = f"z9hG4bK{rng.randbytes(6).hex()}"
            out.append(
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch="
                + branch.encode()
                + b"\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                + b"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
            )
        elif kind == 4:
            out.append(sub(rb"^(From: [^\r]*)", b"\\1\x00")(template))
        else:
            out.append(rng.randbytes(60000) if n % 600 == 5 else rng.randbytes(40))
    return out


class Blaster(threading.Thread):
    """Sends a flood from a socket of its own, in a thread: the daemon runs in the test's
    event loop, which must stay free to serve it. One datagram in 50 is a ping (OPTIONS)
    whose answer is counted: the daemon read the flood, not just the kernel."""

    PING_EVERY = 50

    def __init__(self, datagrams: list[bytes], to: tuple[str, int], target: str, bursts: int):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        host, port = self.sock.getsockname()
        ping = request_bytes("OPTIONS", target, sent_by=f"{host}:{port}")
        self.datagrams = [
            ping if n % self.PING_EVERY == 0 else data for n, data in enumerate(datagrams)
        ]
        self.pings = len(self.datagrams[:: self.PING_EVERY])
        self.to = to
        self.bursts = bursts
        self.answered = 0

    def run(self) -> None:
        size = -(-len(self.datagrams) // self.bursts)
        for start in range(0, len(self.datagrams), size):
            for data in self.datagrams[start : start + size]:
                with contextlib.suppress(OSError):  # a full send buffer: the flood goes on
                    self.sock.sendto(data, self.to)
            threading.Event().wait(0.25)
        self.sock.settimeout(0.5)
        with contextlib.suppress(OSError), self.sock:
            while True:
                answer = parse(self.sock.recv(65535))
                if isinstance(answer, Response) and answer.status == 200:
                    self.answered += 1


async def test_flood_of_garbage_to_the_contact(
    hostile_registrar_factory: HostileFactory, stranger: Stranger, daemon: RunningDaemon
) -> None:
    """4000 datagrams from two sockets: one burst of 2000, and 2000 more in bursts over 2 s
    while a refresh falls due. The bus answers within a second throughout, the refresh
    goes out in time and its answer is taken, the pings in the flood are answered, and
    so is one after it."""
    registrar = await hostile_registrar_factory("udp")
    registrar.default = grant(2)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=3)
        contact = contact_of(props)
        target = props["RegisteredContact"]
        rng = random.Random(8)
        blasters = [
            Blaster(flood_datagrams(2000, target, rng), contact, target, bursts)
            for bursts in (1, 8)
        ]
        loop = asyncio.get_running_loop()
        started = loop.time()
        for blaster in blasters:
            blaster.start()
        slowest = 0.0
        while any(b.is_alive() for b in blasters) or loop.time() - started < 2.5:
            before = loop.time()
            props = await quick_props(raw, path)
            slowest = max(slowest, loop.time() - before)
            assert props["State"] == "registered"
            await asyncio.sleep(0.05)
        for blaster in blasters:
            blaster.join(5)
            # the kernel may drop some of a burst; most must have been read and answered
            assert blaster.answered >= blaster.pings // 2, (blaster.answered, blaster.pings)
        ping = request_bytes(
            "OPTIONS", target, sent_by=f"{stranger.address[0]}:{stranger.address[1]}"
        )
        stranger.send(ping, contact)
        [(data, source)] = await stranger.wait(1, timeout=1)
        answer = parse(data)
        assert isinstance(answer, Response) and answer.status == 200
        assert source == contact
        times = [r.at for r in registrar.registers]
        assert len(times) >= 2  # refreshed during the flood
        for before, after in itertools.pairwise(times):
            assert 1.45 <= after - before <= 2.0, times
        props = await quick_props(raw, path)
        assert props["State"] == "registered"
        assert changed(raw, path, "State") == ["registering", "registered"]
        assert errors(raw, path) == []
        assert slowest < 1.0
        registrar.default = default_handler
