"""SIP URI parsing, serialisation and RFC 3261 §19.1.4 comparison."""

from __future__ import annotations

import ipaddress
import itertools
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.uri import SipUri, aor_lookup_key, parse_uri, uri_equivalent

# --- RFC 3261 §19.1.4 ------------------------------------------------------------------

EQUIVALENT_SETS = [
    ["sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"],
    [
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on",
    ],
    [
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ],
    [
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ],
]

NOT_EQUIVALENT_PAIRS = [
    # different usernames
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    # can resolve to different ports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    # can resolve to different transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    # can resolve to different port and transports
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    # different header component
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    # even though that is what phone21.boxesbybob.com resolves to
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    # equality is not transitive: both of these equal sip:carol@chicago.com
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]


@pytest.mark.parametrize(
    ("left", "right"),
    [pair for group in EQUIVALENT_SETS for pair in itertools.combinations(group, 2)],
)
def test_rfc3261_equivalent_examples(left, right):
    a, b = parse_uri(left), parse_uri(right)
    assert uri_equivalent(a, b) is True
    assert uri_equivalent(b, a) is True
    assert aor_lookup_key(a) == aor_lookup_key(b)


@pytest.mark.parametrize(("left", "right"), NOT_EQUIVALENT_PAIRS)
def test_rfc3261_not_equivalent_examples(left, right):
    a, b = parse_uri(left), parse_uri(right)
    assert uri_equivalent(a, b) is False
    assert uri_equivalent(b, a) is False


def test_rfc3261_non_transitivity_example():
    plain = parse_uri("sip:carol@chicago.com")
    on = parse_uri("sip:carol@chicago.com;security=on")
    off = parse_uri("sip:carol@chicago.com;security=off")
    assert uri_equivalent(plain, on) is True
    assert uri_equivalent(plain, off) is True
    assert uri_equivalent(on, off) is False


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com", False),
        ("sip:atlanta.com", "sip:alice@atlanta.com", False),
        ("sip:alice@atlanta.com", "sip:alice:@atlanta.com", False),  # "" is not absent
        ("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com", False),
        ("sip:alice:p%77@atlanta.com", "sip:alice:pw@atlanta.com", True),
        ("sip:alice@atlanta.com:5060", "sip:alice@atlanta.com:05060", True),
        ("sip:alice@atlanta.com:5060", "sip:alice@atlanta.com:5061", False),
        ("sip:alice@[2001:db8::1]", "sip:alice@[2001:DB8:0:0:0:0:0:1]", True),
        ("sip:alice@[2001:db8::1]", "sip:alice@[2001:db8::2]", False),
        ("sip:alice@[::ffff:192.0.2.4]", "sip:alice@192.0.2.4", False),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com.", False),
        # the five parameters that must be in both or neither
        ("sip:a@b.com", "sip:a@b.com;user=ip", False),
        ("sip:a@b.com", "sip:a@b.com;ttl=1", False),
        ("sip:a@b.com", "sip:a@b.com;method=INVITE", False),
        ("sip:a@b.com", "sip:a@b.com;maddr=239.255.255.1", False),
        ("sip:a@b.com", "sip:a@b.com;TRANSPORT=udp", False),
        ("sip:+1555@b.com;user=phone", "sip:+1555@b.com;USER=PHONE", True),
        ("sip:a@b.com;method=invite", "sip:a@b.com;method=INVITE", True),
        ("sip:a@b.com;ttl=1", "sip:a@b.com;ttl=2", False),
        ("sip:a@b.com;maddr=[2001:db8::1]", "sip:a@b.com;maddr=[2001:db8:0::1]", True),
        ("sip:a@b.com;maddr=Example.COM", "sip:a@b.com;maddr=example.com", True),
        # any other parameter only counts when present in both
        ("sip:a@b.com;lr", "sip:a@b.com", True),
        ("sip:a@b.com;lr", "sip:a@b.com;LR", True),
        ("sip:a@b.com;lr", "sip:a@b.com;lr=on", False),
        ("sip:a@b.com;x=Ab", "sip:a@b.com;X=aB", True),
        ("sip:a@b.com;x=%41", "sip:a@b.com;x=a", True),
        ("sip:a@b.com;transport", "sip:a@b.com;transport=udp", False),
        # headers: never ignored, order free, names case-insensitive, values not
        ("sip:a@b.com?Subject=Hi", "sip:a@b.com?subject=Hi", True),
        ("sip:a@b.com?Subject=Hi", "sip:a@b.com?s=Hi", True),
        ("sip:a@b.com?Subject=Hi", "sip:a@b.com?Subject=hi", False),
        ("sip:a@b.com?Subject=x&Subject=y", "sip:a@b.com?Subject=y&Subject=x", True),
        ("sip:a@b.com?Subject=x&Subject=x", "sip:a@b.com?Subject=x", False),
        ("sip:a@b.com?Subject=", "sip:a@b.com", False),
        # users compare case-sensitively, decoded once
        ("sip:Alice@b.com", "sip:alice@b.com", False),
        ("sip:%41lice@b.com", "sip:Alice@b.com", True),
        ("sip:null-%00-null@b.com", "sip:null-@b.com", False),
        ("sip:value%2541@b.com", "sip:valueA@b.com", False),
    ],
)
def test_uri_equivalent_cases(left, right, expected):
    a, b = parse_uri(left), parse_uri(right)
    assert uri_equivalent(a, b) is expected
    assert uri_equivalent(b, a) is expected
    if expected:
        assert aor_lookup_key(a) == aor_lookup_key(b)


