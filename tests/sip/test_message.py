"""Headers multi-map, structured header values, and the Request/Response model."""

from __future__ import annotations

import contextlib
import string
from http import HTTPStatus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.grammar import TOKEN_CHARS
from sipprofile.server.sip.headers import (
    NameAddr,
    Via,
    parse_auth_params,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_via,
    split_list,
)
from sipprofile.server.sip.message import Headers, Request, Response

COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
    "y": "Identity",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
}

# --- Headers ---------------------------------------------------------------------


@pytest.mark.parametrize(("compact", "full"), COMPACT.items())
def test_compact_forms_are_expanded(compact: str, full: str) -> None:
    for spelling in (compact, compact.upper()):
        headers = Headers([(spelling, "x")])
        assert list(headers) == [(full, "x")]
        assert headers.get(full.upper()) == headers.get(compact) == "x"
        assert full in headers and compact in headers


@pytest.mark.parametrize(
    ("given_name", "canonical"),
    [
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("www-authenticate", "WWW-Authenticate"),
        ("Www-Authenticate", "WWW-Authenticate"),
        ("max-FORWARDS", "Max-Forwards"),
        ("p-associated-uri", "P-Associated-URI"),
        ("security-SERVER", "Security-Server"),
        ("X-Custom-thing", "X-Custom-thing"),  # unknown: kept as written
    ],
)
def test_known_names_get_their_rfc_spelling(given_name: str, canonical: str) -> None:
    headers = Headers()
    headers.add(given_name, "1")
    assert [name for name, _ in headers] == [canonical]
    assert headers.get(canonical.lower()) == "1"


def test_get_returns_the_first_line_or_a_default() -> None:
    headers = Headers([("Expires", "60"), ("expires", "70")])
    assert headers.get("EXPIRES") == "60"
    assert headers.get("Min-Expires") is None
    assert headers.get("Min-Expires", "") == ""


def test_get_all_splits_list_headers_only() -> None:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com"),
            ("v", "SIP/2.0/UDP c.example.com"),
            ("Contact", '"Doe, John" <sip:j@x;a=1,2>;q=0.5, <sip:k@y>'),
            ("Supported", "path, outbound ,gruu"),
            ("WWW-Authenticate", 'Digest realm="a", nonce="b", qop="auth,auth-int"'),
            ("Date", "Sat, 15 Oct 2005 04:44:56 GMT"),
            ("Subject", "lunch, maybe"),
            ("Require", ""),
        ]
    )
    assert headers.get_all("via") == [
        "SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
        "SIP/2.0/TCP b.example.com",
        "SIP/2.0/UDP c.example.com",
    ]
    assert headers.get_all("m") == ['"Doe, John" <sip:j@x;a=1,2>;q=0.5', "<sip:k@y>"]
    assert headers.get_all("k") == ["path", "outbound", "gruu"]
    assert headers.get_all("WWW-Authenticate") == [
        'Digest realm="a", nonce="b", qop="auth,auth-int"'
    ]
    assert headers.get_all("Date") == ["Sat, 15 Oct 2005 04:44:56 GMT"]
    assert headers.get_all("Subject") == ["lunch, maybe"]
    assert headers.get_all("Require") == []
    assert headers.get_all("Path") == []


@pytest.mark.parametrize(
    "name",
    [
        "Via",
        "Contact",
        "Route",
        "Record-Route",
        "Path",
        "Service-Route",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Allow",
        "Accept",
        "P-Associated-URI",
        "Security-Server",
        "Security-Client",
        "Security-Verify",
    ],
)
def test_every_listed_header_is_split(name: str) -> None:
    assert Headers([(name, "a, b")]).get_all(name) == ["a", "b"]


@pytest.mark.parametrize(
    "name", ["Authorization", "Proxy-Authenticate", "Proxy-Authorization", "Call-ID", "X-A"]
)
def test_other_headers_are_never_split(name: str) -> None:
    assert Headers([(name, "a, b")]).get_all(name) == ["a, b"]


def test_add_set_remove_keep_order() -> None:
    headers = Headers([("Via", "1"), ("To", "t"), ("Via", "2"), ("From", "f")])
    headers.add("via", "3")
    assert [v for n, v in headers if n == "Via"] == ["1", "2", "3"]
    headers.set("v", "only")
    assert list(headers) == [("Via", "only"), ("To", "t"), ("From", "f")]
    headers.set("Call-ID", "c")
    assert list(headers)[-1] == ("Call-ID", "c")
    headers.remove("t")
    headers.remove("Not-There")
    assert list(headers) == [("Via", "only"), ("From", "f"), ("Call-ID", "c")]
    assert len(headers) == 3
    assert "to" not in headers and "FROM" in headers and 42 not in headers


