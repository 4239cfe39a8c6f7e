"""parse_message (datagrams) and StreamFramer (streams), examples and properties."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.grammar import TOKEN_CHARS, is_header_value
from sipprofile.server.sip.message import Headers, Message, Request, Response
from sipprofile.server.sip.parser import Keepalive, StreamFramer, parse_message

OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=192.0.2.9;rport=40001\r\n"
    b"From: <sip:alice@example.com>;tag=1928301774\r\n"
    b"To: <sip:alice@example.com>;tag=a6c85cf\r\n"
    b"Call-ID: a84b4c76e66710@pc33\r\n"
    b"CSeq: 314159 REGISTER\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>;expires=3600\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def head(start: bytes = b"OPTIONS sip:x@example.com SIP/2.0", *lines: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in (start, *lines)) + b"\r\n"


# --- parse_message: examples ------------------------------------------------------


def test_parses_a_register_response() -> None:
    msg = parse_message(OK)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.body) == (200, "OK", b"")
    [via] = msg.via
    assert (via.received, via.rport) == ("192.0.2.9", 40001)
    assert msg.cseq == (314159, "REGISTER")
    assert msg.to.param("tag") == "a6c85cf"
    assert msg.to_bytes() == OK


def test_leading_crlfs_are_skipped() -> None:
    assert parse_message(b"\r\n\r\n\r\n" + OK) == parse_message(OK)


def test_folding_is_unfolded_with_one_space() -> None:
    msg = parse_message(
        head(b"OPTIONS sip:x SIP/2.0", b"Subject: a", b"\tb", b"   c ", b"X-E:", b" ")
    )
    assert msg.headers.get("Subject") == "a b c"
    assert msg.headers.get("X-E") == ""


def test_whitespace_around_the_colon() -> None:
    msg = parse_message(head(b"OPTIONS sip:x SIP/2.0", b"Call-ID \t:\t  abc  "))
    assert msg.call_id == "abc"


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (head(b"OPTIONS sip:x SIP/2.0") + b"rest of datagram", b"rest of datagram"),
        (head(b"OPTIONS sip:x SIP/2.0", b"l: 4") + b"rest", b"rest"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 4") + b"rest of it", b"rest"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 0004", b"l: 4") + b"rest", b"rest"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 2") + b"\r\n\r\n", b"\r\n"),
        (head(b"OPTIONS sip:x SIP/2.0") + b"\xff\x00\xfe", b"\xff\x00\xfe"),  # not UTF-8: fine
    ],
)
def test_body_framing_on_datagrams(data: bytes, body: bytes) -> None:
    assert parse_message(data).body == body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 5") + b"1234", "larger than"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 99999999999999999999"), "too large"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: " + b"9" * 5000), "too large"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 1", b"l: 2") + b"12", "conflicting"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: +1") + b"1", "non-negative"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length: 1 2") + b"12", "non-negative"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Content-Length:") + b"12", "non-negative"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Subject: \xc3\x28"), "not UTF-8"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Subject: \xed\xa0\x80"), "not UTF-8"),  # surrogate
        (head(b"OPTIONS sip:\xc3\xa9 SIP/2.0"), "non-ASCII"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Subject: a\nb"), "bare CR or LF"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Subject: a\rb"), "bare CR or LF"),
        (b"OPTIONS sip:x SIP/2.0\nTo: <sip:x>\n\n", "no empty line"),
        (b"OPTIONS sip:x SIP/2.0\r\nTo: <sip:x>\r\n", "no empty line"),
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (head(b"OPTIONS sip:x SIP/2.0", b" folded: first"), "starts with whitespace"),
        (head(b"OPTIONS sip:x SIP/2.0", b"No colon here"), "Name: value"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Bad Name: x"), "Name: value"),
        (head(b"OPTIONS sip:x SIP/2.0", b": x"), "Name: value"),
        (head(b"OPTIONS sip:x SIP/2.0", b"Bad(Name): x"), "Name: value"),
        (head(b"OPTIONS sip:x"), "single spaces"),
        (head(b"OPTIONS sip:x SIP/2.0 "), "single spaces"),
        (head(b"OPTIONS sip:x HTTP/1.1"), "version"),
        (head(b"OPTIONS sip:x SIP/2.1"), "version"),
        (head(b"OP(TIONS sip:x SIP/2.0"), "method"),
        (head(b"OPTIONS x SIP/2.0"), "scheme"),
        (head(b"OPTIONS * SIP/2.0"), "scheme"),
        (head(b"OPTIONS sip:<x> SIP/2.0"), "Request-URI"),
        (head(b"SIP/2.0 099 Low"), "status code"),
        (head(b"SIP/2.0 700 High"), "status code"),
        (head(b"SIP/2.0 2x0 OK"), "status code"),
        (head(b"SIP/2.0  200 OK"), "status code"),
        (head(b"SIP/2.0 200 O\x00K"), "control character"),
        (head(b"SIP/3.0 200 OK"), "version"),
        (head(b"SIP/2.0"), "status code"),
    ],
)
def test_malformed_datagrams(data: bytes, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse_message(data)


@pytest.mark.parametrize(
    ("start", "status", "reason"),
    [
        (b"SIP/2.0 200 OK", 200, "OK"),
        (b"sip/2.0 180 Ringing", 180, "Ringing"),
        (b"SIP/2.0 100", 100, ""),  # no SP before the (empty) reason: accepted
        (b"SIP/2.0 100 ", 100, ""),
        (b"SIP/2.0 699 \ttabs  and  spaces ", 699, "\ttabs  and  spaces "),
    ],
)
def test_status_lines(start: bytes, status: int, reason: str) -> None:
    msg = parse_message(head(start))
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (status, reason)


def test_limits() -> None:
    data = head(b"OPTIONS sip:x SIP/2.0", *[b"X-H: %d" % i for i in range(10)])
    assert len(parse_message(data, max_headers=10).headers) == 10
    with pytest.raises(SipParseError, match="more than 9 header"):
        parse_message(data, max_headers=9)
    # folded lines belong to one field and do not count twice
    assert len(parse_message(head(b"A sip:x SIP/2.0", b"X: a", b" b"), max_headers=1).headers) == 1
    parse_message(data, max_size=len(data))
    with pytest.raises(SipParseError, match="exceeds the limit"):
        parse_message(data, max_size=len(data) - 1)


def test_received_values_are_kept_even_if_add_would_refuse_them() -> None:
    msg = parse_message(head(b"OPTIONS sip:x SIP/2.0", b"X-Ctl: a\x01b\x7f"))
    assert msg.headers.get("X-Ctl") == "a\x01b\x7f"
    assert parse_message(msg.to_bytes()).headers.get("X-Ctl") == "a\x01b\x7f"


# --- StreamFramer: examples ------------------------------------------------------


def test_framer_byte_by_byte() -> None:
    body = b"v=0\r\n\r\n\r\nstill body"
    request = head(b"MESSAGE sip:x SIP/2.0", b"l: %d" % len(body)) + body
    stream = OK + request + OK
    framer = StreamFramer()
    items = [item for i in range(len(stream)) for item in framer.feed(stream[i : i + 1])]
    assert items == [parse_message(OK), parse_message(request), parse_message(OK)]
    assert items[1].body == body


def test_framer_keepalives() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []  # a ping: skipped
    assert framer.feed(b"\r\n") == [Keepalive()]  # a pong
    assert framer.feed(b"\r\n" + OK + b"\r\n\r\n\r\n") == [
        Keepalive(),
        parse_message(OK),
        Keepalive(),
    ]
    assert framer.feed(b"\r\n\r") == []  # could be a ping in progress
    assert framer.feed(b"\n") == []  # it was
    assert framer.feed(b"\r") == []
    assert framer.feed(b"\n" + OK) == [Keepalive(), parse_message(OK)]


def test_framer_cr_after_a_pong_is_not_a_ping() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="bare CR"):
        framer.feed(b"\r\n\r" + OK)


def test_framer_ping_flood_is_cheap() -> None:
    # Consumed bytes are dropped once per feed: 400 kB of pings would otherwise cost
    # gigabytes of memmove.
    assert StreamFramer().feed(b"\r\n\r\n" * 100_000 + OK) == [parse_message(OK)]


def test_framer_many_messages_in_one_feed_beyond_max_size() -> None:
    framer = StreamFramer(max_size=len(OK))
    assert framer.feed(OK * 50) == [parse_message(OK)] * 50


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (head(b"OPTIONS sip:x SIP/2.0") + b"body", "must have Content-Length"),
        (head(b"OPTIONS sip:x SIP/2.0", b"l: 1", b"l: 2"), "conflicting"),
        (head(b"OPTIONS sip:x SIP/2.0", b"l: 70000"), "exceeds the limit"),
        (b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 70000, "header section exceeds"),
        (b"\rX" + OK, "bare CR"),
        (b"\r\n\r\n\r\nJUNK\r\n\r\n", "request line"),
    ],
)
def test_framer_errors_are_final(data: bytes, error: str) -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match=error):
        framer.feed(data)
    with pytest.raises(SipParseError, match="earlier error"):
        framer.feed(OK)


def test_framer_size_limit_applies_before_the_body_arrives() -> None:
    framer = StreamFramer(max_size=100)
    with pytest.raises(SipParseError, match="exceeds the limit of 100"):
        framer.feed(head(b"OPTIONS sip:x SIP/2.0", b"l: 90"))


# --- properties -------------------------------------------------------------------

URI_TEXT = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '<>"')
NAMES = st.text(TOKEN_CHARS, min_size=1, max_size=12).filter(
    lambda n: n.lower() not in ("content-length", "l")
)
VALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30).filter(is_header_value)
HEADERS = st.lists(st.tuples(NAMES, VALUES), max_size=8).map(Headers)
BODIES = st.binary(max_size=120)
REQUESTS = st.builds(
    Request,
    st.text(TOKEN_CHARS, min_size=1, max_size=10),
    st.builds(
        "{}:{}".format,
        st.sampled_from(["sip", "sips", "tel", "urn", "x-y.z+1"]),
        st.text(URI_TEXT, min_size=1, max_size=30),
    ),
    HEADERS,
    BODIES,
)
RESPONSES = st.builds(
    Response,
    st.integers(100, 699),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\t"))
    | st.text("\t ab"),
    HEADERS,
    BODIES,
)
MESSAGES = REQUESTS | RESPONSES


def with_length(message: Message) -> Message:
    """``message`` as it reads back: the serialiser always adds Content-Length."""
    headers = message.headers.copy()
    headers.add("Content-Length", str(len(message.body)))
    return dataclasses.replace(message, headers=headers)


@given(MESSAGES)
def test_property_messages_round_trip(message: Message) -> None:
    data = message.to_bytes()
    parsed = parse_message(data)
    assert parsed == with_length(message)
    assert parsed.to_bytes() == data


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_property_arbitrary_bytes_raise_only_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data, max_size=500, max_headers=8)


@settings(max_examples=300)
@given(MESSAGES, st.data())
def test_property_mutated_messages_raise_only_sip_parse_error(
    message: Message, data: st.DataObject
) -> None:
    wire = bytearray(message.to_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire)))
        byte = data.draw(st.sampled_from(b'\r\n :;,<>"\\/\x00\xff\xc3 0-9aZ'))
        if data.draw(st.booleans()) and at < len(wire):
            wire[at] = byte
        else:
            wire.insert(at, byte)
    try:
        parsed = parse_message(bytes(wire))
    except SipParseError:
        return
    for read in ("call_id", "cseq", "via", "from_", "to"):  # structured reads too
        with contextlib.suppress(SipParseError):
            getattr(parsed, read)


@given(st.lists(MESSAGES, min_size=1, max_size=5), st.lists(st.booleans()), st.data())
def test_property_framer_reassembles_split_streams(
    messages: list[Message], pings: list[bool], data: st.DataObject
) -> None:
    wires = [m.to_bytes() for m in messages]
    stream = b"".join(
        (b"\r\n\r\n" if i < len(pings) and pings[i] else b"") + w for i, w in enumerate(wires)
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    framer = StreamFramer()
    items: list[Message | Keepalive] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        items += framer.feed(stream[start:end])
    assert [i for i in items if not isinstance(i, Keepalive)] == [with_length(m) for m in messages]


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_property_framer_arbitrary_bytes_raise_only_sip_parse_error(chunks: list[bytes]) -> None:
    framer = StreamFramer(max_size=400, max_headers=8)
    failed = False
    for chunk in chunks:
        try:
            items = framer.feed(chunk)
        except SipParseError:
            failed = True
            continue
        assert not failed, "a framer must stay failed after an error"
        assert all(isinstance(i, Request | Response | Keepalive) for i in items)