# --- aor_lookup_key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("sip:%61lice@AtLanTa.CoM;transport=TCP", "sip:alice@atlanta.com"),
        ("SIPS:Alice@atlanta.com:5061?subject=x", "sips:Alice@atlanta.com:5061"),
        ("sip:bob@[2001:DB8:0:0:0:0:0:1]:5060", "sip:bob@[2001:db8::1]:5060"),
        ("sip:biloxi.com;lr", "sip:biloxi.com"),
        ("sip:biloxi.com:0", "sip:biloxi.com:0"),
        ("sip:sips%3Auser%40example.com@example.net", "sip:sips%3Auser%40example.com@example.net"),
        ("sip:a%20b@c.com", "sip:a%20b@c.com"),
    ],
)
def test_aor_lookup_key_values(text, key):
    assert aor_lookup_key(parse_uri(text)) == key


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("[2001:DB8:0:0:0:0:0:1]", "[2001:db8::1]"),
        ("[2001:db8:0:0:1:0:0:1]", "[2001:db8::1:0:0:1]"),  # RFC 5952 §4.2.3: first run
        ("[2001:0:0:1:0:0:0:1]", "[2001:0:0:1::1]"),  # ... unless a later run is longer
        ("[2001:db8:0:1:1:1:1:1]", "[2001:db8:0:1:1:1:1:1]"),  # §4.2.2: one 0 stays
        ("[0:0:0:0:0:0:0:0]", "[::]"),
        ("[0:0:0:0:0:0:0:1]", "[::1]"),
        ("[1:0:0:0:0:0:0:0]", "[1::]"),
        ("[::ffff:192.0.2.2]", "[::ffff:c000:202]"),  # same on every Python version
        ("[2001:db8::10:5070]", "[2001:db8::10:5070]"),
    ],
)
def test_aor_lookup_key_canonical_ipv6(host, canonical):
    assert aor_lookup_key(parse_uri(f"sip:{host}")) == f"sip:{canonical}"


@given(st.integers(0, 2**128 - 1))
def test_aor_lookup_key_ipv6_matches_rfc5952(value):
    address = ipaddress.IPv6Address(value)
    key = aor_lookup_key(SipUri("sip", None, None, f"[{address.exploded}]"))
    host = key.removeprefix("sip:")
    assert ipaddress.IPv6Address(host[1:-1]) == address
    if address.ipv4_mapped is None:
        assert host == f"[{address.compressed}]"


def test_aor_lookup_key_leaves_the_password_out():
    key = aor_lookup_key(parse_uri("sip:alice:s3cret@atlanta.com"))
    assert key == "sip:alice@atlanta.com"
    assert "s3cret" not in key


