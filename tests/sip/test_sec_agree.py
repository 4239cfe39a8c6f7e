"""RFC 3329 security agreement: the Security-* list codec, the choice, what is offered."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip.errors import SipError
from sipprofile.server.sip.grammar import TOKEN_CHARS, quote_string
from sipprofile.server.sip.sec_agree import (
    CLIENT_MECHANISMS,
    MAX_MECHANISMS,
    Mechanism,
    SecAgreeError,
    choose,
    client_mechanisms,
    format_mechanisms,
    parse_mechanisms,
    verify_value,
)


def mech(text: str) -> Mechanism:
    """The one mechanism of ``text``."""
    [only] = parse_mechanisms([text])
    return only


def test_error_is_a_value_error_and_a_sip_error():
    assert issubclass(SecAgreeError, ValueError)
    assert issubclass(SecAgreeError, SipError)


# --- RFC 3329 §4 example exchanges -----------------------------------------------------


def test_rfc3329_client_initiated_exchange():
    # §4.1: the client lists tls and digest on two header lines; the 494 lists
    # ipsec-ike;q=0.1 and tls;q=0.2 on two lines; the client turns TLS on and its next
    # request carries both server lines back in Security-Verify.
    offered = parse_mechanisms(["tls", "digest"])
    assert offered == [Mechanism("tls"), Mechanism("digest")]
    assert offered == list(CLIENT_MECHANISMS)

    server = parse_mechanisms(["ipsec-ike;q=0.1", "tls;q=0.2"])
    assert [(m.name, m.q) for m in server] == [("ipsec-ike", 0.1), ("tls", 0.2)]

    assert choose(offered, server) == Mechanism("tls", (("q", "0.2"),))
    verify = verify_value(server)
    assert verify == "ipsec-ike;q=0.1, tls;q=0.2"
    # The server compares what comes back with its own list: same mechanisms, same
    # order, same parameters.
    assert parse_mechanisms([verify]) == server
    assert parse_mechanisms(["ipsec-ike;q=0.1", "tls;q=0.2"]) == parse_mechanisms([verify])


def test_same_server_list_on_a_flow_that_is_not_tls_has_nothing_in_common():
    server = parse_mechanisms(["ipsec-ike;q=0.1", "tls;q=0.2"])
    assert choose(client_mechanisms(tls=False), server) is None


def test_server_initiated_shape_digest_on_a_plain_flow():
    # §2.3.2: a server may ask for an agreement itself (421 with Require: sec-agree);
    # the list reads and is chosen from the same way.
    server = parse_mechanisms(["tls;q=0.2, digest;q=0.1;d-alg=md5;d-qop=auth"])
    assert choose(client_mechanisms(tls=True), server) == server[0]
    chosen = choose(client_mechanisms(tls=False), server)
    assert chosen == server[1]
    assert chosen is not None
    assert (chosen.param("d-alg"), chosen.param("d-qop")) == ("md5", "auth")
    assert verify_value(server) == "tls;q=0.2, digest;q=0.1;d-alg=md5;d-qop=auth"


# --- 3GPP TS 33.203 ipsec-3gpp lists: read, echoed, never chosen -----------------------

TS33203_SERVER = (
    "ipsec-3gpp; q=0.1; alg=hmac-sha-1-96; spi-c=98765432; spi-s=87654321; port-c=8642; port-s=7531"
)


def test_ts33203_server_list_is_parsed():
    [m] = parse_mechanisms([TS33203_SERVER])
    assert m.name == "ipsec-3gpp"
    assert m.q == 0.1
    assert m.params == (
        ("q", "0.1"),
        ("alg", "hmac-sha-1-96"),
        ("spi-c", "98765432"),
        ("spi-s", "87654321"),
        ("port-c", "8642"),
        ("port-s", "7531"),
    )
    assert verify_value([m]) == (
        "ipsec-3gpp;q=0.1;alg=hmac-sha-1-96;spi-c=98765432;spi-s=87654321;port-c=8642;port-s=7531"
    )


def test_ipsec_3gpp_is_never_chosen():
    server = parse_mechanisms(
        [
            TS33203_SERVER,
            "ipsec-3gpp;q=0.5;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans;"
            "spi-c=4294967295;spi-s=67890;port-c=61676;port-s=61662",
        ]
    )
    assert choose(CLIENT_MECHANISMS, server) is None
    # With tls on offer too, tls is chosen however much the server prefers ipsec-3gpp.
    server.append(mech("tls;q=0.01"))
    assert choose(CLIENT_MECHANISMS, server) == server[-1]
    assert "ipsec-3gpp" not in {m.name for m in CLIENT_MECHANISMS}


def test_ims_client_list_with_ipsec_and_tls_then_tls_only_server():
    # An IMS UE's list (two ipsec-3gpp algorithms and tls), a P-CSCF answering tls.
    client = parse_mechanisms(
        [
            "ipsec-3gpp;alg=hmac-md5-96;ealg=aes-cbc;prot=esp;mod=trans;spi-c=8765423;"
            "port-c=7524;spi-s=1234563;port-s=1358, ipsec-3gpp;alg=hmac-sha-1-96;"
            "ealg=aes-cbc;prot=esp;mod=trans;spi-c=8765423;port-c=7524;spi-s=1234563;"
            "port-s=1358, tls"
        ]
    )
    assert [m.name for m in client] == ["ipsec-3gpp", "ipsec-3gpp", "tls"]
    server = parse_mechanisms(["tls"])
    assert choose(CLIENT_MECHANISMS, server) == Mechanism("tls")
    assert verify_value(server) == "tls"


# --- what we offer ----------------------------------------------------------------------


def test_client_mechanisms():
    assert [m.name for m in CLIENT_MECHANISMS] == ["tls", "digest"]
    assert all(m.q is None and not m.params for m in CLIENT_MECHANISMS)  # §2.3.1
    assert client_mechanisms(tls=True) == CLIENT_MECHANISMS
    assert client_mechanisms(tls=False) == (Mechanism("digest"),)
    assert format_mechanisms(CLIENT_MECHANISMS) == "tls, digest"
    assert parse_mechanisms([format_mechanisms(CLIENT_MECHANISMS)]) == list(CLIENT_MECHANISMS)


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        (["tls"], [Mechanism("tls")]),
        (["TLS"], [Mechanism("tls")]),
        (["Digest;Q=0.5"], [Mechanism("digest", (("Q", "0.5"),))]),
        (
            [" \ttls ;\tq = 0.2 , digest\t"],
            [Mechanism("tls", (("q", "0.2"),)), Mechanism("digest")],
        ),
        (["tls;q=0.2,\r\n digest"], [Mechanism("tls", (("q", "0.2"),)), Mechanism("digest")]),
        (["tls\r\n\t;q=0.2"], [Mechanism("tls", (("q", "0.2"),))]),
        (
            ["tls", "digest, ipsec-ike"],
            [Mechanism("tls"), Mechanism("digest"), Mechanism("ipsec-ike")],
        ),
        (
            ['digest;d-alg=md5;d-qop=auth-int;d-ver="0123456789abcdef0123456789abcdef"'],
            [
                Mechanism(
                    "digest",
                    (
                        ("d-alg", "md5"),
                        ("d-qop", "auth-int"),
                        ("d-ver", '"0123456789abcdef0123456789abcdef"'),
                    ),
                )
            ],
        ),
        (['x;note="a, b; c=d"'], [Mechanism("x", (("note", '"a, b; c=d"'),))]),
        (
            ["ipsec-ike;q=0.1;test=458;toto"],
            [Mechanism("ipsec-ike", (("q", "0.1"), ("test", "458"), ("toto", None)))],
        ),
        (
            ["x;host=[2001:db8::1];at=192.0.2.1:5060"],
            [Mechanism("x", (("host", "[2001:db8::1]"), ("at", "192.0.2.1:5060")))],
        ),
        ([", ".join(["tls"] * MAX_MECHANISMS)], [Mechanism("tls")] * MAX_MECHANISMS),
    ],
)
def test_parse(values, expected):
    assert parse_mechanisms(values) == expected


@pytest.mark.parametrize(
    ("q", "value"),
    [
        ("0", 0.0),
        ("0.", 0.0),
        ("0.1", 0.1),
        ("0.123", 0.123),
        ("1", 1.0),
        ("1.", 1.0),
        ("1.000", 1.0),
    ],
)
def test_q_values(q, value):
    assert mech(f"tls;q={q}").q == value


def test_q_absent_is_none():
    assert mech("tls;d-alg=md5").q is None


@pytest.mark.parametrize(
    "values",
    [
        [""],
        ["  "],
        ["\t"],
        [","],
        ["tls,"],
        [",tls"],
        ["tls,,digest"],
        ["tls, ,digest"],
        ["tls", ""],
        ["tls;q=2"],
        ["tls;q=abc"],
        ["tls;q=1.5"],
        ["tls;q=1.0001"],
        ["tls;q=0.1234"],
        ["tls;q=-0"],
        ["tls;q=.5"],
        ["tls;q=+0.5"],
        ["tls;q=0.5.1"],
        ['tls;q="0.5"'],
        ["tls;q"],
        ["tls;q="],
        ["tls;q=0.1;q=0.2"],
        ["tls;q=0.1;Q=0.1"],
        [";q=0.1"],
        ["q=0.1"],
        ["tl s"],
        ["tls;"],
        ["tls;;q=0.1"],
        ["tls;=x"],
        ["tls;a b=c"],
        ['tls;a="x'],
        ['tls;a="x\\'],
        ['tls;a="x"y'],
        ["tls;a=b c"],
        ["<tls>"],
        ["tls/1"],
        ["tls:5061"],
        ["tl\u00e9s"],
        ["\u00e9"],
        ["tls\x00"],
        ["tls\r\ndigest"],
        ["tls\n digest"],
        ["tls\r\n"],
        ["tls;a=\x7f"],
        ['tls;a="\r\n"'],
        [", ".join(["tls"] * (MAX_MECHANISMS + 1))],
        [", ".join(["tls"] * 17), ", ".join(["digest"] * 16)],
    ],
)
def test_parse_rejects(values):
    with pytest.raises(SecAgreeError):
        parse_mechanisms(values)


def test_errors_name_the_element():
    with pytest.raises(SecAgreeError, match=r"security mechanism 2 is empty"):
        parse_mechanisms(["tls,"])
    with pytest.raises(SecAgreeError, match=r"security mechanism 3: mechanism 'tls': q='2'"):
        parse_mechanisms(["digest", "ipsec-ike, tls;q=2"])
    with pytest.raises(SecAgreeError, match=rf"more than {MAX_MECHANISMS}"):
        parse_mechanisms([", ".join(["tls"] * (MAX_MECHANISMS + 1))])


# --- Mechanism values -------------------------------------------------------------------


def test_mechanism_normalises_name_case():
    assert Mechanism("TLS") == Mechanism("tls")
    assert Mechanism("IPsec-3GPP").name == "ipsec-3gpp"


def test_mechanism_str_writes_tokens_bare_and_other_values_quoted():
    m = Mechanism(
        "digest", (("q", "0.1"), ("d-alg", "md5"), ("realm", quote_string("a b")), ("x", None))
    )
    assert str(m) == 'digest;q=0.1;d-alg=md5;realm="a b";x'
    assert mech(str(m)) == m


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("", ()),
        ("a b", ()),
        ("tls;q=0.1", ()),
        ("t\u00e9", ()),
        ("tls", (("q", "2"),)),
        ("tls", (("q", None),)),
        ("tls", (("q", "0.5"), ("q", "0.5"))),
        ("tls", (("a b", "c"),)),
        ("tls", (("a", "b c"),)),  # a value with a space must be given quoted
        ("tls", (("a", '"unterminated'),)),
        ("tls", (("a", ""),)),
    ],
)
def test_mechanism_refuses_what_it_cannot_write(name, params):
    with pytest.raises(SecAgreeError):
        Mechanism(name, params)


# --- formatting -------------------------------------------------------------------------


def test_format_mechanisms():
    assert format_mechanisms([Mechanism("tls", (("q", "0.2"),)), Mechanism("digest")]) == (
        "tls;q=0.2, digest"
    )


def test_format_refuses_lists_that_would_not_read_back():
    with pytest.raises(SecAgreeError):
        format_mechanisms([])
    with pytest.raises(SecAgreeError):
        format_mechanisms([Mechanism("tls")] * (MAX_MECHANISMS + 1))
    with pytest.raises(SecAgreeError):
        verify_value([])


def test_verify_value_keeps_order_params_and_quoting():
    received = (
        'ipsec-ike ;q=0.1;test=458;toto , Digest;d-ver="0123456789ABCDEF0123456789abcdef";D-Alg=MD5'
    )
    server = parse_mechanisms([received])
    assert verify_value(server) == (
        'ipsec-ike;q=0.1;test=458;toto, digest;d-ver="0123456789ABCDEF0123456789abcdef";D-Alg=MD5'
    )
    assert parse_mechanisms([verify_value(server)]) == server


# --- choosing ---------------------------------------------------------------------------


def test_choose_highest_q():
    server = parse_mechanisms(["digest;q=0.3, tls;q=0.7, ipsec-ike;q=0.9"])
    assert choose(CLIENT_MECHANISMS, server) == server[1]
    assert choose([Mechanism("digest")], server) == server[0]


def test_choose_ties_go_to_the_server_order():
    server = parse_mechanisms(["digest;q=0.5, tls;q=0.500"])
    assert choose(CLIENT_MECHANISMS, server) == server[0]
    assert choose(CLIENT_MECHANISMS, list(reversed(server))) == server[1]


def test_choose_ranks_a_missing_q_below_any_given_one():
    server = parse_mechanisms(["tls, digest;q=0"])
    assert choose(CLIENT_MECHANISMS, server) == server[1]
    # Without any q the server's order decides.
    assert choose(CLIENT_MECHANISMS, parse_mechanisms(["digest, tls"])) == Mechanism("digest")
    assert choose(CLIENT_MECHANISMS, parse_mechanisms(["tls, digest"])) == Mechanism("tls")


def test_choose_compares_names_without_case_and_returns_the_server_element():
    server = parse_mechanisms(["DIGEST;q=0.2;d-alg=SHA-256, TLS;q=0.1"])
    chosen = choose(CLIENT_MECHANISMS, server)
    assert chosen == Mechanism("digest", (("q", "0.2"), ("d-alg", "SHA-256")))


def test_choose_same_mechanism_twice_takes_the_better_one():
    server = parse_mechanisms(["digest;q=0.1;d-alg=md5, digest;q=0.4;d-alg=sha-256"])
    assert choose(CLIENT_MECHANISMS, server) == server[1]


@pytest.mark.parametrize(
    ("offered", "server"),
    [
        (CLIENT_MECHANISMS, []),
        ((), parse_mechanisms(["tls;q=0.2"])),
        (CLIENT_MECHANISMS, parse_mechanisms(["ipsec-ike;q=0.1, ipsec-man;q=0.2"])),
        (client_mechanisms(tls=False), parse_mechanisms(["tls;q=1"])),
    ],
)
def test_choose_nothing_in_common(offered, server):
    assert choose(offered, server) is None


# --- properties -------------------------------------------------------------------------

names = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
qvalues = st.one_of(
    st.builds(
        lambda d: "0" if d is None else f"0.{d}",
        st.none() | st.from_regex(r"[0-9]{0,3}", fullmatch=True),
    ),
    st.sampled_from(["1", "1.", "1.0", "1.00", "1.000"]),
)
values = st.one_of(
    st.none(),
    names,
    st.builds(
        quote_string,
        st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=12),
    ),
    st.sampled_from(["[2001:db8::1]", "192.0.2.1:5060", "host.example.com"]),
)
params = st.lists(st.tuples(names.filter(lambda n: n.lower() != "q"), values), max_size=4).map(
    tuple
)
mechanisms = st.builds(
    lambda name, q, rest, at: Mechanism(
        name, rest if q is None else (*rest[:at], ("q", q), *rest[at:])
    ),
    names,
    st.none() | qvalues,
    params,
    st.integers(0, 4),
)
mechanism_lists = st.lists(mechanisms, min_size=1, max_size=MAX_MECHANISMS)


@given(mechanism_lists)
def test_property_round_trip(ms):
    assert parse_mechanisms([format_mechanisms(ms)]) == ms
    assert parse_mechanisms([str(m) for m in ms]) == ms  # one header line each
    assert parse_mechanisms([verify_value(ms)]) == ms


@given(mechanism_lists, st.lists(st.sampled_from(["tls", "digest", "ipsec-ike"]), max_size=3))
def test_property_choice(server, offered_names):
    offered = [Mechanism(n) for n in offered_names]
    chosen = choose(offered, server)
    common = [m for m in server if m.name in offered_names]
    if not common:
        assert chosen is None
        return
    assert chosen is not None
    rank = [-1.0 if m.q is None else m.q for m in common]
    assert common.index(chosen) == rank.index(max(rank))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=3))
def test_property_arbitrary_text_raises_only_sec_agree_error(texts):
    with contextlib.suppress(SecAgreeError):
        for m in parse_mechanisms(texts):
            assert m.q is None or 0.0 <= m.q <= 1.0


syntax = st.text(
    alphabet=st.sampled_from(list(' \t,;="\\\r\nq01.tlsdige\u00e9\ud800\x00')), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(syntax, syntax)
def test_property_near_miss_text_raises_only_sec_agree_error(a, b):
    try:
        ms = parse_mechanisms([f"tls{a};q=0.1{b}", b])
    except SecAgreeError:
        return
    assert ms[0].name.startswith("tls")
    assert parse_mechanisms([format_mechanisms(ms)]) == ms