def test_equality_copy_and_repr() -> None:
    headers = Headers([("X-A", "1"), ("i", "c")])
    assert headers == Headers([("x-a", "1"), ("Call-ID", "c")])
    assert headers != Headers([("Call-ID", "c"), ("X-A", "1")])
    assert headers != [("X-A", "1"), ("Call-ID", "c")]
    clone = headers.copy()
    clone.add("X-B", "2")
    assert len(headers) == 2 and len(clone) == 3
    assert repr(headers) == "Headers([('X-A', '1'), ('Call-ID', 'c')])"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bad Name", "x"),
        ("", "x"),
        ("Via:", "x"),
        ("X-A", "a\r\nInjected: yes"),
        ("X-A", "a\nb"),
        ("X-A", " leading"),
        ("X-A", "trailing\t"),
        ("X-A", "nul\x00"),
        ("X-A", "\ud800"),
    ],
)
def test_add_and_set_refuse_what_cannot_be_sent(name: str, value: str) -> None:
    headers = Headers()
    with pytest.raises(SipParseError):
        headers.add(name, value)
    with pytest.raises(SipParseError):
        headers.set(name, value)
    with pytest.raises(SipParseError):
        Headers([(name, value)])
    assert len(headers) == 0


# --- split_list and parse_params -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b ,c", ["a", "b", "c"]),
        ('"x, y" <sip:a,b>, c', ['"x, y" <sip:a,b>', "c"]),
        ('"say \\"hi, there\\"" <sip:a>, b', ['"say \\"hi, there\\"" <sip:a>', "b"]),
        ("a,, ,b,", ["a", "b"]),
        ("", []),
        ('"unterminated, a', ['"unterminated, a']),  # never raises
        ("<sip:unclosed, a", ["<sip:unclosed, a"]),
    ],
)
def test_split_list(value: str, expected: list[str]) -> None:
    assert split_list(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        (";tag=1", (("tag", "1"),)),
        (" ;  lr ; Q = 0.5 ", (("lr", None), ("Q", "0.5"))),
        (';+sip.instance="<urn:uuid:1-2>";reg-id=1', (("+sip.instance", '"<urn:uuid:1-2>"'),
                                                      ("reg-id", "1"))),
        (';received=[2001:db8::1];x="a;b"', (("received", "[2001:db8::1]"), ("x", '"a;b"'))),
    ],
)  # fmt: skip
def test_parse_params(text: str, expected: tuple[tuple[str, str | None], ...]) -> None:
    assert parse_params(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (";", "stray"),
        (";;a", "stray"),
        (";a=", "no value"),
        (";a=<b>", "no value"),
        ("tag=1", "expected ';'"),
        (';a="open', "unterminated"),
        (";a=1 b", "expected ';'"),
        (';a="nul\\\x00"', "cannot carry"),
    ],
)
def test_parse_params_errors(text: str, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse_params(text)


# --- NameAddr --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "display", "uri", "params"),
    [
        ('"Bob" <sip:bob@x>;tag=1', "Bob", "sip:bob@x", (("tag", "1"),)),
        ("<sip:x>", None, "sip:x", ()),
        ("Bob <sip:x>", "Bob", "sip:x", ()),
        ("Bob   Smith<sip:x> ; lr", "Bob Smith", "sip:x", (("lr", None),)),
        ('"" <sip:x>', "", "sip:x", ()),
        ('"A \\"B\\" \\\\ C"<tel:+1-555>', 'A "B" \\ C', "tel:+1-555", ()),
        ("sip:bob@x;tag=1", None, "sip:bob@x", (("tag", "1"),)),
        ("  sip:bob@x  ", None, "sip:bob@x", ()),
        ("<sip:a@b;lr;transport=tcp?X=1>;expires=30", None, "sip:a@b;lr;transport=tcp?X=1",
         (("expires", "30"),)),
        ("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", None,
         "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6", ()),
    ],
)  # fmt: skip
def test_parse_name_addr(
    value: str, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    assert parse_name_addr(value) == NameAddr(display, uri, params)


def test_wildcard_contact() -> None:
    star = parse_name_addr(" * ")
    assert star.is_wildcard and str(star) == "*"
    assert not parse_name_addr("<sip:x>").is_wildcard
    with pytest.raises(SipParseError):
        NameAddr(None, "*", (("expires", "0"),))


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "empty"),
        ('"Bob <sip:x>', "unterminated"),
        ('"Bob" sip:x', "followed by <URI>"),
        ("<sip:x", "no matching"),
        ("Bob, Jr <sip:x>", "double quotes"),
        ("<>", "not a URI"),
        ("<sip:>", "nothing follows"),
        ("< sip:x >", "not a URI"),
        ("<sip:a b>", "must be %-escaped"),
        ("sip:x?Route=y", "enclosed in <>"),
        ("sip:a,b@c", "enclosed in <>"),
        ("bob", "not a URI"),
        ("1sip:x", "not a URI"),
        ("<sip:x>;", "stray"),
        ("<sip:x> junk", "expected ';'"),
    ],
)
def test_parse_name_addr_errors(value: str, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse_name_addr(value)


def test_name_addr_str_always_uses_angle_brackets() -> None:
    assert str(parse_name_addr("sip:bob@x;tag=1")) == "<sip:bob@x>;tag=1"
    assert str(NameAddr("Bob", "sip:b@x")) == '"Bob" <sip:b@x>'
    assert str(NameAddr('say "hi"', "sip:b@x", (("lr", None),))) == '"say \\"hi\\"" <sip:b@x>;lr'


def test_name_addr_params() -> None:
    addr = parse_name_addr("<sip:x>;Tag=1;lr;expires=60")
    assert addr.param("tag") == "1" and addr.param("LR") == "" and addr.param("q") is None
    assert addr.has_param("lr") and not addr.has_param("q")
    assert addr.with_param("TAG", "2").params == (("Tag", "2"), ("lr", None), ("expires", "60"))
    assert addr.with_param("ob").params[-1] == ("ob", None)
    assert addr.with_param("expires", "0") != addr  # frozen: a new value
    assert addr.param("expires") == "60"


@pytest.mark.parametrize(
    ("display", "uri", "params"),
    [
        ("a\r\nb", "sip:x", ()),
        (None, "sip x", ()),
        (None, "x", ()),
        (None, "sip:<x>", ()),
        (None, "sip:x", (("bad name", None),)),
        (None, "sip:x", (("a", ""),)),
        (None, "sip:x", (("a", "b c"),)),
        (None, "sip:x", (("a", '"open'),)),
    ],
)
def test_name_addr_refuses_unwritable_values(
    display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    with pytest.raises(SipParseError):
        NameAddr(display, uri, params)


TOKENS = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
URI_TEXT = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '<>"')
PARAM_VALUES = st.one_of(
    st.none(),
    st.text(alphabet=TOKEN_CHARS + ":[]", min_size=1, max_size=12),
    st.text(alphabet=string.ascii_letters + ' ;,"\\<>', max_size=12).map(
        lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    ),
)
PARAMS = st.lists(st.tuples(TOKENS, PARAM_VALUES), max_size=4).map(tuple)
DISPLAYS = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00")),
)