def test_aor_lookup_key_separates_different_users_and_ports():
    keys = {
        aor_lookup_key(parse_uri(t))
        for t in [
            "sip:alice@atlanta.com",
            "sip:Alice@atlanta.com",
            "sip:atlanta.com",
            "sips:alice@atlanta.com",
            "sip:alice@atlanta.com:5060",
            "sip:%00@host5.example.com",
            "sip:%00%00@host5.example.com",
        ]
    }
    assert len(keys) == 7


# --- parsing: structure ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # RFC 3261 §19.1.3 examples
        ("sip:alice@atlanta.com", SipUri("sip", "alice", None, "atlanta.com")),
        (
            "sip:alice:secretword@atlanta.com;transport=tcp",
            SipUri("sip", "alice", "secretword", "atlanta.com", None, (("transport", "tcp"),)),
        ),
        (
            "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
            SipUri(
                "sips",
                "alice",
                None,
                "atlanta.com",
                headers=(("subject", "project x"), ("priority", "urgent")),
            ),
        ),
        (
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            SipUri("sip", "+1-212-555-1212", "1234", "gateway.com", None, (("user", "phone"),)),
        ),
        ("sips:1212@gateway.com", SipUri("sips", "1212", None, "gateway.com")),
        ("sip:alice@192.0.2.4", SipUri("sip", "alice", None, "192.0.2.4")),
        (
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            SipUri(
                "sip",
                None,
                None,
                "atlanta.com",
                params=(("method", "REGISTER"),),
                headers=(("to", "alice@atlanta.com"),),
            ),
        ),
        (
            "sip:alice;day=tuesday@atlanta.com",
            SipUri("sip", "alice;day=tuesday", None, "atlanta.com"),
        ),
        # RFC 4475 §3.1.1.1 wsinv Request-URI
        (
            "sip:vivekg@chair-dnrc.example.com;unknownparam",
            SipUri(
                "sip", "vivekg", None, "chair-dnrc.example.com", None, (("unknownparam", None),)
            ),
        ),
        # RFC 4475 §3.1.1.2 intmeth: a wide range of valid characters
        (
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
            ":&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
            SipUri(
                "sip",
                "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*",
                "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)",
                "example.com",
            ),
        ),
        # RFC 4475 §3.1.1.3 esc01
        (
            "sip:sips%3Auser%40example.com@example.net",
            SipUri("sip", "sips:user@example.com", None, "example.net"),
        ),
        ("sip:%75se%72@example.com", SipUri("sip", "user", None, "example.com")),
        ("sip:I%20have%20spaces@example.net", SipUri("sip", "I have spaces", None, "example.net")),
        (
            "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
            SipUri(
                "sip",
                "caller",
                None,
                "host5.example.net",
                None,
                (("lr", None), ("name", "value%41")),
            ),
        ),
        # RFC 4475 §3.1.1.4 escnull
        ("sip:null-%00-null@example.com", SipUri("sip", "null-\x00-null", None, "example.com")),
        ("sip:%00@host5.example.com", SipUri("sip", "\x00", None, "host5.example.com")),
        ("sip:%00%00@host5.example.com", SipUri("sip", "\x00\x00", None, "host5.example.com")),
        # RFC 4475 §3.1.1.9 semiuri
        (
            "sip:user;par=u%40example.net@example.com",
            SipUri("sip", "user;par=u@example.net", None, "example.com"),
        ),
        # RFC 4475 §3.1.2.10 escruri: only invalid as a Request-URI, fine as a URI
        (
            "sip:user@example.com?Route=%3Csip:example.com%3E",
            SipUri("sip", "user", None, "example.com", headers=(("Route", "<sip:example.com>"),)),
        ),
        # RFC 5118 §4.1, §4.3, §4.4, §4.9
        ("sip:[2001:db8::10]", SipUri("sip", None, None, "[2001:db8::10]")),
        ("sip:[2001:db8::10:5070]", SipUri("sip", None, None, "[2001:db8::10:5070]")),
        ("sip:[2001:db8::10]:5070", SipUri("sip", None, None, "[2001:db8::10]", 5070)),
        ("sip:caller@[::ffff:192.0.2.2]", SipUri("sip", "caller", None, "[::ffff:192.0.2.2]")),
        # case and defaults
        (
            "SIPS:Bob@BILOXI.Example.COM:5061;Transport=TLS;LR",
            SipUri(
                "sips",
                "Bob",
                None,
                "biloxi.example.com",
                5061,
                (("Transport", "TLS"), ("LR", None)),
            ),
        ),
        ("sip:[2001:DB8::A]:0", SipUri("sip", None, None, "[2001:db8::a]", 0)),
        ("sip:a.com:65535", SipUri("sip", None, None, "a.com", 65535)),
        ("sip:a.com:0005060", SipUri("sip", None, None, "a.com", 5060)),
        ("sip:a.com.", SipUri("sip", None, None, "a.com.")),
        ("sip:alice:@a.com", SipUri("sip", "alice", "", "a.com")),
        ("sip:a.com?empty=", SipUri("sip", None, None, "a.com", headers=(("empty", ""),))),
        ("sip:a.com;x=[::1]:5", SipUri("sip", None, None, "a.com", None, (("x", "[::1]:5"),))),
        # the user part may hold '?' and '=': the first '@' decides
        ("sip:a.com?to=bob@b.com", SipUri("sip", "a.com?to=bob", None, "b.com")),
    ],
)
def test_parse_uri_structure(text, expected):
    assert parse_uri(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (
            "SIP:Alice@ATLANTA.com:5060;Transport=TCP;lr",
            "sip:Alice@atlanta.com:5060;Transport=TCP;lr",
        ),
        ("sip:%61lice%2a%7e@a.com", "sip:alice*~@a.com"),
        ("sip:%c3%bc@a.com", "sip:%C3%BC@a.com"),
        ("sip:a%20b@a.com", "sip:a%20b@a.com"),
        ("sip:sips%3Auser%40example.com@example.net", "sip:sips%3Auser%40example.com@example.net"),
        (
            "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
            "sip:caller@host5.example.net;lr;name=value%2541",
        ),
        ("sip:a.com?to=sip:bob%40b.com&s=%3F%26", "sip:a.com?to=sip:bob%40b.com&s=?%26"),
        ("sip:user;par=u%40example.net@example.com", "sip:user;par=u%40example.net@example.com"),
        ("sip:[2001:DB8::1]:5060", "sip:[2001:db8::1]:5060"),
        ("sip:a.com:0005060", "sip:a.com:5060"),
        ("sip:u:p%3Aw@a.com", "sip:u:p%3Aw@a.com"),
    ],
)
def test_str_is_canonical(text, canonical):
    uri = parse_uri(text)
    assert str(uri) == canonical
    assert parse_uri(canonical) == uri


