"""RFC 3263 choices on plain records: NAPTR filtering and order, RFC 2782 SRV order."""

from __future__ import annotations

import collections
import random

from sipprofile.server.transport.rfc3263 import (
    NaptrChoice,
    SrvChoice,
    default_transport,
    naptr_choices,
    srv_name,
    srv_order,
)


def test_naptr_keeps_sip_services_by_order_then_preference() -> None:
    records = [
        (20, 10, "s", "SIP+D2U", "_sip._udp.example.test"),
        (10, 50, "s", "SIPS+D2T", "_sips._tcp.example.test"),
        (10, 20, "S", "sip+d2t", "_sip._tcp.example.test"),  # case does not matter
        (5, 1, "s", "SIP+D2S", "_sip._sctp.example.test"),  # SCTP: not ours
        (5, 1, "u", "E2U+sip", "!^.*$!sip:x@example.test!"),  # ENUM: not a SIP service
        (5, 1, "", "SIP+D2U", "next.example.test"),  # non-terminal: not followed
        (1, 1, "s", "SIP+D2U", "."),  # points nowhere
    ]
    assert naptr_choices(records, secure=False) == [
        NaptrChoice(10, 20, "tcp", "_sip._tcp.example.test"),
        NaptrChoice(10, 50, "tls", "_sips._tcp.example.test"),
        NaptrChoice(20, 10, "udp", "_sip._udp.example.test"),
    ]


def test_a_sips_uri_follows_only_sips_records() -> None:
    records = [
        (10, 10, "s", "SIP+D2U", "_sip._udp.example.test"),
        (20, 10, "s", "SIPS+D2T", "_sips._tcp.example.test"),
    ]
    assert naptr_choices(records, secure=True) == [
        NaptrChoice(20, 10, "tls", "_sips._tcp.example.test")
    ]
    assert naptr_choices(records[:1], secure=True) == []


def test_srv_names_and_defaults() -> None:
    assert srv_name("udp", "example.test") == "_sip._udp.example.test"
    assert srv_name("tcp", "example.test") == "_sip._tcp.example.test"
    assert srv_name("tls", "example.test") == "_sips._tcp.example.test"
    assert default_transport(False) == "udp"
    assert default_transport(True) == "tls"


def test_srv_lower_priority_always_first() -> None:
    records = [
        SrvChoice(20, 100, 5060, "backup.example.test"),
        SrvChoice(10, 1, 5060, "b.example.test"),
        SrvChoice(10, 1, 5060, "a.example.test"),
    ]
    for seed in range(50):
        rng = random.Random(seed)
        ordered = srv_order(records, rng.random)
        assert {r.target for r in ordered[:2]} == {"a.example.test", "b.example.test"}
        assert ordered[2].target == "backup.example.test"


def test_srv_weights_set_how_often_a_target_comes_first() -> None:
    """RFC 2782: within a priority, first place goes by weight (here 3:1)."""
    records = [SrvChoice(10, 75, 5060, "big.test"), SrvChoice(10, 25, 5060, "small.test")]
    rng = random.Random(1)
    firsts = collections.Counter(srv_order(records, rng.random)[0].target for _ in range(4000))
    share = firsts["big.test"] / 4000
    assert 0.70 < share < 0.80, share


def test_srv_zero_weights_come_after_weighted_ones_and_keep_dns_order_alone() -> None:
    weighted = [SrvChoice(10, 0, 5060, "zero.test"), SrvChoice(10, 5, 5060, "five.test")]
    rng = random.Random(2)
    for _ in range(200):
        assert [r.target for r in srv_order(weighted, rng.random)] == ["five.test", "zero.test"]
    zeros = [SrvChoice(10, 0, 5060, f"z{i}.test") for i in range(4)]
    assert srv_order(zeros, rng.random) == zeros


def test_srv_target_dot_means_no_service() -> None:
    records = [SrvChoice(10, 1, 5060, "."), SrvChoice(20, 1, 5070, "there.test")]
    assert srv_order(records) == [SrvChoice(20, 1, 5070, "there.test")]
    assert srv_order([SrvChoice(10, 1, 5060, ".")]) == []


def test_srv_order_is_a_permutation_for_any_draw() -> None:
    rng = random.Random(9)
    records = [
        SrvChoice(rng.randrange(3), rng.randrange(5), 5060 + i, f"t{i}.test") for i in range(12)
    ]
    for draw in (0.0, 0.5, 0.999999):
        ordered = srv_order(records, lambda d=draw: d)
        assert sorted(ordered, key=lambda r: r.port) == sorted(records, key=lambda r: r.port)
        priorities = [r.priority for r in ordered]
        assert priorities == sorted(priorities)
