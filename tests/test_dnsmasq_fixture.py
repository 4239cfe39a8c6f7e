"""The dnsmasq fixture is a real name server: dnspython's answers prove it.

Every record type the RFC 3263 resolver asks for is checked field by field against
what was configured, TTL included, so a test built on the fixture can trust that
the records it wrote are the records the resolver gets.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import dnsmasq
import pytest
from dnsmasq import Cname, Dnsmasq, Host, Naptr, Record, Srv, start_dnsmasq

# Not dnsmasq's default (0) nor the fixture's (30): seen only if the option works.
TTL = 47

Factory = Callable[..., Dnsmasq]


@pytest.fixture
def dns_factory(tmp_path: Path) -> Iterator[Factory]:
    """Start dnsmasq servers in the test's tmp_path; all are stopped after the test."""
    dnsmasq.require_dnsmasq()
    started: list[Dnsmasq] = []

    def factory(records: Iterable[Record], *, ttl: int = dnsmasq.DEFAULT_TTL) -> Dnsmasq:
        server = start_dnsmasq(tmp_path / f"dnsmasq-{len(started)}", records, ttl=ttl)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            server.stop()


def naptr_set(answer: dns.resolver.Answer) -> set[tuple[int, int, bytes, bytes, bytes, str]]:
    return {
        (r.order, r.preference, r.flags, r.service, r.regexp, r.replacement.to_text())
        for r in answer
    }


def srv_set(answer: dns.resolver.Answer) -> set[tuple[int, int, int, str]]:
    return {(r.priority, r.weight, r.port, r.target.to_text()) for r in answer}


# ----- answers -----


def test_naptr_records_are_answered_as_configured(dns_factory: Factory) -> None:
    server = dns_factory(
        [
            Naptr("example.test", 10, 50, "s", "SIP+D2U", "", "_sip._udp.example.test"),
            Naptr("example.test", 20, 60, "S", "SIPS+D2T", "", "_sips._tcp.example.test."),
            Naptr("other.test", 5, 5, "s", "SIP+D2T", "", "_sip._tcp.other.test"),
        ],
        ttl=TTL,
    )
    answer = server.resolver().resolve("example.test", "NAPTR")
    assert answer.rrset is not None
    assert answer.rrset.ttl == TTL
    assert naptr_set(answer) == {
        (10, 50, b"s", b"SIP+D2U", b"", "_sip._udp.example.test."),
        (20, 60, b"S", b"SIPS+D2T", b"", "_sips._tcp.example.test."),
    }


def test_naptr_strings_keep_commas_quotes_and_backslashes(dns_factory: Factory) -> None:
    # ENUM-style regexps have backslashes; dnsmasq would turn an unescaped \n or \t
    # into a control character and split an unquoted value at its commas.
    regexp = r'!^\+(.*)\.x,"y"\n$!sip:\1@example.test!i'
    server = dns_factory([Naptr("enum.test", 100, 10, "u", "E2U+sip", regexp, ".")])
    [record] = server.resolver().resolve("enum.test", "NAPTR")
    assert record.regexp == regexp.encode()
    assert (record.flags, record.service, record.replacement.to_text()) == (b"u", b"E2U+sip", ".")


def test_srv_records_keep_priorities_weights_and_ports(dns_factory: Factory) -> None:
    server = dns_factory(
        [
            Srv("_sip._udp.example.test", "sip1.example.test", 5060, priority=10, weight=60),
            Srv("_sip._udp.example.test", "sip2.example.test", 5070, priority=10, weight=40),
            Srv("_sip._udp.example.test", "backup.example.test", 5080, priority=20, weight=0),
            Srv("_sip._tcp.example.test", "sip1.example.test", 5061, priority=1, weight=1),
            Host("sip1.example.test", "127.0.0.1"),
        ],
        ttl=TTL,
    )
    resolver = server.resolver()
    udp = resolver.resolve("_sip._udp.example.test", "SRV")
    assert udp.rrset is not None
    assert udp.rrset.ttl == TTL
    assert srv_set(udp) == {
        (10, 60, 5060, "sip1.example.test."),
        (10, 40, 5070, "sip2.example.test."),
        (20, 0, 5080, "backup.example.test."),
    }
    tcp = resolver.resolve("_sip._tcp.example.test", "SRV")
    assert srv_set(tcp) == {(1, 1, 5061, "sip1.example.test.")}


def test_srv_target_dot_says_no_service(dns_factory: Factory) -> None:
    server = dns_factory([Srv("_sips._tcp.example.test", ".", 0)])
    [record] = server.resolver().resolve("_sips._tcp.example.test", "SRV")
    assert (record.priority, record.weight, record.port, record.target.to_text()) == (0, 0, 0, ".")