@given(
    display=DISPLAYS,
    uri=st.text(alphabet=URI_TEXT, min_size=1, max_size=30).map(lambda s: "sip:" + s),
    params=PARAMS,
)
def test_name_addr_round_trips(
    display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    addr = NameAddr(display, uri, params)
    assert parse_name_addr(str(addr)) == addr


# --- Via -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SIP/2.0/UDP host.example.com;branch=z9hG4bK1",
         Via("UDP", "host.example.com", None, (("branch", "z9hG4bK1"),))),
        ("sip/2.0/tls 192.0.2.1:5061;rport;branch=z9hG4bK2",
         Via("TLS", "192.0.2.1", 5061, (("rport", None), ("branch", "z9hG4bK2")))),
        ("SIP / 2.0 / TCP [2001:db8::1] : 5060 ; received=[2001:db8::9]",
         Via("TCP", "[2001:db8::1]", 5060, (("received", "[2001:db8::9]"),))),
        ("SIP/2.0/WSS h.example.com;received=2001:db8::9:255",
         Via("WSS", "h.example.com", None, (("received", "2001:db8::9:255"),))),
    ],
)  # fmt: skip
def test_parse_via(value: str, expected: Via) -> None:
    assert parse_via(value) == expected


def test_via_properties_and_str() -> None:
    via = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;received=203.0.113.7;rport=40000")
    assert (via.branch, via.received, via.rport, via.rport_requested) == (
        "z9hG4bKx",
        "203.0.113.7",
        40000,
        True,
    )
    requested = parse_via("SIP/2.0/UDP h.example.com;rport")
    assert (requested.rport, requested.rport_requested, requested.branch) == (None, True, None)
    assert not parse_via("SIP/2.0/UDP h.example.com").rport_requested
    assert str(Via("udp", "h.example.com", 5060, (("branch", "z9hG4bK1"), ("rport", None)))) == (
        "SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK1;rport"
    )
    assert via.with_param("rport", "5").rport == 5
    assert via.param("BRANCH") == "z9hG4bKx"
    with pytest.raises(SipParseError, match="not a number"):
        _ = parse_via("SIP/2.0/UDP h.example.com;rport=x1").rport
    with pytest.raises(SipParseError, match="0-65535"):
        _ = parse_via("SIP/2.0/UDP h.example.com;rport=65536").rport


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("SIP/3.0/UDP h.example.com", "unsupported"),
        ("HTTP/2.0/UDP h.example.com", "unsupported"),
        ("SIP/2.0 UDP h.example.com", "expected '/'"),
        ("SIP/2.0/ h.example.com", "whitespace"),
        ("SIP/2.0/UDP", "whitespace"),
        ("SIP/2.0/UDP ;branch=1", "not a host"),
        ("SIP/2.0/UDP h_x.example.com", "after the Via host"),
        ("SIP/2.0/UDP [2001:db8::1", "not a host"),
        ("SIP/2.0/UDP h.example.com:", "0-65535"),
        ("SIP/2.0/UDP h.example.com:65536", "0-65535"),
        ("SIP/2.0/UDP h.example.com;;", "stray"),
        ("SIP/2.0/UDP h.example.com branch=1", "after the Via host"),
    ],
)
def test_parse_via_errors(value: str, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse_via(value)


def test_via_refuses_unwritable_values() -> None:
    for args in (("U P", "h.example.com"), ("UDP", "not a host"), ("UDP", "h.example.com", 70000)):
        with pytest.raises(SipParseError):
            Via(*args)


HOSTS = st.sampled_from(["h.example.com", "192.0.2.1", "[2001:db8::1]", "EXAMPLE.org."])


@given(transport=TOKENS, host=HOSTS, port=st.none() | st.integers(0, 65535), params=PARAMS)
def test_via_round_trips(
    transport: str, host: str, port: int | None, params: tuple[tuple[str, str | None], ...]
) -> None:
    via = Via(transport, host, port, params)
    assert parse_via(str(via)) == via


STRUCTURED_TEXT = st.text() | st.lists(
    st.sampled_from([*'sip:SIP/2.0UDP ;,="\\<>[]@*\t x1_%', "\x00", "é", "\ud800"]), max_size=40
).map("".join)


@given(STRUCTURED_TEXT)
def test_property_structured_parsers_raise_only_sip_parse_error(text: str) -> None:
    assert all(isinstance(element, str) for element in split_list(text))
    for parse in (parse_params, parse_cseq, parse_auth_params):
        with contextlib.suppress(SipParseError):
            parse(text)
    with contextlib.suppress(SipParseError):
        addr = parse_name_addr(text)
        assert parse_name_addr(str(addr)) == addr
    with contextlib.suppress(SipParseError):
        via = parse_via(text)
        assert parse_via(str(via)) == via
        _ = via.rport


# --- CSeq and auth params ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1 REGISTER", (1, "REGISTER")),
        ("  0009 \t INVITE ", (9, "INVITE")),
        ("2147483647 X-Y", (2**31 - 1, "X-Y")),
        ("0 a", (0, "a")),
    ],
)
def test_parse_cseq(value: str, expected: tuple[int, str]) -> None:
    assert parse_cseq(value) == expected