# --- parsing: errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the URI is empty"),
        (" sip:a.com", "leading or trailing whitespace"),
        ("sip:a.com\n", "leading or trailing whitespace"),
        ("sip:a b.com", "whitespace ' ' at position 6"),
        ("sip:user@example.com; lr", "whitespace ' ' at position 22"),  # RFC 4475 lwsruri
        ("sip:a\tb.com", r"whitespace '\t' at position 6"),
        ("sip:a\x00@b.com", "control character U+0000 at position 6"),
        ("sip:a\x7f@b.com", "control character U+007F at position 6"),
        ("sip:ü@a.com", "non-ASCII character 'ü' at position 5"),
        ("<sip:user@example.com>", "remove the angle brackets"),  # RFC 4475 ltgtruri
        ("alice@example.com", "missing scheme"),
        ("example.com:5060", "unsupported URI scheme 'example.com:'"),
        (":a.com", "missing scheme"),
        ("1sip:a.com", "missing scheme"),
        ("tel:+1-212-555-1212", "unsupported URI scheme 'tel:'"),
        ("http://example.com/", "unsupported URI scheme 'http:'"),
        ("sipx:alice@example.com", "unsupported URI scheme 'sipx:'"),
        # RFC 4475 §3.3 unknown schemes
        ("nobodyKnowsThisScheme:totallyopaquecontent", "unsupported URI scheme"),
        ("isbn:2983792873", "unsupported URI scheme 'isbn:'"),
        ("soap.beep://192.0.2.103:3002", "unsupported URI scheme 'soap.beep:'"),
        ("sip:", "the host is empty"),
        ("sip:alice@", "the host is empty"),
        ("sip:;lr", "the host is empty"),
        ("sip:@a.com", "the user part before '@' is empty"),
        ("sip::pw@a.com", "the user part before '@' is empty"),
        ("sip:a@b@c.com", "more than one '@'"),
        ("sip:a.com:99999", "port 99999 is out of range"),
        ("sip:a.com:65536", "port 65536 is out of range"),
        ("sip:a.com:" + "9" * 5000, "port 999999999... is out of range"),
        ("sip:a.com:", "the port after ':' is empty"),
        ("sip:a.com:50x", "port '50x' is not a number"),
        ("sip:a.com:-1", "port '-1' is not a number"),
        ("sip:[::1]:", "the port after ':' is empty"),
        ("sip:[::1]:99999", "port 99999 is out of range"),
        # RFC 5118 §4.2: IPv6 without brackets
        ("sip:2001:db8::10", "must be enclosed in brackets"),
        ("sip:user@2001:db8::10:5060", "must be enclosed in brackets"),
        ("sip:[2001:db8::10", "no closing ']'"),
        ("sip:[2001:db8::10]5060", "unexpected '5060' after the IPv6 reference"),
        ("sip:[2001:db8::g]", "'[2001:db8::g]' is not a valid IPv6 reference"),
        ("sip:[2001:db8:::192.0.2.1]", "is not a valid IPv6 reference"),  # RFC 5118 §4.10
        ("sip:[fe80::1%25eth0]", "is not a valid IPv6 reference"),
        ("sip:[]", "'[]' is not a valid IPv6 reference"),
        ("sip:1.2.3.256", "'1.2.3.256' is not a valid IPv4 address"),
        ("sip:01.2.3.4", "'01.2.3.4' is not a valid IPv4 address"),
        ("sip:exa_mple.com", "'exa_mple.com' is not a valid host name"),
        ("sip:-a.com", "'-a.com' is not a valid host name"),
        ("sip:a..com", "'a..com' is not a valid host name"),
        ("sip:example.123", "the last label must start with a letter"),
        ("sip:a%2Ecom", "not a valid host name"),
        ("sip:a<b@c.com", "the user part contains '<', which must be written %3C"),
        ('sip:a"b@c.com', "the user part contains '\"', which must be written %22"),
        ("sip:a[1]@c.com", "the user part contains '[', which must be written %5B"),
        ("sip:a:p;w@c.com", "the password contains ';', which must be written %3B"),
        ("sip:a:p:w@c.com", "the password contains ':', which must be written %3A"),
        ("sip:a%4G@c.com", "user part: invalid escape '%4G'"),
        ("sip:a%@c.com", "user part: invalid escape '%'"),
        ("sip:a%FF@c.com", "user part: the %-escapes do not spell valid UTF-8"),
        ("sip:a:%zz@c.com", "password: invalid escape '%zz'"),
        ("sip:a.com;", "empty URI parameter"),
        ("sip:a.com;;lr", "empty URI parameter"),
        ("sip:a.com;=x", "URI parameter '=x' has no name"),
        ("sip:a.com;x=", "URI parameter 'x' has '=' but no value"),
        ("sip:a.com;x=a=b", "contains '=', which must be written %3D"),
        ("sip:a.com;x=<y>", "contains '<', which must be written %3C"),
        ("sip:a.com;x%=1", "invalid escape '%'"),
        ("sip:a.com;x=%G1", "value of URI parameter 'x': invalid escape '%G1'"),
        ("sip:a.com;lr;LR", "URI parameter 'LR' appears more than once"),
        ("sip:a.com;transport=udp;transport=tcp", "'transport' appears more than once"),
        ("sip:a.com?", "nothing follows '?'"),
        ("sip:a.com?a=1&", "empty URI header"),
        ("sip:a.com?a=1&&b=2", "empty URI header"),
        ("sip:a.com?subject", "URI header 'subject' has no '='"),
        ("sip:a.com?=x", "URI header '=x' has no name"),
        ("sip:a.com?a=b;c", "contains ';', which must be written %3B"),
        ("sip:a.com?a=b=c", "contains '=', which must be written %3D"),
        ("sip:a.com?a=%", "invalid escape '%'"),
    ],
)
def test_parse_uri_errors(text, message):
    with pytest.raises(SipParseError, match=re.escape(message)):
        parse_uri(text)


