"""RFC 3263 resolution against a real DNS server (dnsmasq on loopback)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.asyncresolver
import dns.nameserver
import pytest
from dnsmasq import Dnsmasq, Host, Naptr, Srv, dnsmasq_available, start_dnsmasq

from sipprofile.server.sip.uri import parse_uri
from sipprofile.server.transport.dns_cache import DnsCache, parse_nameservers
from sipprofile.server.transport.flow import Target, TlsSettings
from sipprofile.server.transport.resolve import ResolveError, TlsPolicy, resolve

pytestmark = pytest.mark.skipif(not dnsmasq_available(), reason="dnsmasq is not installed")

D = "example.test"

RECORDS = [
    # NAPTR: TCP preferred (order 10), then UDP (order 20), and TLS for sips:
    Naptr(D, 10, 10, "s", "SIP+D2T", "", f"_sip._tcp.{D}"),
    Naptr(D, 20, 10, "s", "SIP+D2U", "", f"_sip._udp.{D}"),
    Naptr(D, 30, 10, "s", "SIPS+D2T", "", f"_sips._tcp.{D}"),
    Srv(f"_sip._tcp.{D}", f"a.{D}", 5070, priority=10, weight=1),
    Srv(f"_sip._tcp.{D}", f"b.{D}", 5080, priority=20, weight=1),
    Srv(f"_sip._udp.{D}", f"c.{D}", 5090, priority=10, weight=1),
    Srv(f"_sips._tcp.{D}", f"a.{D}", 5071, priority=10, weight=1),
    Host(f"a.{D}", "127.0.0.11"),
    Host(f"b.{D}", "127.0.0.12"),
    Host(f"b.{D}", "::1"),
    Host(f"c.{D}", "127.0.0.13"),
    Host(D, "127.0.0.10"),
    # no NAPTR: SRV per transport
    Srv("_sip._udp.srvonly.test", "c.example.test", 5091, priority=1, weight=1),
    Srv("_sip._tcp.srvonly.test", "a.example.test", 5092, priority=1, weight=1),
    # no NAPTR, no SRV: A/AAAA
    Host("plain.test", "127.0.0.20"),
    # a NAPTR pointing nowhere, then a usable one
    Naptr("nowhere.test", 10, 10, "s", "SIP+D2U", "", "_sip._udp.void.test"),
    Naptr("nowhere.test", 20, 10, "s", "SIP+D2T", "", "_sip._tcp.nowhere.test"),
    Srv("_sip._tcp.nowhere.test", "plain.test", 5093, priority=1, weight=1),
    # an SRV whose target is itself: no address anywhere down that road
    Srv("_sip._udp.loop.test", "_sip._udp.loop.test", 5060, priority=1, weight=1),
    # "." : decidedly no service
    Srv("_sip._udp.noservice.test", ".", 0),
]


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    server = start_dnsmasq(tmp_path_factory.mktemp("dnsmasq"), RECORDS, ttl=60)
    with server:
        yield server


def cache_of(server: Dnsmasq, clock: list[float] | None = None) -> DnsCache:
    if clock is None:
        return DnsCache(server.async_resolver())
    return DnsCache(server.async_resolver(), clock=lambda: clock[0])


async def targets(server: Dnsmasq, uri: str, cache: DnsCache | None = None) -> list[Target]:
    return await resolve(parse_uri(uri), TlsPolicy(), cache or cache_of(server))


async def test_naptr_then_srv_then_addresses_in_order(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, f"sip:{D}") == [
        Target("tcp", "127.0.0.11", 5070),
        Target("tcp", "127.0.0.12", 5080),
        Target("tcp", "::1", 5080),  # AAAA after A
        Target("udp", "127.0.0.13", 5090),
        Target("tls", "127.0.0.11", 5071, TlsSettings(D)),  # checked against the URI's domain
    ]


async def test_sips_follows_only_the_tls_naptr(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, f"sips:{D}") == [
        Target("tls", "127.0.0.11", 5071, TlsSettings(D))
    ]


async def test_a_transport_in_the_uri_asks_only_that_srv(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, f"sip:{D};transport=udp") == [Target("udp", "127.0.0.13", 5090)]
    found = await targets(dnsmasq, f"sip:{D};transport=tcp")
    assert [t.port for t in found] == [5070, 5080, 5080]


async def test_an_explicit_port_skips_naptr_and_srv(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, f"sip:{D}:5999") == [Target("udp", "127.0.0.10", 5999)]
    assert await targets(dnsmasq, f"sip:{D}:5999;transport=tcp") == [
        Target("tcp", "127.0.0.10", 5999)
    ]


async def test_without_naptr_the_srv_of_each_transport_is_asked(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, "sip:srvonly.test") == [
        Target("udp", "127.0.0.13", 5091),
        Target("tcp", "127.0.0.11", 5092),
    ]


async def test_without_naptr_or_srv_the_addresses_at_the_default_port(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, "sip:plain.test") == [Target("udp", "127.0.0.20", 5060)]
    assert await targets(dnsmasq, "sips:plain.test") == [
        Target("tls", "127.0.0.20", 5061, TlsSettings("plain.test"))
    ]


async def test_a_naptr_pointing_nowhere_is_passed_over(dnsmasq: Dnsmasq) -> None:
    assert await targets(dnsmasq, "sip:nowhere.test") == [Target("tcp", "127.0.0.20", 5093)]


async def test_an_srv_loop_or_no_service_is_a_clear_resolve_error(dnsmasq: Dnsmasq) -> None:
    for uri in ("sip:loop.test;transport=udp", "sip:noservice.test;transport=udp"):
        with pytest.raises(ResolveError, match="has no address"):
            await targets(dnsmasq, uri)
    with pytest.raises(ResolveError, match=r"unknown\.test has no address"):
        await targets(dnsmasq, "sip:unknown.test")


async def test_an_ip_address_needs_no_lookup(dnsmasq: Dnsmasq) -> None:
    cache = DnsCache(_dead_resolver(), lifetime=0.5)  # any lookup would fail
    assert await targets(dnsmasq, "sip:192.0.2.7", cache) == [Target("udp", "192.0.2.7", 5060)]
    assert await targets(dnsmasq, "sips:[2001:db8::1]", cache) == [
        Target("tls", "2001:db8::1", 5061, TlsSettings("2001:db8::1"))
    ]


async def test_answers_are_kept_for_their_ttl(tmp_path: Path) -> None:
    clock = [1000.0]
    with start_dnsmasq(tmp_path, [Host("moving.test", "127.0.0.31")], ttl=60) as server:
        cache = cache_of(server, clock)
        assert await targets(server, "sip:moving.test", cache) == [
            Target("udp", "127.0.0.31", 5060)
        ]
        server.reload([Host("moving.test", "127.0.0.32")])
        clock[0] += 59  # within the TTL: the kept answer
        assert [t.address for t in await targets(server, "sip:moving.test", cache)] == [
            "127.0.0.31"
        ]
        clock[0] += 2  # past it: asked again
        assert [t.address for t in await targets(server, "sip:moving.test", cache)] == [
            "127.0.0.32"
        ]


def _dead_resolver() -> dns.asyncresolver.Resolver:
    """A resolver whose server refuses every packet (a closed loopback port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    resolver.lifetime = 1.0
    return resolver


async def test_no_dns_server_is_a_resolve_error_naming_the_lookup() -> None:
    """Given up after two failed questions: not five times the lookup time."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ResolveError, match=r"cannot resolve nodns\.test"):
        await resolve(
            parse_uri("sip:nodns.test"), TlsPolicy(), DnsCache(_dead_resolver(), lifetime=0.5)
        )
    assert loop.time() - started < 2.0


async def test_a_malformed_answer_is_a_resolve_error_and_nothing_else() -> None:
    """A server answering garbage (here: the query's id, then junk) is a failed lookup."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def answer_garbage() -> None:
        while not stop.is_set():
            try:
                query, peer = server.recvfrom(4096)
            except TimeoutError:
                continue
            server.sendto(query[:2] + b"\x81\x80\x00\x01\x00\x05junk", peer)

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", server.getsockname()[1])]
        resolver.lifetime = 1.0
        cache = DnsCache(resolver, lifetime=0.5)
        with pytest.raises(ResolveError, match=r"cannot resolve garbage\.test"):
            await resolve(parse_uri("sip:garbage.test"), TlsPolicy(), cache)
    finally:
        stop.set()
        thread.join()
        server.close()


def test_name_servers_from_the_environment_syntax() -> None:
    assert parse_nameservers("127.0.0.1:5353, [::1], [::1]:54,10.0.0.1") == [
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("::1", 54),
        ("10.0.0.1", 53),
    ]
    for bad in ("", "127.0.0.1:0", "[::1]x", "1.2.3.4:http"):
        with pytest.raises(ValueError):  # noqa: PT011 - each is a plain ValueError
            parse_nameservers(bad)


async def test_concurrent_resolutions_share_one_cache(dnsmasq: Dnsmasq) -> None:
    cache = cache_of(dnsmasq)
    results = await asyncio.gather(*(targets(dnsmasq, f"sip:{D}", cache) for _ in range(20)))
    assert all(r == results[0] for r in results)