@pytest.mark.parametrize(
    "value",
    ["2147483648 REGISTER", "9" * 5000 + " REGISTER", "-1 REGISTER", "1", "REGISTER 1",
     "1 REGISTER extra", "1 REG/ISTER", "", "1.5 INVITE"],
)  # fmt: skip
def test_parse_cseq_errors(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_cseq(value)


def test_parse_auth_params_digest_challenge() -> None:
    value = 'Digest realm="x", nonce="y", qop="auth,auth-int", algorithm=SHA-256, stale=TRUE'
    assert parse_auth_params(value) == (
        "Digest",
        {"realm": "x", "nonce": "y", "qop": "auth,auth-int", "algorithm": "SHA-256",
         "stale": "TRUE"},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Digest a=1, b=2", ("Digest", {"a": "1", "b": "2"})),
        ("Digest A=1 ,B = 2,, ,C=\"x\\\"y\"", ("Digest", {"a": "1", "b": "2", "c": 'x"y'})),
        ("Digest", ("Digest", {})),
        ("  Digest  ", ("Digest", {})),
        ('Digest realm="a,b=c", nonce=abc/def+==', ("Digest", {"realm": "a,b=c",
                                                               "nonce": "abc/def+=="})),
        ('Digest username="bob", uri="sip:x", response="0a"',
         ("Digest", {"username": "bob", "uri": "sip:x", "response": "0a"})),
    ],
)  # fmt: skip
def test_parse_auth_params(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_auth_params(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", "scheme"),
        ('"Digest" a=1', "scheme"),
        ("Digest,a=1", "whitespace"),
        ("Digest realm", "expected '='"),
        ('Digest realm="a", Basic realm="b"', "one challenge"),
        ("Digest a=1, A=2", "more than once"),
        ("Digest a=", "no value"),
        ('Digest a="open', "unterminated"),
        ('Digest a="x"y', "expected ','"),
    ],
)
def test_parse_auth_params_errors(value: str, error: str) -> None:
    with pytest.raises(SipParseError, match=error):
        parse_auth_params(value)