def test_password_is_not_echoed_in_errors():
    with pytest.raises(SipParseError) as info:
        parse_uri("sip:alice:topsecret;x@atlanta.com")
    assert "topsecret" not in str(info.value)
    with pytest.raises(SipParseError) as info:
        parse_uri("sip:alice:topsecret%zz@atlanta.com")
    assert "topsecret" not in str(info.value)


def test_long_fragments_are_shortened_in_messages():
    with pytest.raises(SipParseError) as info:
        parse_uri("sip:" + "a_" * 200 + ".com")
    assert len(str(info.value)) < 200


# --- accessors -------------------------------------------------------------------------


def test_param_lookup():
    uri = parse_uri("sip:a.com;Transport=TCP;lr;maddr=239.1.1.1;x=%41b")
    assert uri.param("transport") == "TCP"
    assert uri.param("TRANSPORT") == "TCP"
    assert uri.param("lr") == ""
    assert uri.param("LR") == ""
    assert uri.param("x") == "Ab"
    assert uri.param("missing") is None
    assert uri.has_param("lr") is True
    assert uri.has_param("Maddr") is True
    assert uri.has_param("missing") is False
    assert uri.transport == "tcp"


@pytest.mark.parametrize(
    ("text", "transport"),
    [
        ("sip:a.com", None),
        ("sip:a.com;transport", None),
        ("sip:a.com;transport=UDP", "udp"),
        ("sip:a.com;TRANSPORT=Tls", "tls"),
        ("sip:a.com;transport=ws", "ws"),
    ],
)
def test_transport(text, transport):
    assert parse_uri(text).transport == transport