def test_a_and_aaaa_records_by_address_family(dns_factory: Factory) -> None:
    server = dns_factory(
        [
            Host("sip.example.test", "127.0.0.1"),
            Host("sip.example.test", "127.0.0.2"),
            Host("sip.example.test", "::1"),
            Host("v6only.example.test", "2001:db8::5"),
            Host("short.example.test", "192.0.2.7", ttl=3),
        ],
        ttl=TTL,
    )
    resolver = server.resolver()
    a = resolver.resolve("sip.example.test", "A")
    assert a.rrset is not None
    assert a.rrset.ttl == TTL
    assert {r.address for r in a} == {"127.0.0.1", "127.0.0.2"}
    aaaa = resolver.resolve("sip.example.test", "AAAA")
    assert aaaa.rrset is not None
    assert aaaa.rrset.ttl == TTL
    assert [r.address for r in aaaa] == ["::1"]
    assert [r.address for r in resolver.resolve("v6only.example.test", "AAAA")] == ["2001:db8::5"]
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("v6only.example.test", "A")
    short = resolver.resolve("short.example.test", "A")
    assert short.rrset is not None
    assert (short.rrset.ttl, [r.address for r in short]) == (3, ["192.0.2.7"])


def test_cname_is_followed_to_the_target(dns_factory: Factory) -> None:
    server = dns_factory(
        [Host("real.example.test", "192.0.2.1"), Cname("alias.example.test", "real.example.test")],
        ttl=TTL,
    )
    answer = server.resolver().resolve("alias.example.test", "A")
    assert answer.canonical_name.to_text() == "real.example.test."
    assert [r.address for r in answer] == ["192.0.2.1"]
    assert answer.rrset is not None
    assert answer.rrset.ttl == TTL


def test_tcp_gets_the_same_answers(dns_factory: Factory) -> None:
    server = dns_factory([Srv("_sip._tcp.example.test", "sip.example.test", 5060, 1, 2)])
    reply = dns.query.tcp(
        dns.message.make_query("_sip._tcp.example.test", "SRV"),
        server.host,
        port=server.port,
        timeout=2,
    )
    assert reply.rcode() == dns.rcode.NOERROR
    [rrset] = reply.answer
    assert [r.to_text() for r in rrset] == ["1 2 5060 sip.example.test."]


async def test_async_resolver_asks_the_server(dns_factory: Factory) -> None:
    server = dns_factory([Host("sip.example.test", "192.0.2.9")])
    answer = await server.async_resolver().resolve("sip.example.test", "A")
    assert [r.address for r in answer] == ["192.0.2.9"]


# ----- names it does not know -----


@pytest.mark.parametrize(
    "name",
    ["nothing.example.test", "other.test", "www.example.com", "localhost", "host.invalid"],
)
def test_unknown_names_are_nxdomain_at_once(dns_factory: Factory, name: str) -> None:
    server = dns_factory([Host("sip.example.test", "127.0.0.1")])
    resolver = server.resolver(lifetime=1.0)
    started = time.monotonic()
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve(name, "A")
    assert time.monotonic() - started < 0.5  # answered, not timed out or forwarded


def test_known_name_other_type_is_no_answer(dns_factory: Factory) -> None:
    server = dns_factory([Srv("_sip._udp.example.test", "sip.example.test", 5060)])
    reply = dns.query.udp(
        dns.message.make_query("_sip._udp.example.test", "A"), server.host, port=server.port
    )
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])
    # A name with records only below it (an "empty non-terminal") is no NXDOMAIN either.
    reply = dns.query.udp(
        dns.message.make_query("example.test", "A"), server.host, port=server.port
    )
    assert (reply.rcode(), reply.answer) == (dns.rcode.NOERROR, [])


# ----- life cycle -----


def _gone(pid: int) -> bool:
    """No process left of the group: the main one and any TCP child it forked."""
    return dnsmasq.live_processes(pid) == []


