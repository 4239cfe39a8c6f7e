"""What the ``message``, ``stream`` and ``headers`` targets check: the SIP parser.

Datagrams (``parse_message``), stream framing (``StreamFramer``) and every header value
a UA reads (Via, name-addr, URI, CSeq, params, auth params, sec-agree lists): only the
documented error comes out, and what parses writes back the same. Challenge values are
handed to ``oracles_digest``. Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterable

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.headers import (
    parse_auth_params,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_via,
    split_list,
    via_branch,
)
from sipprofile.server.sip.message import Message, Request, Response
from sipprofile.server.sip.params import check_params, format_params
from sipprofile.server.sip.parser import Keepalive, StreamFramer, parse_message
from sipprofile.server.sip.sec_agree import SecAgreeError, format_mechanisms, parse_mechanisms
from sipprofile.server.sip.uri import aor_lookup_key, check_uri, parse_uri, uri_equivalent

from .oracles_common import text_of
from .oracles_digest import check_challenge_text

#: Limits used for the fuzzed datagrams: small enough that "too many headers" and "too
#: large" are reached by mutations, as they are by a hostile peer at the real limits.
MAX_SIZE = 4096
MAX_HEADERS = 32


# --------------------------------------------------------------------- SIP messages


def _sans_length(message: Message) -> tuple[object, ...]:
    """A message as it must read back: ``to_bytes`` writes one true Content-Length."""
    start: tuple[object, ...]
    if isinstance(message, Request):
        start = ("request", message.method, message.uri)
    else:
        start = ("response", message.status, message.reason)
    lines = [(name, value) for name, value in message.headers if name != "Content-Length"]
    return (*start, lines, message.body)


def check_message(data: bytes) -> None:
    """``parse_message`` raises only ``SipParseError``; what it accepts round-trips.

    A parsed message written with ``to_bytes`` parses to the same message (up to the
    Content-Length, which is always written and always true), and writing that again
    gives the same bytes. Every header value is then read the way a UA reads it.
    """
    try:
        message = parse_message(data, max_size=MAX_SIZE, max_headers=MAX_HEADERS)
    except SipParseError:
        return
    wire = message.to_bytes()  # a parsed message can always be written back
    again = parse_message(wire, max_size=len(wire), max_headers=MAX_HEADERS + 1)
    assert _sans_length(again) == _sans_length(message), (wire, message, again)
    assert again.to_bytes() == wire
    assert again.headers.get("Content-Length") == str(len(message.body))
    check_parsed(message)


def check_parsed(message: Message) -> None:
    """Read a parsed message as a UA does: only ``SipParseError`` (and kin) may come out."""
    for read in ("call_id", "cseq", "via", "from_", "to"):
        with contextlib.suppress(SipParseError):
            getattr(message, read)
    if isinstance(message, Request) and message.uri[:4].lower() in ("sip:", "sips"):
        check_uri_text(message.uri)
    for name, value in message.headers:
        check_header(name, value)


_NAME_ADDR_HEADERS = frozenset(
    ["From", "To", "Contact", "Route", "Record-Route", "Path", "Service-Route",
     "P-Associated-URI", "P-Asserted-Identity", "Refer-To", "Referred-By", "Reply-To"]
)  # fmt: skip


def check_header(name: str, value: str) -> None:
    """Read one header value with the parser that reads it on a received message."""
    elements = split_list(value)
    assert all(e and e == e.strip(" \t") for e in elements), elements
    if name == "Via":
        for element in elements:
            check_via(element)
    elif name in _NAME_ADDR_HEADERS:
        for element in elements if name not in ("From", "To") else [value]:
            check_name_addr(element)
    elif name == "CSeq":
        check_cseq(value)
    elif name in ("WWW-Authenticate", "Proxy-Authenticate"):
        check_challenge_text(value, proxy=name == "Proxy-Authenticate")
        check_auth_params(value)
    elif name in ("Authorization", "Proxy-Authorization"):
        check_auth_params(value)
    elif name in ("Security-Server", "Security-Client", "Security-Verify"):
        check_mechanisms(value)


def check_header_value(value: str) -> None:
    """Every header-level parser on one value (the ``headers`` target)."""
    for element in split_list(value) or [value]:
        check_via(element)
        check_name_addr(element)
    check_name_addr(value)
    check_cseq(value)
    check_param_list(value)
    check_auth_params(value)
    check_mechanisms(value)
    check_uri_text(value)
    check_challenge_text(value)


def check_via(value: str) -> None:
    """``parse_via`` and its fast twin ``via_branch`` agree; a Via writes back as it read."""
    try:
        via = parse_via(value)
    except SipParseError:
        via = None
    try:
        branch = via_branch(value)
    except SipParseError:
        assert via is None, f"via_branch refused {value!r}, which parse_via read"
    else:
        assert via is not None, f"via_branch read {value!r}, which parse_via refused"
        assert branch == via.branch
    if via is None:
        return
    assert parse_via(str(via)) == via, (value, str(via))
    with contextlib.suppress(SipParseError):
        rport = via.rport
        assert rport is None or 0 <= rport <= 65535


def check_name_addr(value: str) -> None:
    """A name-addr or addr-spec that parses writes back (always as name-addr) the same."""
    try:
        addr = parse_name_addr(value)
    except SipParseError:
        return
    text = str(addr)
    assert parse_name_addr(text) == addr, (value, text)
    if addr.uri[:4].lower() in ("sip:", "sips"):
        check_uri_text(addr.uri)


def check_uri_text(text: str) -> None:
    """``parse_uri`` raises only ``SipParseError``; a URI writes back to an equal one."""
    try:
        uri = parse_uri(text)
    except SipParseError:
        try:
            check_uri(text)
        except SipParseError:
            return
        raise AssertionError(f"check_uri passed {text!r}, which parse_uri refused") from None
    check_uri(text)
    written = str(uri)
    again = parse_uri(written)
    assert again == uri, (text, written)
    assert uri_equivalent(uri, again)
    assert aor_lookup_key(uri) == aor_lookup_key(again)


def check_cseq(value: str) -> None:
    """``parse_cseq`` gives a number below 2**31 and a method that write back the same."""
    try:
        number, method = parse_cseq(value)
    except SipParseError:
        return
    assert 0 <= number < 2**31
    assert parse_cseq(f"{number} {method}") == (number, method)


def check_param_list(value: str) -> None:
    """Parameters that parse pass ``check_params`` and write back the same."""
    try:
        params = parse_params(value)
    except SipParseError:
        return
    check_params(params)
    assert parse_params(format_params(params)) == params


def check_auth_params(value: str) -> None:
    """``parse_auth_params`` raises only ``SipParseError``; names come out lower case."""
    try:
        _, params = parse_auth_params(value)
    except SipParseError:
        return
    assert all(name == name.lower() for name in params)


def check_mechanisms(value: str) -> None:
    """A Security-Server list raises only ``SecAgreeError``, and writes back the same."""
    try:
        mechanisms = parse_mechanisms([value])
    except SecAgreeError:
        return
    for mechanism in mechanisms:
        q = mechanism.q
        assert q is None or 0 <= q <= 1
    assert parse_mechanisms([format_mechanisms(mechanisms)]) == mechanisms


def check_headers(data: bytes) -> None:
    """The ``headers`` target: ``data`` as one header value (UTF-8, as the parser gives)."""
    value = text_of(data)
    if value is not None:
        check_header_value(value)


# --------------------------------------------------------------------- stream framing


def _feed(framer: StreamFramer, chunks: Iterable[bytes]) -> tuple[list[Message], bool]:
    """Feed ``chunks``; the messages that came out, and whether the stream failed.

    After an error every later feed must raise too; items are messages or pongs only.
    """
    messages: list[Message] = []
    failed = False
    for chunk in chunks:
        try:
            items = framer.feed(chunk)
        except SipParseError:
            failed = True
            continue
        assert not failed, "a framer must stay failed after an error"
        for item in items:
            assert isinstance(item, Request | Response | Keepalive), item
            if not isinstance(item, Keepalive):
                messages.append(item)
    return messages, failed


def check_stream_chunks(stream: bytes, cuts: Iterable[int]) -> None:
    """``StreamFramer`` raises only ``SipParseError``, and framing ignores chunking.

    The stream fed whole and fed in the pieces ``cuts`` gives the same messages, and
    fails or not alike (only pongs may differ: a lone CRLF read before the rest of a
    ping arrives is a pong). Each message, written out, frames to itself again.
    """
    whole, whole_failed = _feed(StreamFramer(max_size=MAX_SIZE, max_headers=MAX_HEADERS), [stream])
    bounds = sorted({0, len(stream), *(c for c in cuts if 0 < c < len(stream))})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    framer = StreamFramer(max_size=MAX_SIZE, max_headers=MAX_HEADERS)
    chunked, chunked_failed = _feed(framer, [*pieces, b""])
    assert chunked_failed == whole_failed, (stream, bounds)
    if whole_failed:
        return
    assert chunked == whole, (stream, bounds)
    for message in whole:
        wire = message.to_bytes()
        [again] = StreamFramer(max_size=len(wire), max_headers=MAX_HEADERS + 1).feed(wire)
        assert not isinstance(again, Keepalive)
        assert _sans_length(again) == _sans_length(message)


def check_stream(data: bytes) -> None:
    """The ``stream`` target: the first byte seeds where the rest is cut into reads."""
    if not data:
        return
    rng = random.Random(data[0])
    stream = data[1:]
    cuts = [rng.randrange(len(stream) + 1) for _ in range(rng.randrange(12))]
    if data[0] == 0:  # one byte per read: the framer's worst case
        cuts = list(range(len(stream)))
    check_stream_chunks(stream, cuts)