def test_secure_and_host_port():
    assert parse_uri("sips:a.com").secure is True
    assert parse_uri("SIPS:a.com").secure is True
    assert parse_uri("sip:a.com").secure is False
    assert parse_uri("sip:A.com").host_port() == "a.com"
    assert parse_uri("sip:u@a.com:5061").host_port() == "a.com:5061"
    assert parse_uri("sip:[2001:DB8::1]:5060").host_port() == "[2001:db8::1]:5060"
    assert parse_uri("sip:[::1]").host_port() == "[::1]"


def test_constructor_normalises_case():
    uri = SipUri("SIP", "Alice", None, "Example.COM")
    assert uri.scheme == "sip"
    assert uri.host == "example.com"
    assert uri.user == "Alice"
    assert str(uri) == "sip:Alice@example.com"


def test_uri_is_frozen_and_hashable():
    uri = parse_uri("sip:alice@a.com;lr?x=1")
    with pytest.raises(AttributeError):
        uri.host = "b.com"  # type: ignore[misc]
    assert hash(uri) == hash(parse_uri("sip:alice@a.com;lr?x=1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "tel"}, "unsupported URI scheme 'tel'"),
        ({"host": ""}, "the host is empty"),
        ({"host": "a b"}, "not a valid host name"),
        ({"host": "2001:db8::1"}, "must be enclosed in brackets"),
        ({"host": "[2001:db8::1"}, "not a valid IPv6 reference"),
        ({"user": ""}, "user part before '@' is empty"),
        ({"user": None, "password": "pw"}, "a password needs a user part"),
        ({"port": 65536}, "port 65536 is out of range"),
        ({"port": -1}, "port -1 is out of range"),
        ({"params": (("", "x"),)}, "empty name"),
        ({"params": (("x", ""),)}, "'x' has '=' but no value"),
        ({"params": (("lr", None), ("Lr", None))}, "'Lr' appears more than once"),
        ({"headers": (("", "x"),)}, "URI header has an empty name"),
        ({"user": "a\udc80"}, "lone surrogate"),
        ({"params": (("x", "\ud800"),)}, "lone surrogate"),
    ],
)
def test_constructor_rejects_invalid_components(kwargs, message):
    fields = {"scheme": "sip", "user": "alice", "password": None, "host": "a.com"} | kwargs
    with pytest.raises(SipParseError, match=re.escape(message)):
        SipUri(**fields)