# --- Request and Response ---------------------------------------------------------


def register() -> Request:
    headers = Headers()
    headers.add("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport")
    headers.add("Max-Forwards", "70")
    headers.add("From", '"Alice" <sip:alice@example.com>;tag=1928301774')
    headers.add("To", "<sip:alice@example.com>")
    headers.add("Call-ID", "a84b4c76e66710@pc33")
    headers.add("CSeq", "314159 REGISTER")
    headers.add("Contact", "<sip:alice@192.0.2.1:5060>;expires=3600")
    return Request("REGISTER", "sip:example.com", headers)


def test_request_to_bytes() -> None:
    assert register().to_bytes() == (
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b'From: "Alice" <sip:alice@example.com>;tag=1928301774\r\n'
        b"To: <sip:alice@example.com>\r\n"
        b"Call-ID: a84b4c76e66710@pc33\r\n"
        b"CSeq: 314159 REGISTER\r\n"
        b"Contact: <sip:alice@192.0.2.1:5060>;expires=3600\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )


def test_content_length_is_always_computed() -> None:
    headers = Headers(
        [("To", "<sip:a@b>"), ("l", "999"), ("Subject", "s"), ("Content-Length", "7")]
    )
    message = Response(200, "OK", headers, b"hello")
    assert message.to_bytes() == (
        b"SIP/2.0 200 OK\r\nTo: <sip:a@b>\r\nContent-Length: 5\r\nSubject: s\r\n\r\nhello"
    )
    assert headers.get("Content-Length") == "999"  # serialising does not modify the message


def test_response_status_may_be_an_int_enum() -> None:
    assert Response(HTTPStatus.OK, "OK", Headers()).to_bytes().startswith(b"SIP/2.0 200 OK\r\n")


def test_response_to_bytes_utf8_reason_and_body() -> None:
    message = Response(486, "Besetzt, später ☎", Headers([("X-A", "ü")]), b"\x00\xff")
    assert message.to_bytes() == (
        "SIP/2.0 486 Besetzt, später ☎\r\nX-A: ü\r\nContent-Length: 2\r\n\r\n".encode()
        + b"\x00\xff"
    )


@pytest.mark.parametrize(
    "message",
    [
        Request("REG ISTER", "sip:x", Headers()),
        Request("", "sip:x", Headers()),
        Request("REGISTER", "sip:a b", Headers()),
        Request("REGISTER", "<sip:x>", Headers()),
        Request("REGISTER", "sip:é", Headers()),
        Request("REGISTER", "", Headers()),
        Response(99, "x", Headers()),
        Response(700, "x", Headers()),
        Response(True, "x", Headers()),
        Response(200, "O\r\nK", Headers()),
        Response(200, "\x00", Headers()),
    ],
)
def test_to_bytes_refuses_unwritable_start_lines(message: Request | Response) -> None:
    with pytest.raises(SipParseError):
        message.to_bytes()


def test_convenience_properties() -> None:
    message = register()
    message.headers.add("v", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2")
    assert message.call_id == "a84b4c76e66710@pc33"
    assert message.cseq == (314159, "REGISTER")
    assert [v.host for v in message.via] == ["192.0.2.1", "proxy.example.com"]
    assert message.via[0].rport_requested
    assert message.from_ == NameAddr("Alice", "sip:alice@example.com", (("tag", "1928301774"),))
    assert message.to == NameAddr(None, "sip:alice@example.com")


def test_convenience_properties_on_missing_or_repeated_headers() -> None:
    message = Response(200, "OK", Headers())
    assert message.via == []
    for attribute in ("call_id", "cseq", "from_", "to"):
        with pytest.raises(SipParseError, match=r"0 .* headers"):
            getattr(message, attribute)
    message.headers.add("Call-ID", "a")
    message.headers.add("i", "b")
    with pytest.raises(SipParseError, match="2 Call-ID headers"):
        _ = message.call_id
