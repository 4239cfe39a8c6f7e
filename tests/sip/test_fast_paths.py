"""Every fast path of the SIP core agrees with the reading it shortcuts.

The usual shapes of header values, URIs and messages are read by one regular expression
(or one dictionary look-up) each, and everything else by the step-by-step readers, which
define the syntax and word the errors. These properties feed both the same text and
demand the same result, or the same error with the same message.
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip import digest, digest_challenge, parser
from sipprofile.server.sip.digest import Challenge, Credentials, authorization, new_cnonce
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.grammar import (
    HEADER_VALUES_RE,
    is_header_value,
    is_plain_header_value,
    quote_string,
    quote_strings,
)
from sipprofile.server.sip.headers import name_addr_text, parse_name_addr
from sipprofile.server.sip.message import TOKEN_NAMES, Headers, Response
from sipprofile.server.sip.params import _parse_params_by_cursor, parse_params
from sipprofile.server.sip.register_response import via_as_sent
from sipprofile.server.sip.uri import check_uri, parse_uri
from sipprofile.server.sip.via import _parse_via_by_cursor, parse_via, via_branch


def outcome(read, *args):
    """The result of ``read(*args)``, or the type and message of what it raised."""
    try:
        return ("ok", read(*args))
    except SipParseError as exc:
        return ("error", str(exc))


PIECES = [
    *"sip SIP Sip / 2.0 3.0 UDP tcp ; , = : [ ] @ * < > \\".split(),  # noqa: SIM905
    "\t",
    " ",
    '"',
    '"quoted"',
    '"a\\"b"',
    '"\x01"',
    '"\\\x01"',
    "\x00",
    "é",
    "\x85",
    "h.example.com",
    "192.0.2.1",
    "2001:db8::1",
    "256.1.1.1",
    "1a.com",
    "-a",
    "branch",
    "BRANCH",
    "z9hG4bK1",
    "rport",
    "received",
    "5060",
    "65536",
    "000005060",
    "expires",
    "3600",
    "lr",
    "transport=tcp",
]
TEXTS = st.text(max_size=40) | st.lists(st.sampled_from(PIECES), max_size=20).map("".join)
VIAS = st.lists(st.sampled_from(PIECES), max_size=12).map(
    lambda parts: "SIP/2.0/UDP " + "".join(parts)
) | st.lists(st.sampled_from(PIECES), max_size=10).map(
    lambda parts: "SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK1" + "".join(parts)
)


# --- header parameters and Via ------------------------------------------------------


@settings(max_examples=1500)
@given(TEXTS | st.lists(st.sampled_from(PIECES), max_size=12).map(lambda p: ";" + "".join(p)))
def test_parse_params_reads_as_the_cursor_does(text: str) -> None:
    assert outcome(parse_params, text) == outcome(_parse_params_by_cursor, text)


@settings(max_examples=1500)
@given(TEXTS | VIAS)
def test_parse_via_reads_as_the_cursor_does(text: str) -> None:
    assert outcome(parse_via, text) == outcome(_parse_via_by_cursor, text.strip(" \t"))


@settings(max_examples=1500)
@given(TEXTS | VIAS)
def test_via_branch_is_the_branch_of_parse_via(text: str) -> None:
    expected = outcome(lambda t: parse_via(t).branch, text)
    assert outcome(via_branch, text) == expected


SENT = "SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK1"  # a Via of ours, up to its branch


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(PIECES), max_size=10).map("".join))
def test_our_via_as_sent_reads_as_parse_via_does(rest: str) -> None:
    """Whatever follows our branch: ours only where parse_via reads our branch first."""
    top = SENT + rest
    after = via_as_sent(top, SENT)
    full = outcome(parse_via, top)
    if after is not None:
        assert full[0] == "ok"
        assert full[1].params == (("branch", "z9hG4bK1"), *after)
    elif full[0] == "ok" and top.startswith(SENT):  # read in full instead: not as sent
        params = full[1].params
        assert params[0] != ("branch", "z9hG4bK1") or rest[:1] not in ("", ";")


@pytest.mark.parametrize(
    ("value", "branch"),
    [
        ("SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKa;rport=40000;received=127.0.0.1", "z9hG4bKa"),
        ("SIP/2.0/TCP [2001:db8::1]:5060;BRANCH=z9hG4bKb", "z9hG4bKb"),
        ("SIP/2.0/UDP h.example.com;rport;branch=z9hG4bKc", "z9hG4bKc"),  # not first
        ("SIP/2.0/UDP h.example.com;branch", ""),  # a flag
        ("SIP/2.0/UDP h.example.com:000005060;branch=x", "x"),  # leading zeros
        ("SIP/2.0/UDP h.example.com", None),
    ],
)
def test_via_branch(value: str, branch: str | None) -> None:
    assert via_branch(value) == branch == parse_via(value).branch


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP h.example.com:65536;branch=x",
        "SIP/2.0/UDP 192.0.2.300;branch=x",
        "SIP/2.0/UDP [2001:db8::g]:5060;branch=x",
        'SIP/2.0/UDP h.example.com;branch=x;q="\x01"',
    ],
)
def test_via_branch_refuses_what_parse_via_refuses(value: str) -> None:
    with pytest.raises(SipParseError) as expected:
        parse_via(value)
    with pytest.raises(SipParseError, match=re.escape(str(expected.value))):
        via_branch(value)


def test_name_addr_text_is_the_text_of_a_name_addr() -> None:
    assert name_addr_text("sip:a@b") == "<sip:a@b>"
    assert name_addr_text("sip:a@b", (("expires", "0"), ("ob", None))) == ("<sip:a@b>;expires=0;ob")
    assert name_addr_text("*") == "*"
    for uri, params in [("*", (("expires", "0"),)), ("a b", ()), ("sip:a", (("x y", None),))]:
        with pytest.raises(SipParseError):
            name_addr_text(uri, params)
    parsed = parse_name_addr(name_addr_text("sip:a@b", (("q", "0.5"),)))
    assert (parsed.uri, parsed.params) == ("sip:a@b", (("q", "0.5"),))


# --- URIs ---------------------------------------------------------------------------

URIS = st.lists(st.sampled_from([*PIECES, "sip:", "alice", "@", "%41", "%zz", "pw"]), max_size=12)


@settings(max_examples=1500)
@given(URIS.map(lambda parts: "sip:" + "".join(parts)))
def test_parse_uri_reads_the_usual_uri_as_the_general_reading_does(text: str) -> None:
    # "SIP:" is read by the general path only: the usual one wants the scheme in lower case
    assert outcome(parse_uri, text) == outcome(parse_uri, "SIP" + text[3:])


@settings(max_examples=1500)
@given(TEXTS | URIS.map(lambda parts: "sip:" + "".join(parts)))
def test_check_uri_raises_what_parse_uri_raises(text: str) -> None:
    expected = outcome(parse_uri, text)
    assert outcome(check_uri, text) == (expected if expected[0] == "error" else ("ok", None))


@pytest.mark.parametrize(
    "text",
    ["sip:a@h.example.com:5060;lr;LR", "sip:a@h:99999", "sip:a@H.EXAMPLE.COM:05060;transport=TCP"],
)
def test_usual_uris(text: str) -> None:
    assert outcome(parse_uri, text) == outcome(parse_uri, "SIP" + text[3:])


# --- grammar ------------------------------------------------------------------------

VALUES = st.text(max_size=12) | st.sampled_from(["", " a", "a ", "a\tb", "\x85", "x\ny", "ok"])


@given(st.lists(VALUES, max_size=5))
def test_header_values_re_checks_each_value(values: list[str]) -> None:
    joined = "\n".join(values)
    together = HEADER_VALUES_RE.fullmatch(joined) is not None
    together = together and joined.count("\n") == max(len(values) - 1, 0)
    assert together == all(is_header_value(v) for v in values)


@given(st.lists(VALUES, max_size=5))
def test_quote_strings_quotes_each_text(texts: list[str]) -> None:
    def each(items: list[str]) -> list[str]:
        return [quote_string(t) for t in items]

    assert outcome(quote_strings, texts) == outcome(each, texts)


# --- messages -----------------------------------------------------------------------

HEAD = (
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{name}: {value}\r\n"
    "Call-ID: c\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Never-Seen-Before-Name", "1"),  # read slowly first, then remembered
        ("x-never-seen-before-name", "2"),
        ("Via ", "SIP/2.0/UDP h"),  # whitespace before the colon
        ("CONTACT", "<sip:a@b>"),
    ],
)
def test_a_message_reads_the_same_whether_its_names_were_seen_before(name: str, value: str) -> None:
    data = HEAD.format(name=name, value=value).encode()
    first = parser.parse_message(data)
    second = parser.parse_message(data)
    assert first == second
    assert list(first.headers) == list(Headers(list(first.headers)))


def test_only_tokens_are_remembered_as_header_names() -> None:
    Headers().get("not a token")
    assert "not a token" not in TOKEN_NAMES
    with pytest.raises(SipParseError, match="is not 'Name: value'"):
        parser.parse_message(HEAD.format(name="not a token", value="1").encode())


def test_a_name_without_a_colon_is_refused_even_when_known() -> None:
    data = b"SIP/2.0 200 OK\r\nVia\r\nCall-ID: c\r\n\r\n"
    with pytest.raises(SipParseError, match="is not 'Name: value'"):
        parser.parse_message(data)


@pytest.mark.parametrize(
    "line",
    [
        "SIP/2.0 200 OK",
        "SIP/2.0 200",
        "SIP/2.0 200 ",
        "SIP/2.0 699 Über",
        "sip/2.0 200 OK",
        "SIP/2.0 099 x",
        "SIP/2.0 700 x",
        "SIP/2.0 200 O\x01K",
        "SIP/2.0\t200 OK",
        "REGISTER sip:a SIP/2.0",
    ],
)
def test_status_lines_read_as_the_general_reading_does(line: str) -> None:
    # "sip/2.0" is read by the general path only; an error may quote it back
    kind, result = outcome(parser._parse_start_line, line.replace("SIP/2.0", "sip/2.0", 1))
    if kind == "error":
        result = result.replace("'sip/2.0", "'SIP/2.0")
    assert outcome(parser._parse_start_line, line) == (kind, result)


def test_headers_index_follows_every_change() -> None:
    headers = Headers([("Expires", "60")])
    assert headers.get("Expires") == "60"
    headers.add("Expires", "70")
    assert headers.get_all("Expires") == ["60", "70"]
    headers.set("Expires", "80")
    assert headers.get_all("Expires") == ["80"]
    headers.remove("Expires")
    assert headers.get("Expires") is None
    headers.add("Via", "SIP/2.0/UDP a")
    values = headers.get_all("Via")
    values.append("SIP/2.0/UDP b")  # a copy: the headers are not changed
    assert headers.get_all("Via") == ["SIP/2.0/UDP a"]


def test_header_is_the_single_value() -> None:
    response = parser.parse_message(HEAD.format(name="Expires", value="5").encode())
    assert isinstance(response, Response)
    assert response.header("expires") == "5"
    with pytest.raises(SipParseError, match="0 Min-Expires headers"):
        response.header("Min-Expires")


# --- digest -------------------------------------------------------------------------

CHALLENGE_PIECES = [
    "realm=",
    "nonce=",
    "qop=",
    "opaque=",
    '"example.com"',
    '"n1"',
    '"a\\"b"',
    '"\x85"',
    '"\\\x01"',
    '""',
    "token",
    ",",
    ", ",
    " ",
    "=",
    '"open',
    "#$&^|",
    "\t",
]


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(CHALLENGE_PIECES), max_size=14).map("".join))
def test_challenge_params_read_as_element_by_element(text: str) -> None:
    def read(read_params):
        try:
            return ("ok", read_params(text, 0))
        except digest.DigestError as exc:
            return ("error", str(exc))

    one_by_one = read(digest_challenge._read_params_one_by_one)
    assert read(digest_challenge._read_params) == one_by_one


def test_authorization_quotes_as_before() -> None:
    challenge = Challenge("Digest", 'ex"ample', "n\x85", qop=("auth",), opaque="o")
    value = authorization(
        challenge, Credentials('al"ice', "pw"), method="REGISTER", uri="sip:x", cnonce="c"
    )
    assert value.startswith('Digest username="al\\"ice", realm="ex\\"ample", nonce="n\x85"')
    assert ', cnonce="c", opaque="o", qop=auth, nc=00000001' in value


def test_new_cnonce_is_144_random_bits_in_base64url() -> None:
    # past the end of one pool of random bytes (256 nonces): no repeat when it refills
    nonces = [new_cnonce() for _ in range(600)]
    assert len(set(nonces)) == 600
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", n) for n in nonces)
    raw = b"".join(base64.urlsafe_b64decode(n) for n in nonces)
    assert len(raw) == 600 * 18
    # every byte value turns up (10,800 random bytes miss one with odds of ~1e-16)
    assert len(set(raw)) == 256


@settings(max_examples=1500)
@given(TEXTS | VALUES)
def test_a_plain_header_value_is_a_header_value(text: str) -> None:
    """The check without a regular expression accepts only what the full one does."""
    if is_plain_header_value(text):
        assert is_header_value(text)
    if text.isascii() and is_header_value(text) and "\t" not in text:
        assert is_plain_header_value(text)