# --- properties ------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
nonempty_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
label = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
toplabel = st.from_regex(r"[a-zA-Z]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", fullmatch=True)
hostnames = st.builds(
    lambda labels, top, dot: ".".join([*labels, top]) + ("." if dot else ""),
    st.lists(label, max_size=3),
    toplabel,
    st.booleans(),
)
ipv4s = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6s = st.one_of(
    st.integers(0, 2**128 - 1).map(lambda n: f"[{ipaddress.IPv6Address(n).compressed}]"),
    st.integers(0, 2**128 - 1).map(lambda n: f"[{ipaddress.IPv6Address(n).exploded.upper()}]"),
    ipv4s.map(lambda v4: f"[::ffff:{v4}]"),
)
hosts = st.one_of(hostnames, ipv4s, ipv6s)
special_param_names = st.sampled_from(
    ["transport", "user", "ttl", "method", "maddr", "lr", "Transport", "LR"]
)
param_lists = st.lists(
    st.tuples(st.one_of(special_param_names, nonempty_text), st.none() | nonempty_text),
    max_size=4,
    unique_by=lambda p: p[0].translate(_ASCII_LOWER),
)
header_lists = st.lists(st.tuples(nonempty_text, text), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | nonempty_text)
    password = None if user is None else draw(st.none() | text)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips", "SIP", "Sips"])),
        user=user,
        password=password,
        host=draw(hosts),
        port=draw(st.none() | st.integers(0, 65535)),
        params=tuple(draw(param_lists)),
        headers=tuple(draw(header_lists)),
    )


def _flip_ascii_case(value: str, data: st.DataObject) -> str:
    flips = data.draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    return "".join(
        c.swapcase() if flip and c.isascii() else c for c, flip in zip(value, flips, strict=True)
    )


def _escape_everything(uri: SipUri) -> str:
    """Spell ``uri`` with every escapable character escaped, and odd case elsewhere."""

    def esc(value: str) -> str:
        return "".join(f"%{b:02x}" for b in value.encode())

    out = uri.scheme.upper() + ":"
    if uri.user is not None:
        out += esc(uri.user)
        if uri.password is not None:
            out += ":" + esc(uri.password)
        out += "@"
    out += uri.host.upper() + ("" if uri.port is None else f":{uri.port:05d}")
    for name, value in uri.params:
        out += ";" + esc(name) + ("" if value is None else "=" + esc(value))
    if uri.headers:
        out += "?" + "&".join(esc(n) + "=" + esc(v) for n, v in uri.headers)
    return out


@settings(max_examples=300, deadline=None)
@given(sip_uris())
def test_str_round_trips(uri):
    text = str(uri)
    assert parse_uri(text) == uri
    assert str(parse_uri(text)) == text


@settings(max_examples=200, deadline=None)
@given(sip_uris())
def test_any_escaping_parses_to_the_same_uri(uri):
    assert parse_uri(_escape_everything(uri)) == uri


def _parse_or_explain(text: str) -> None:
    """Either a URI that round-trips, or a SipParseError with a message; nothing else."""
    try:
        uri = parse_uri(text)
    except SipParseError as exc:
        message = str(exc)
    else:
        assert parse_uri(str(uri)) == uri
        return
    assert message.strip()


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_uri_only_raises_parse_errors_on_arbitrary_text(text):
    _parse_or_explain(text)


