"""RFC 3261 §25 character classes and helpers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.sip.errors import SipError, SipParseError
from sipprofile.server.sip.grammar import (
    TOKEN_CHARS,
    UNRESERVED,
    is_header_name,
    is_header_value,
    is_host,
    is_hostname,
    is_ipv4,
    is_ipv6_reference,
    is_quoted_string,
    is_token,
    percent_decode,
    percent_encode,
    quote_string,
    unquote_string,
)

utf8_text = st.text(alphabet=st.characters(codec="utf-8"))


def test_parse_error_is_both_sip_error_and_value_error():
    assert issubclass(SipParseError, SipError)
    assert issubclass(SipParseError, ValueError)
    assert not issubclass(SipError, ValueError)


# --- token -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "INVITE",
        "a",
        "z9hG4bK-.!%66*_+`'~",  # RFC 4475 intmeth branch
        "!interesting-Method0123456789_*+`.%indeed'~",  # RFC 4475 intmeth method
        TOKEN_CHARS,
    ],
)
def test_is_token_accepts(text):
    assert is_token(text) is True
    assert is_header_name(text) is True


@pytest.mark.parametrize(
    "text",
    ["", " ", "a b", "a:b", "a;b", "a@b", "a=b", 'a"b', "(", ")", "<", "/", "[", "?", "é", "a\tb"],
)
def test_is_token_rejects(text):
    assert is_token(text) is False
    assert is_header_name(text) is False


def test_token_chars_are_exactly_the_rfc_set():
    assert set(TOKEN_CHARS) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"
    )


# --- quoted-string ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '""',
        '"abc"',
        '"John Doe"',
        '"a \\"quoted\\" word"',
        '"back\\\\slash"',
        '"tab\there"',
        '"ünïcödé 😀"',
        '"BEL:\\\x07 DEL:\\\x7f"',  # RFC 4475 intmeth display name, without its NUL
        '"\\a"',  # any ASCII character may be quoted
    ],
)
def test_is_quoted_string_accepts(text):
    assert is_quoted_string(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"',
        "abc",
        '"abc',
        'abc"',
        '"a"b"',  # bare quote inside
        '"abc\\"',  # the closing quote is escaped: unterminated
        '"a"x',  # text after the closing quote
        ' "a"',  # leading whitespace is not part of the value
        '"a\rb"',
        '"a\nb"',
        '"a\x00b"',
        '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"',  # RFC 4475 allows escaped NUL; we do not
        '"a\\\rb"',
        '"a\\\nb"',
        '"\\é"',  # quoted-pair is ASCII only
        '"\x07"',  # bare control character
        '"\x7f"',
        '"\ud800"',
    ],
)
def test_is_quoted_string_rejects(text):
    assert is_quoted_string(text) is False


@pytest.mark.parametrize(
    ("raw", "quoted"),
    [
        ("", '""'),
        ("John Doe", '"John Doe"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir", '"C:\\\\dir"'),
        ("bell\x07", '"bell\\\x07"'),
        ("del\x7f", '"del\\\x7f"'),
        ("tab\tkept", '"tab\tkept"'),
        ("ünï", '"ünï"'),
    ],
)
def test_quote_and_unquote(raw, quoted):
    assert quote_string(raw) == quoted
    assert is_quoted_string(quoted) is True
    assert unquote_string(quoted) == raw


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\x00b", "\udc80"])
def test_quote_string_refuses_what_cannot_be_quoted(bad):
    with pytest.raises(SipParseError, match=r"cannot carry|surrogate"):
        quote_string(bad)


@pytest.mark.parametrize("bad", ["abc", '"abc', '"a"b"', ""])
def test_unquote_string_refuses_non_quoted(bad):
    with pytest.raises(SipParseError, match="not a valid quoted string"):
        unquote_string(bad)


@given(utf8_text.filter(lambda s: not set(s) & {"\r", "\n", "\x00"}))
def test_quote_string_round_trips(text):
    quoted = quote_string(text)
    assert is_quoted_string(quoted)
    assert unquote_string(quoted) == text


@given(st.text())
def test_is_quoted_string_never_raises(text):
    assert is_quoted_string(text) in (True, False)


# --- header values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "text", "a\tb", "a  b", "ünï 😀 👨‍👩‍👧", "<sip:a@b>;q=0.5", "x" * 500]
)
def test_is_header_value_accepts(text):
    assert is_header_value(text) is True


@pytest.mark.parametrize(
    "text",
    [
        " a",
        "a ",
        "\ta",
        "a\t",
        "a\r\nb",
        "a\nb",
        "a\rb",
        "a\x00",
        "a\x01b",
        "a\x7f",
        "a\x85b",
        "\ud800",
    ],
)
def test_is_header_value_rejects(text):
    assert is_header_value(text) is False


# --- hosts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "example.com",
        "a",
        "a.b.c.d.e",
        "example.com.",
        "x-1.example",
        "a1b.c2",
        "EXAMPLE.COM",
        "chair-dnrc.example.com",
        "1and1.com",
        "a--b.example",
    ],
)
def test_is_hostname_accepts(text):
    assert is_hostname(text) is True
    assert is_host(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "-a.com",
        "a-.com",
        "a..com",
        ".a.com",
        "a.com..",
        "1.2.3.4",  # the top label must start with a letter
        "example.123",
        "example.1com",
        "exa_mple.com",
        "ex ample.com",
        "é.com",
        "\uff45xample.com",  # full-width letter e
        "[::1]",
        "a:5060",
    ],
)
def test_is_hostname_rejects(text):
    assert is_hostname(text) is False


@pytest.mark.parametrize("text", ["0.0.0.0", "192.0.2.4", "255.255.255.255", "10.0.0.1"])
def test_is_ipv4_accepts(text):
    assert is_ipv4(text) is True
    assert is_host(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "256.0.0.1",
        "01.2.3.4",  # leading zero: octal to some resolvers
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.",
        "a.b.c.d",
        "\u0661.2.3.4",  # Arabic-Indic digit one
        " 1.2.3.4",
        "1.2.3.4 ",
        "1.2.3.-4",
        "1.2.3.+4",
    ],
)
def test_is_ipv4_rejects(text):
    assert is_ipv4(text) is False


@pytest.mark.parametrize(
    "text",
    [
        "[::1]",
        "[::]",
        "[2001:db8::10]",
        "[2001:db8::10:5070]",  # RFC 5118 §4.3: valid, the 5070 is part of the address
        "[2001:DB8:0:0:0:0:0:1]",
        "[2001:0db8:0000:0000:0000:0000:0000:0001]",
        "[::ffff:192.0.2.2]",  # RFC 5118 §4.9
        "[2001:db8::192.0.2.1]",  # RFC 5118 §4.10, two colons
    ],
)
def test_is_ipv6_reference_accepts(text):
    assert is_ipv6_reference(text) is True
    assert is_host(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "]",
        "[]",
        "::1",
        "2001:db8::1",
        "[2001:db8::1",
        "2001:db8::1]",
        "[fe80::1%eth0]",  # zone IDs are not part of the SIP grammar
        "[fe80::1%25eth0]",
        "[2001:db8:::192.0.2.1]",  # RFC 5118 §4.10: the RFC 3261 ABNF bug, three colons
        "[1:2:3:4:5:6:7:8:9]",
        "[12345::]",
        "[::ffff:01.2.3.4]",
        "[g::1]",
        "[1.2.3.4]",
        "[ ::1]",
        "[::1]:5060",
    ],
)
def test_is_ipv6_reference_rejects(text):
    assert is_ipv6_reference(text) is False
    assert is_host(text) is False


@given(st.text())
def test_host_predicates_never_raise(text):
    assert is_host(text) in (True, False)


# --- %-escapes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("plain", "plain"),
        ("", ""),
        ("%61lice", "alice"),
        ("%41%42", "AB"),
        ("%25", "%"),
        ("%c3%bc", "ü"),
        ("%C3%BC", "ü"),
        ("%E2%82%AC1", "€1"),
        ("%00", "\x00"),  # RFC 4475 escnull
        ("null-%00-null", "null-\x00-null"),
        ("v%61lue%25%34%31", "value%41"),  # RFC 4475 esc01: one level only
        ("I%20have%20spaces", "I have spaces"),
    ],
)
def test_percent_decode(escaped, plain):
    assert percent_decode(escaped) == plain


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("%", r"invalid escape '%'"),
        ("ab%4", r"invalid escape '%4'"),
        ("%4G", r"invalid escape '%4G'"),
        ("%%41", r"invalid escape '%%4'"),
        ("%FF", "UTF-8"),
        ("%C3", "UTF-8"),
        ("%C3%28", "UTF-8"),
        ("%ED%A0%80", "UTF-8"),  # an encoded surrogate
    ],
)
def test_percent_decode_errors(bad, message):
    with pytest.raises(SipParseError, match=message):
        percent_decode(bad)


@pytest.mark.parametrize(
    ("plain", "allowed", "escaped"),
    [
        ("alice", UNRESERVED, "alice"),
        ("a b", UNRESERVED, "a%20b"),
        ("a@b:c", UNRESERVED, "a%40b%3Ac"),
        ("a@b:c", UNRESERVED + "@", "a@b%3Ac"),
        ("100%", UNRESERVED + "%", "100%25"),  # '%' is escaped even when "allowed"
        ("ü€", UNRESERVED, "%C3%BC%E2%82%AC"),
        ("\x00", UNRESERVED, "%00"),
        ("abc", "", "%61%62%63"),
    ],
)
def test_percent_encode(plain, allowed, escaped):
    assert percent_encode(plain, allowed) == escaped


def test_percent_encode_refuses_surrogates():
    with pytest.raises(SipParseError, match="surrogate"):
        percent_encode("a\udc80", UNRESERVED)


@given(utf8_text, st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_percent_encode_round_trips(text, allowed):
    assert percent_decode(percent_encode(text, allowed)) == text


@given(st.text())
def test_percent_decode_only_raises_parse_errors(text):
    with contextlib.suppress(SipParseError):
        percent_decode(text)
