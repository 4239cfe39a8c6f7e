"""Digest authentication: published vectors, independent recomputation, the session rules."""

from __future__ import annotations

import contextlib
import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip.digest import (
    MAX_STALE_RETRIES,
    Challenge,
    Credentials,
    DigestError,
    DigestSession,
    authorization,
    choose_challenge,
    parse_challenge,
)
from sipprofile.server.sip.errors import SipError
from sipprofile.server.sip.grammar import quote_string, unquote_string

# --- helpers: an independent reading of the answer and a straightforward recomputation ----

_PARAM = re.compile(r'\s*([A-Za-z*-]+)=("(?:[^"\\]|\\.)*"|[^,\s]+)\s*(?:,|$)')


def fields(value: str) -> dict[str, str]:
    """Split an Authorization value into unquoted parameters (test-side, not the module's)."""
    assert value.startswith("Digest ")
    rest, out, pos = value[len("Digest ") :], {}, 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        assert m, f"unparseable at {rest[pos:]!r}"
        name, raw = m.group(1), m.group(2)
        assert name not in out
        out[name] = unquote_string(raw) if raw.startswith('"') else raw
        pos = m.end()
    return out


HASHLIB = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def expected_response(
    algorithm="MD5",
    *,
    user="Mufasa",
    realm="example.org",
    password="Circle of Life",
    nonce="n1",
    method="REGISTER",
    uri="sip:example.org",
    qop: str | None = "auth",
    nc="00000001",
    cnonce="c",
    body=b"",
):
    """RFC 7616 §3.4.1-3.4.3 written out plainly, one hash call per formula line."""
    name = HASHLIB[algorithm.removesuffix("-sess")]

    def H(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    ha1 = H(f"{user}:{realm}:{password}".encode())
    if algorithm.endswith("-sess"):
        ha1 = H(f"{ha1}:{nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}".encode()
    if qop == "auth-int":
        a2 += b":" + H(body).encode()
    if qop is None:
        return H(f"{ha1}:{nonce}:{H(a2)}".encode())
    return H(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{H(a2)}".encode())


def chal(**kw) -> Challenge:
    kw.setdefault("scheme", "Digest")
    kw.setdefault("realm", "example.org")
    kw.setdefault("nonce", "n1")
    kw.setdefault("qop", ("auth",))
    return Challenge(**kw)


# --- RFC 7616 §3.9.1 ------------------------------------------------------------------------

RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
# The opaque printed in RFC 7616 §3.9.1 (it does not enter the response).
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
RFC7616_CHALLENGES = [
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"',
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
    f'nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"',
]
MUFASA = Credentials("Mufasa", "Circle of Life")  # errata 4495: lower-case "of"


@pytest.mark.parametrize(
    ("index", "algorithm", "response"),
    [
        (0, "SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (1, "MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_3_9_1(index, algorithm, response):
    challenge = parse_challenge(RFC7616_CHALLENGES[index])
    assert challenge.algorithm == algorithm
    assert challenge.qop == ("auth", "auth-int")
    value = authorization(
        challenge, MUFASA, method="GET", uri="/dir/index.html", cnonce=RFC7616_CNONCE
    )
    assert fields(value) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "nonce": RFC7616_NONCE,
        "uri": "/dir/index.html",
        "response": response,
        "algorithm": algorithm,
        "cnonce": RFC7616_CNONCE,
        "opaque": RFC7616_OPAQUE,
        "qop": "auth",
        "nc": "00000001",
    }


def test_rfc7616_md5_exact_text():
    value = authorization(
        parse_challenge(RFC7616_CHALLENGES[1]),
        MUFASA,
        method="GET",
        uri="/dir/index.html",
        cnonce=RFC7616_CNONCE,
    )
    assert value == (
        'Digest username="Mufasa", realm="http-auth@example.org", '
        f'nonce="{RFC7616_NONCE}", uri="/dir/index.html", '
        'response="8ca523f5e9506fed4657c9700eebdbec", algorithm=MD5, '
        f'cnonce="{RFC7616_CNONCE}", opaque="{RFC7616_OPAQUE}", qop=auth, nc=00000001'
    )


def test_rfc7616_pair_prefers_sha256_over_md5_whatever_the_order():
    both = [parse_challenge(c) for c in RFC7616_CHALLENGES]
    assert choose_challenge(both).algorithm == "SHA-256"
    assert choose_challenge(both[::-1]).algorithm == "SHA-256"


# --- RFC 7616 §3.9.2 (SHA-512-256, charset, userhash) ---------------------------------------

JASON = Credentials("J\u00e4s\u00f8n Doe", "Secret, or not?")
RFC7616_2_CHALLENGE = (
    'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, '
    'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", '
    'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true'
)
RFC7616_2_CNONCE = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
# The RFC as printed has username 4888694...254ec and response ae66e67d...79dd, which no
# SHA-512/256 reproduces (they came from a draft SHA-512/256); erratum 4897 gives these, and
# the two independent values (user hash and response) both match.
ERRATUM_4897_USERHASH = "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
ERRATUM_4897_RESPONSE = "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"


def test_rfc7616_3_9_2_userhash():
    challenge = parse_challenge(RFC7616_2_CHALLENGE)
    assert (challenge.algorithm, challenge.userhash, challenge.charset) == (
        "SHA-512-256",
        True,
        "UTF-8",
    )
    got = fields(
        authorization(challenge, JASON, method="GET", uri="/doe.json", cnonce=RFC7616_2_CNONCE)
    )
    assert got["username"] == ERRATUM_4897_USERHASH
    assert got["response"] == ERRATUM_4897_RESPONSE
    assert got["userhash"] == "true"
    assert (got["algorithm"], got["qop"], got["nc"]) == ("SHA-512-256", "auth", "00000001")


def test_rfc7616_3_9_2_username_star_when_not_hashed():
    challenge = parse_challenge(RFC7616_2_CHALLENGE.replace("userhash=true", "userhash=false"))
    got = fields(
        authorization(challenge, JASON, method="GET", uri="/doe.json", cnonce=RFC7616_2_CNONCE)
    )
    assert got["username*"] == "UTF-8''J%C3%A4s%C3%B8n%20Doe"
    assert "username" not in got
    assert "userhash" not in got
    assert got["response"] == ERRATUM_4897_RESPONSE


def test_non_ascii_username_is_utf8_quoted_for_a_plain_sip_server():
    # No charset=UTF-8: a classic SIP server, which knows no username*; RFC 3261 qdtext
    # carries UTF-8 as it is.
    challenge = chal(algorithm="SHA-256")
    got = fields(authorization(challenge, JASON, method="REGISTER", uri="sip:x", cnonce="c"))
    assert got["username"] == "J\u00e4s\u00f8n Doe"
    assert got["response"] == expected_response(
        "SHA-256", user=JASON.username, password=JASON.password, uri="sip:x"
    )


def test_charset_utf8_normalizes_to_nfc():
    decomposed = Credentials("Ja\u0308s\u00f8n Doe", "Secret, or not?")
    challenge = parse_challenge(RFC7616_2_CHALLENGE)
    value = authorization(
        challenge, decomposed, method="GET", uri="/doe.json", cnonce=RFC7616_2_CNONCE
    )
    assert fields(value)["response"] == ERRATUM_4897_RESPONSE


def test_sha512_256_is_not_truncated_sha512():
    assert hashlib.new("sha512_256", b"abc").hexdigest() == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )
    got = fields(
        authorization(
            chal(algorithm="SHA-512-256"), MUFASA, method="GET", uri="/", cnonce="c", nc=1
        )
    )
    assert got["response"] == expected_response("SHA-512-256", method="GET", uri="/")


# --- RFC 2617 §3.5 ----------------------------------------------------------------------------


def test_rfc2617_3_5():
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    got = fields(
        authorization(
            challenge,
            Credentials("Mufasa", "Circle Of Life"),
            method="GET",
            uri="/dir/index.html",
            cnonce="0a4f113b",
        )
    )
    assert got["response"] == "6629fae49393a05397450978507c4ef1"
    assert got["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert got["algorithm"] == "MD5"  # absent in the challenge means MD5


# --- computed vectors, cross-checked with a plain hashlib computation ------------------------

SDP = b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n"


@pytest.mark.parametrize(
    "algorithm",
    ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"],
)
@pytest.mark.parametrize("qop", [("auth",), ("auth-int",), ("auth", "auth-int"), ()])
def test_every_algorithm_and_qop(algorithm, qop):
    creds = Credentials("alice", "s3cr\u00e9t:with colon")
    challenge = chal(realm="atlanta.example.com", nonce="ab:cd", algorithm=algorithm, qop=qop)
    invite = {"method": "INVITE", "uri": "sip:bob@biloxi.example.com", "body": SDP}
    got = fields(authorization(challenge, creds, **invite, nc=0x1F, cnonce="0a4f113b"))
    chosen = "auth" if "auth" in qop else "auth-int" if qop else None
    assert got["response"] == expected_response(
        algorithm,
        user="alice",
        realm="atlanta.example.com",
        password=creds.password,
        nonce="ab:cd",
        method="INVITE",
        uri="sip:bob@biloxi.example.com",
        qop=chosen,
        nc="0000001f",
        cnonce="0a4f113b",
        body=SDP,
    )
    assert got["algorithm"] == algorithm
    assert got.get("qop") == chosen
    assert got.get("nc") == ("0000001f" if qop else None)
    # cnonce only where something uses it: a qop, or the -sess A1
    assert ("cnonce" in got) == (bool(qop) or algorithm.endswith("-sess"))


def test_auth_int_known_vector():
    # MD5, qop=auth-int, SIP INVITE with SDP; written out by hand as a fixed vector too.
    challenge = chal(
        realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=("auth-int",)
    )
    invite = {"method": "INVITE", "uri": "sip:bob@biloxi.com", "body": SDP}
    got = fields(
        authorization(challenge, Credentials("bob", "zanzibar"), **invite, cnonce="0a4f113b")
    )
    body_hash = hashlib.md5(SDP).hexdigest()
    ha1 = hashlib.md5(b"bob:biloxi.com:zanzibar").hexdigest()
    ha2 = hashlib.md5(f"INVITE:sip:bob@biloxi.com:{body_hash}".encode()).hexdigest()
    data = f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth-int:{ha2}"
    assert got["qop"] == "auth-int"
    assert got["response"] == hashlib.md5(data.encode()).hexdigest()


def test_auth_int_empty_body_hashes_the_empty_string():
    register = {"method": "REGISTER", "uri": "sip:example.org", "cnonce": "c"}
    got = fields(authorization(chal(qop=("auth-int",)), MUFASA, **register))
    assert got["response"] == expected_response(qop="auth-int", body=b"")


def test_rfc2069_form_without_qop():
    got = fields(authorization(chal(qop=()), MUFASA, method="REGISTER", uri="sip:example.org"))
    assert set(got) == {"username", "realm", "nonce", "uri", "response", "algorithm"}
    assert got["response"] == expected_response(qop=None)


def test_generated_cnonce_is_used_consistently():
    got = fields(authorization(chal(algorithm="SHA-256-sess"), MUFASA, method="GET", uri="/"))
    assert len(got["cnonce"]) >= 16
    assert got["response"] == expected_response(
        "SHA-256-sess", method="GET", uri="/", cnonce=got["cnonce"]
    )


def test_values_are_quoted_on_the_way_out():
    challenge = chal(realm='a "quoted" \\realm', nonce="n\\1", opaque='o"p')
    got = fields(
        authorization(challenge, Credentials('us"er', "pw"), method="GET", uri="/", cnonce="c")
    )
    assert got["realm"] == 'a "quoted" \\realm'
    assert got["nonce"] == "n\\1"
    assert got["opaque"] == 'o"p'
    assert got["username"] == 'us"er'
    assert got["response"] == expected_response(
        user='us"er', realm='a "quoted" \\realm', password="pw", nonce="n\\1", method="GET", uri="/"
    )


# --- realm and input checks -------------------------------------------------------------------


def test_realm_mismatch_raises():
    creds = Credentials("alice", "pw", realm="atlanta.example.com")
    with pytest.raises(DigestError, match="realm"):
        authorization(chal(realm="evil.example.com"), creds, method="REGISTER", uri="sip:x")
    authorization(chal(realm="atlanta.example.com"), creds, method="REGISTER", uri="sip:x")
    any_realm = Credentials("alice", "pw")
    authorization(chal(realm="evil.example.com"), any_realm, method="REGISTER", uri="sip:x")


@pytest.mark.parametrize(
    ("challenge", "kwargs"),
    [
        (chal(), {"method": "REG ISTER"}),
        (chal(), {"uri": "sip:x\r\nVia: evil"}),
        (chal(), {"nc": 0}),
        (chal(), {"nc": 2**32}),
        (chal(), {"cnonce": ""}),
        (chal(algorithm="AKAv1-MD5"), {}),
        (chal(qop=("auth-conf",)), {}),
    ],
)
def test_unanswerable_requests_raise(challenge, kwargs):
    args = {"method": "REGISTER", "uri": "sip:example.org", **kwargs}
    with pytest.raises(DigestError):
        authorization(challenge, MUFASA, **args)


def test_bad_unicode_password_does_not_leak():
    creds = Credentials("alice", "hunter2\ud800")
    with pytest.raises(DigestError) as info:
        authorization(chal(), creds, method="REGISTER", uri="sip:x", cnonce="c")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(creds)


def test_digest_error_is_a_sip_error():
    assert issubclass(DigestError, SipError)


# --- choose_challenge ---------------------------------------------------------------------


def test_choose_strongest():
    md5, sha256, sha512 = (chal(algorithm=a) for a in ("MD5", "SHA-256", "SHA-512-256"))
    assert choose_challenge([md5, sha512, sha256]) is sha512
    assert choose_challenge([md5, sha256]) is sha256
    assert choose_challenge([sha256, md5]) is sha256


def test_choose_ties_keep_server_order_and_sess_equals_base():
    a, b = chal(algorithm="MD5-sess", nonce="a"), chal(algorithm="MD5", nonce="b")
    assert choose_challenge([a, b]) is a
    assert choose_challenge([b, a]) is b
    c, d = chal(algorithm="SHA-256", nonce="c"), chal(algorithm="SHA-256-sess", nonce="d")
    assert choose_challenge([c, d]) is c


def test_choose_ignores_unsupported():
    aka = chal(algorithm="AKAv1-MD5")
    conf_only = chal(algorithm="SHA-512-256", qop=("auth-conf",))
    md5 = chal(algorithm="MD5")
    assert choose_challenge([aka, conf_only, md5]) is md5
    assert choose_challenge([aka, conf_only]) is None
    assert choose_challenge([]) is None
    assert choose_challenge([chal(algorithm="SHA-1")]) is None


# --- parse_challenge ----------------------------------------------------------------------


def test_parse_odd_but_valid():
    c = parse_challenge(
        '  digest   realm = "sip.example.com" ,nonce="abc" ,, algorithm = sha-256,'
        '\tqop=" auth , AUTH-INT,auth " , domain="sip:a sip:b", foo=bar, x-y="z", '
        'stale=TRUE, opaque=""',
        proxy=True,
    )
    assert c == Challenge(
        scheme="Digest",
        realm="sip.example.com",
        nonce="abc",
        algorithm="SHA-256",
        qop=("auth", "auth-int"),
        opaque="",
        stale=True,
        userhash=False,
        proxy=True,
    )


@pytest.mark.parametrize(
    ("text", "stale"),
    [
        *[(text, True) for text in ("stale=true", "stale=TRUE", 'stale="true"', "stale=True")],
        *[(text, False) for text in ("stale=FALSE", "stale=false", "stale=yes", "")],
    ],
)
def test_parse_stale(text, stale):
    c = parse_challenge(f'Digest realm="r", nonce="n", {text}')
    assert c.stale is stale


def test_parse_defaults_and_forms():
    c = parse_challenge("DIGEST nonce=tok, realm=example.org")  # token values, any order
    assert (c.scheme, c.realm, c.nonce, c.algorithm, c.qop) == (
        "Digest",
        "example.org",
        "tok",
        "MD5",
        (),
    )
    assert (c.opaque, c.stale, c.userhash, c.proxy, c.charset) == (None, False, False, False, None)
    assert parse_challenge('Digest realm="r", nonce="n", algorithm="MD5-SESS"').algorithm == (
        "MD5-sess"
    )
    assert parse_challenge('Digest realm="r", nonce="n", algorithm=AKAv1-MD5').algorithm == (
        "AKAv1-MD5"
    )
    assert parse_challenge('Digest realm="r", nonce="n", qop=auth').qop == ("auth",)
    assert parse_challenge('Digest realm="r", nonce="n", userhash=TRUE').userhash is True


def test_parse_quoted_pairs_and_utf8_and_folding():
    c = parse_challenge('Digest realm="a \\"b\\" \u00e9",\r\n  nonce="x\\\\y"')
    assert c.realm == 'a "b" \u00e9'
    assert c.nonce == "x\\y"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        'Basic realm="x"',
        'Bearer realm="x", nonce="y"',
        "Digest",
        'Digest nonce="n"',
        'Digest realm="r"',
        'Digestrealm="r", nonce="n"',
        'Digest realm="r", nonce="n", realm="s"',
        'Digest realm="r", NONCE="n", nonce="m"',
        'Digest realm="r, nonce="n"',
        'Digest realm="r" nonce="n"',
        'Digest realm="r", nonce',
        'Digest realm="r", nonce=',
        'Digest realm="r", nonce=@',
        'Digest realm="r", nonce="n", qop="auth, a b"',
        'Digest realm="r\x01", nonce="n"',
        'Digest realm="r\r\n", nonce="n"',
        'Digest realm="r",\r\nnonce="n"',
        'Digest realm="r", nonce="n", Digest realm="s", nonce="m"',
        'Digest, realm="r", nonce="n"',
    ],
)
def test_parse_rejects(text):
    with pytest.raises(DigestError):
        parse_challenge(text)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_parse_arbitrary_text_raises_only_digest_error(text):
    with contextlib.suppress(DigestError):
        parse_challenge(text)


syntax = st.text(
    alphabet=st.sampled_from(list(' \t,="\\\r\nabcrealmnoce\u00e9\ud800')), max_size=60
)


@settings(max_examples=500, deadline=None)
@given(syntax, syntax)
def test_parse_near_miss_text_raises_only_digest_error(a, b):
    try:
        c = parse_challenge(f'Digest realm="r", {a}nonce="n"{b}')
    except DigestError:
        return
    assert c.scheme == "Digest"


quotable = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30
)


@settings(max_examples=200, deadline=None)
@given(quotable, quotable, quotable, st.sampled_from(["MD5", "SHA-256-sess", "SHA-512-256"]))
def test_round_trip_through_quoting(realm, nonce, opaque, algorithm):
    header = (
        f"Digest realm={quote_string(realm)}, nonce={quote_string(nonce)}, "
        f'opaque={quote_string(opaque)}, algorithm={algorithm}, qop="auth"'
    )
    c = parse_challenge(header)
    assert (c.realm, c.nonce, c.opaque, c.algorithm) == (realm, nonce, opaque, algorithm)
    got = fields(authorization(c, MUFASA, method="REGISTER", uri="sip:r", cnonce="cn"))
    assert (got["realm"], got["nonce"], got["opaque"]) == (realm, nonce, opaque)
    assert got["response"] == expected_response(
        algorithm, realm=realm, nonce=nonce, uri="sip:r", cnonce="cn"
    )


# --- DigestSession ---------------------------------------------------------------------------


class Counter:
    """A cnonce factory that says how often it was asked."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"cnonce{self.calls}"


def www(nonce, **kw):
    return chal(nonce=nonce, **kw)


def proxy(nonce, **kw):
    return chal(nonce=nonce, realm="proxy.example.org", proxy=True, **kw)


def session(creds=MUFASA):
    factory = Counter()
    return DigestSession(creds, cnonce_factory=factory), factory


def send(s):
    headers = s.authorize(method="REGISTER", uri="sip:example.org")
    return {name: fields(value) for name, value in headers}


def test_session_nothing_before_a_challenge():
    s, _ = session()
    assert s.authorize(method="REGISTER", uri="sip:example.org") == []


def test_session_challenge_then_retry_then_same_nonce_fails():
    s, _ = session()
    assert s.on_challenge([www("n1")]) == "retry"
    sent = send(s)
    assert list(sent) == ["Authorization"]
    assert (sent["Authorization"]["nonce"], sent["Authorization"]["nc"]) == ("n1", "00000001")
    assert sent["Authorization"]["cnonce"] == "cnonce1"
    assert s.on_challenge([www("n1")]) == "failed"
    assert s.authorize(method="REGISTER", uri="sip:example.org") == []  # forgot everything


def test_session_new_nonce_without_stale_after_first_answer_fails():
    # Kamailio and others answer a wrong password with a fresh nonce and no stale flag.
    s, _ = session()
    assert s.on_challenge([www("n1")]) == "retry"
    send(s)
    assert s.on_challenge([www("n2")]) == "failed"


def test_session_stale_with_new_nonce_retries_and_restarts_nc():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    assert s.on_challenge([www("n2", stale=True)]) == "retry"
    sent = send(s)["Authorization"]
    assert (sent["nonce"], sent["nc"], sent["cnonce"]) == ("n2", "00000001", "cnonce2")


def test_session_stale_with_the_same_nonce_fails():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    assert s.on_challenge([www("n1", stale=True)]) == "failed"


def test_session_endless_stale_is_bounded():
    s, _ = session()
    s.on_challenge([www("n0")])
    send(s)
    for i in range(MAX_STALE_RETRIES):
        assert s.on_challenge([www(f"s{i}", stale=True)]) == "retry"
        send(s)
    assert s.on_challenge([www("last", stale=True)]) == "failed"


def test_session_stale_after_success_resets_the_bound():
    s, _ = session()
    s.on_challenge([www("n0")])
    for i in range(2 * MAX_STALE_RETRIES + 2):
        send(s)
        send(s)  # the previous request was not challenged: accepted
        assert s.on_challenge([www(f"s{i}", stale=True)]) == "retry"


def test_session_nc_increments_with_the_same_nonce():
    s, factory = session()
    s.on_challenge([www("n1")])
    sent = [send(s)["Authorization"] for _ in range(3)]
    assert [f["nc"] for f in sent] == ["00000001", "00000002", "00000003"]
    assert {f["cnonce"] for f in sent} == {"cnonce1"}
    assert factory.calls == 1
    assert sent[2]["response"] == expected_response(nc="00000003", cnonce="cnonce1")


def test_session_new_nonce_without_stale_after_success_retries_once():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    send(s)  # refresh, preemptive with nc=2: the first one got through
    assert s.on_challenge([www("n2")]) == "retry"  # server forgot n1 without saying stale
    sent = send(s)["Authorization"]
    assert (sent["nonce"], sent["nc"]) == ("n2", "00000001")
    assert s.on_challenge([www("n3")]) == "failed"  # n2's answer itself was refused


def test_session_same_nonce_after_success_fails():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    send(s)
    assert s.on_challenge([www("n1")]) == "failed"


def test_session_proxy_challenge_gives_proxy_authorization():
    s, _ = session()
    assert s.on_challenge([proxy("p1")]) == "retry"
    sent = send(s)
    assert list(sent) == ["Proxy-Authorization"]
    assert sent["Proxy-Authorization"]["realm"] == "proxy.example.org"
    # the proxy let it through, then the registrar challenges
    assert s.on_challenge([www("n1")]) == "retry"
    sent = send(s)
    assert list(sent) == ["Authorization", "Proxy-Authorization"]
    assert (sent["Authorization"]["nc"], sent["Proxy-Authorization"]["nc"]) == (
        "00000001",
        "00000002",
    )
    assert s.on_challenge([proxy("p1")]) == "failed"


def test_session_407_leaves_the_registrar_answer_unjudged():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    # a proxy stops the request before the registrar sees our answer to n1
    assert s.on_challenge([proxy("p1")]) == "retry"
    sent = send(s)
    assert (sent["Authorization"]["nonce"], sent["Authorization"]["nc"]) == ("n1", "00000002")
    # now the registrar did judge it, and refused with a new nonce
    assert s.on_challenge([www("n2")]) == "failed"


def test_session_unjudged_same_nonce_keeps_counting():
    s, _ = session()
    s.on_challenge([www("n1")])
    send(s)
    s.on_challenge([proxy("p1")])
    assert s.on_challenge([proxy("p1")]) == "retry"  # nothing sent in between
    s.on_challenge([www("n1")])  # re-offered before any judged answer
    assert send(s)["Authorization"]["nc"] == "00000002"  # a count is never reused


def test_session_both_kinds_in_one_response():
    s, _ = session()
    assert s.on_challenge([www("n1"), proxy("p1")]) == "retry"
    assert list(send(s)) == ["Authorization", "Proxy-Authorization"]


def test_session_picks_strongest_and_filters_realm():
    creds = Credentials("alice", "pw", realm="example.org")
    s, _ = session(creds)
    offered = [
        www("a", algorithm="MD5"),
        www("b", algorithm="SHA-256"),
        www("c", realm="other", algorithm="SHA-512-256"),  # stronger, but not our realm
    ]
    assert s.on_challenge(offered) == "retry"
    assert send(s)["Authorization"]["algorithm"] == "SHA-256"


@pytest.mark.parametrize(
    "challenges",
    [[], [www("n", algorithm="AKAv1-MD5")], [www("n", realm="other")]],
)
def test_session_nothing_usable_fails(challenges):
    s, _ = session(Credentials("alice", "pw", realm="example.org"))
    assert s.on_challenge(challenges) == "failed"


def test_session_no_cnonce_when_none_is_needed():
    s, factory = session()
    s.on_challenge([www("n1", qop=())])
    sent = send(s)["Authorization"]
    assert "cnonce" not in sent
    assert factory.calls == 0