uri_alphabet = st.sampled_from(list("sip:@[]%;=?&.,/0123456789abcdefABCDEF-_+$~ \x00é<>\"'"))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["sip:", "sips:", "SIP:", "sip:u@", "sip:[", ""]), st.text(uri_alphabet))
def test_parse_uri_only_raises_parse_errors_on_uri_like_text(prefix, tail):
    _parse_or_explain(prefix + tail)


@settings(max_examples=200, deadline=None)
@given(sip_uris())
def test_equivalence_is_reflexive(uri):
    assert uri_equivalent(uri, uri) is True
    assert uri_equivalent(uri, parse_uri(str(uri))) is True


@settings(max_examples=200, deadline=None)
@given(sip_uris(), sip_uris())
def test_equivalence_is_symmetric_on_unrelated_uris(a, b):
    assert uri_equivalent(a, b) is uri_equivalent(b, a)
    if uri_equivalent(a, b):
        assert aor_lookup_key(a) == aor_lookup_key(b)


@settings(max_examples=300, deadline=None)
@given(sip_uris(), st.data())
def test_respelled_uris_are_equivalent_and_share_the_key(uri, data):
    """Order, ASCII case of host and parameters, and extra parameters do not matter."""
    params = list(data.draw(st.permutations(uri.params)))
    params = [
        (_flip_ascii_case(n, data), None if v is None else _flip_ascii_case(v, data))
        for n, v in params
    ]
    extra = data.draw(st.sampled_from(["lr", "newparam", "security", "ob"]))
    if not uri.has_param(extra):
        params.append((extra, data.draw(st.none() | nonempty_text)))
    headers = list(data.draw(st.permutations(uri.headers)))
    headers = [(_flip_ascii_case(n, data), v) for n, v in headers]
    other = SipUri(
        _flip_ascii_case(uri.scheme, data),
        uri.user,
        uri.password,
        _flip_ascii_case(uri.host, data),
        uri.port,
        tuple(params),
        tuple(headers),
    )
    assert uri_equivalent(uri, other) is True
    assert uri_equivalent(other, uri) is True
    assert aor_lookup_key(uri) == aor_lookup_key(other)


@settings(max_examples=300, deadline=None)
@given(sip_uris(), st.data())
def test_changed_uris_are_symmetric_and_keys_follow(uri, data):
    """Each change below may or may not break equivalence; the verdict must agree both ways."""
    change = data.draw(
        st.sampled_from(["port", "user", "password", "param", "drop-param", "header", "scheme"])
    )
    fields = {
        "scheme": uri.scheme,
        "user": uri.user,
        "password": uri.password,
        "host": uri.host,
        "port": uri.port,
        "params": uri.params,
        "headers": uri.headers,
    }
    if change == "port":
        fields["port"] = data.draw(st.none() | st.integers(0, 65535))
    elif change == "user":
        fields["user"] = data.draw(st.none() | nonempty_text)
        fields["password"] = None
    elif change == "password" and uri.user is not None:
        fields["password"] = data.draw(st.none() | text)
    elif change == "param":
        name = data.draw(special_param_names)
        kept = tuple(p for p in uri.params if p[0].translate(_ASCII_LOWER) != name.lower())
        fields["params"] = (*kept, (name, data.draw(st.none() | nonempty_text)))
    elif change == "drop-param" and uri.params:
        fields["params"] = uri.params[1:]
    elif change == "header":
        fields["headers"] = (*uri.headers, (data.draw(nonempty_text), data.draw(text)))
    elif change == "scheme":
        fields["scheme"] = "sips" if uri.scheme == "sip" else "sip"
    other = SipUri(**fields)
    verdict = uri_equivalent(uri, other)
    assert uri_equivalent(other, uri) is verdict
    if verdict:
        assert aor_lookup_key(uri) == aor_lookup_key(other)
    if change == "scheme":
        assert verdict is False
    if change == "header":
        assert verdict is False


def test_sip_and_sips_never_equivalent_even_when_identical_otherwise():
    for text in ["alice@atlanta.com", "atlanta.com;transport=tls", "[::1]:5061"]:
        assert uri_equivalent(parse_uri("sip:" + text), parse_uri("sips:" + text)) is False
