"""RFC 3263 through the real daemon: a registrar named in DNS, failover and affinity.

dnsmasq on loopback serves the NAPTR, SRV and A records; the daemon finds it through
``SIPPROFILED_NAMESERVERS``, as a device with its own resolver would. Two servers
stand behind one name: scripted registrars for the answers Kamailio will not give on
demand (503), two Kamailio instances for a server that goes away mid-test.
"""

# The fixtures are imported by name and taken as parameters of the same name; ruff
# reads each parameter as redefining the import.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from busutil import Raw, raw_bus
from dnsmasq import Dnsmasq, Host, Naptr, Srv, dnsmasq_available, start_dnsmasq

from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    reply,
    scripted_registrar_factory,
)
from interop.waiting import wait_state
from sipprofile.server.transport import resolve as resolve_module
from sipprofile.server.transport.dns_cache import NAMESERVERS_ENV

pytestmark = pytest.mark.skipif(not dnsmasq_available(), reason="dnsmasq is not installed")

DOMAIN = "pool.test"


def pool_records(transport: str, first: int, second: int) -> list[Any]:
    """``pool.test``: NAPTR to the SRV of ``transport``; a.pool.test first, then b."""
    service = {"udp": "SIP+D2U", "tcp": "SIP+D2T"}[transport]
    srv = f"_sip._{transport}.{DOMAIN}"
    return [
        Naptr(DOMAIN, 10, 10, "s", service, "", srv),
        Srv(srv, f"a.{DOMAIN}", first, priority=10, weight=1),
        Srv(srv, f"b.{DOMAIN}", second, priority=20, weight=1),
        Host(f"a.{DOMAIN}", "127.0.0.1"),
        Host(f"b.{DOMAIN}", "127.0.0.1"),
    ]


@pytest.fixture
def use_dns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[list[Any]], Dnsmasq]:
    """Serve records from a dnsmasq the daemon (in this process) asks, fresh cache."""
    servers: list[Dnsmasq] = []

    def serve(records: list[Any]) -> Dnsmasq:
        server = start_dnsmasq(tmp_path / f"dns-{len(servers)}", records, ttl=60)
        servers.append(server)
        monkeypatch.setenv(NAMESERVERS_ENV, f"{server.host}:{server.port}")
        monkeypatch.setattr(resolve_module, "_cache", None)
        return server

    yield serve  # type: ignore[misc]
    for server in servers:
        server.stop()


def errors(raw: Raw) -> list[Any]:
    return [m.body for m in raw.signals if m.member == "ProfileError"]


async def test_a_503_moves_to_the_next_server_at_once_and_stays_there(
    scripted_registrar_factory, use_dns, daemon
) -> None:
    first: ScriptedRegistrar = await scripted_registrar_factory()
    second: ScriptedRegistrar = await scripted_registrar_factory()
    use_dns(pool_records("udp", first.port, second.port))
    first.answer(reply(503))  # then 200 OK like the other, should anyone ask again
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor=f"sip:alice@{DOMAIN}", Registrar={"Uri": f"sip:{DOMAIN}"})
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        assert [len(first.registers), len(second.registers)] == [1, 1]
        # the same registration moved: one Call-ID, the next CSeq
        assert second.registers[0].request.call_id == first.registers[0].request.call_id
        assert second.registers[0].cseq == first.registers[0].cseq + 1
        assert tuple(props["LastError"]) == ("", "")
        assert errors(raw) == []  # another server was there: nothing failed for the user
        # affinity: the refresh goes where the binding is, though a.pool.test is fine now
        await raw.profile(path, "Refresh")
        await second.wait_requests(2)
        await wait_state(raw, path, "registered")
        assert [len(first.registers), len(second.registers)] == [1, 2]


async def test_when_every_server_fails_the_backoff_applies(
    scripted_registrar_factory, use_dns, daemon
) -> None:
    first: ScriptedRegistrar = await scripted_registrar_factory()
    second: ScriptedRegistrar = await scripted_registrar_factory()
    use_dns(pool_records("udp", first.port, second.port))
    first.answer(reply(503))
    second.answer(reply(503, Retry_After="1"))
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor=f"sip:alice@{DOMAIN}", Registrar={"Uri": f"sip:{DOMAIN}"})
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "retrying")
        await asyncio.sleep(0.2)
        assert [len(first.registers), len(second.registers)] == [1, 1]
        assert props["LastError"][1] == "503 Service Unavailable"
        assert len(errors(raw)) == 1  # reported once, when no server was left
        # after Retry-After, a fresh round from the first server, which now answers
        props = await wait_state(raw, path, "registered", timeout=5.0)
        assert [len(first.registers), len(second.registers)] == [2, 1]


async def test_a_stopped_kamailio_hands_over_to_the_other(
    kamailio_factory, use_dns, daemon
) -> None:
    first = kamailio_factory()
    second = kamailio_factory()
    use_dns(pool_records("tcp", first.port, second.port))
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(
            Aor=f"sip:alice@{DOMAIN}",
            Registrar={"Uri": f"sip:{DOMAIN}", "Username": "alice", "Password": "alice-secret"},
        )
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        assert len(first.contacts_of("alice")) == 1
        assert second.contacts_of("alice") == []
        first.stop()  # its TCP connection closes; the profile registers again elsewhere
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 8.0
        while not second.contacts_of("alice"):
            assert loop.time() < deadline, "the binding did not move to the second server"
            await asyncio.sleep(0.05)
        props = await wait_state(raw, path, "registered")
        [binding] = second.contacts_of("alice")
        assert props["RegisteredContact"] in binding.contact