def _port_free(host: str, port: int) -> bool:
    """Whether dnsmasq could bind ``port`` again (it too sets SO_REUSEADDR)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def test_stop_leaves_no_process_and_frees_the_port(dns_factory: Factory) -> None:
    server = dns_factory([Host("sip.example.test", "127.0.0.1")])
    pid = server.pid
    assert pid is not None
    assert server.is_running()
    assert not _gone(pid)
    assert not _port_free(server.host, server.port)
    # Over TCP, dnsmasq forks a child per connection; one kept open must go too.
    with socket.create_connection((server.host, server.port), timeout=2) as tcp:
        dns.query.send_tcp(tcp, dns.message.make_query("sip.example.test", "A"))
        reply, _ = dns.query.receive_tcp(tcp, expiration=time.time() + 2)
        assert [rrset.to_text() for rrset in reply.answer] == [
            "sip.example.test. 30 IN A 127.0.0.1"
        ]
        assert len(dnsmasq.live_processes(pid)) == 2
        server.stop()
    assert not server.is_running()
    assert _gone(pid)
    assert _port_free(server.host, server.port)
    server.stop()  # twice is harmless


def test_context_manager_stops_the_server(tmp_path: Path) -> None:
    dnsmasq.require_dnsmasq()
    with start_dnsmasq(tmp_path, [Host("sip.example.test", "127.0.0.1")]) as server:
        assert server.is_running()
        assert [r.address for r in server.resolver().resolve("sip.example.test", "A")] == [
            "127.0.0.1"
        ]
        pid = server.pid
    assert pid is not None
    assert _gone(pid)


def test_reload_changes_answers_on_the_same_port(dns_factory: Factory) -> None:
    server = dns_factory(
        [
            Srv("_sip._udp.example.test", "old.example.test", 5060),
            Host("old.example.test", "192.0.2.1"),
        ],
        ttl=TTL,
    )
    port, old_pid = server.port, server.pid
    resolver = server.resolver()
    assert srv_set(resolver.resolve("_sip._udp.example.test", "SRV")) == {
        (0, 0, 5060, "old.example.test.")
    }
    server.reload(
        [
            Srv("_sip._udp.example.test", "new.example.test", 5080, priority=5, weight=7),
            Host("new.example.test", "192.0.2.2"),
        ],
        ttl=12,
    )
    assert server.port == port
    assert server.pid != old_pid
    assert old_pid is not None
    assert _gone(old_pid)
    new = resolver.resolve("_sip._udp.example.test", "SRV")  # same resolver: same port
    assert srv_set(new) == {(5, 7, 5080, "new.example.test.")}
    assert new.rrset is not None
    assert new.rrset.ttl == 12
    assert [r.address for r in resolver.resolve("new.example.test", "A")] == ["192.0.2.2"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("old.example.test", "A")


def test_server_without_records_answers_nxdomain(dns_factory: Factory) -> None:
    server = dns_factory([])
    assert server.is_running()
    with pytest.raises(dns.resolver.NXDOMAIN):
        server.resolver().resolve("sip.example.test", "A")


def test_taken_port_is_reported_with_the_log(tmp_path: Path) -> None:
    dnsmasq.require_dnsmasq()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        server = Dnsmasq("127.0.0.1", port, tmp_path, (Host("a.test", "192.0.2.1"),))
        with pytest.raises(dnsmasq.PortInUseError, match="Address already in use"):
            server.start()
    assert not server.is_running()


def test_start_retries_a_lost_port_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dnsmasq.require_dnsmasq()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        ports = iter([busy])
        real_free_port = dnsmasq.free_port
        chosen: list[int] = []

        def free_port(host: str = "127.0.0.1", **kwargs: object) -> int:
            port = next(ports, None) or real_free_port(host)
            chosen.append(port)
            return port

        monkeypatch.setattr(dnsmasq, "free_port", free_port)
        with start_dnsmasq(tmp_path, [Host("a.test", "192.0.2.1")]) as server:
            assert chosen[0] == busy
            assert server.port == chosen[-1] != busy
            assert [r.address for r in server.resolver().resolve("a.test", "A")] == ["192.0.2.1"]


# ----- records -----


@pytest.mark.parametrize(
    "make",
    [
        lambda: Host("sip.example.test", "not-an-address"),
        lambda: Host("bad,name.test", "127.0.0.1"),
        lambda: Host("sip.example.test", "127.0.0.1", ttl=-1),
        lambda: Srv("_sip._udp.example.test", "sip.example.test", 70000),
        lambda: Srv("_sip._udp.example.test", "sip example.test", 5060),
        lambda: Naptr("example.test", 10, 10, "s", "SIP+D2U", "caf\u00e9", "."),
        lambda: Naptr("example.test", -1, 10, "s", "SIP+D2U", "", "."),
        lambda: Cname("alias.test", "."),
    ],
)
def test_invalid_records_are_refused(make: Callable[[], Record]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages vary by field
        make()


def test_config_has_the_records_and_stays_local() -> None:
    server = Dnsmasq(
        "127.0.0.1",
        5353,
        Path("/nonexistent"),
        (Naptr("example.test", 1, 2, "s", "SIP+D2U", 'a"b', "_sip._udp.example.test"),),
        ttl=9,
    )
    lines = server.config_text().splitlines()
    assert 'naptr-record=example.test,1,2,"s","SIP+D2U","a\\"b",_sip._udp.example.test' in lines
    for option in ("port=5353", "local-ttl=9", "local=/#/", "no-resolv", "bind-interfaces"):
        assert option in lines
    assert server.address == "127.0.0.1:5353"
