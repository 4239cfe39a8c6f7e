"""Fault cases through the real daemon over real sockets, against a scripted registrar.

Kamailio answers correctly; these are the answers it will not give on demand: 3xx with
q-values, 503 with Retry-After, lost responses, strays, crowded binding lists, 403,
short grants. Each test enables a profile on the bus and watches State, LastError,
Expires and the ProfileEvent / ProfileError signals, while the registrar records what
the daemon sent. Registrar fixtures come first in the arguments so they outlive the
daemon (see ``interop.scripted``).
"""

# The fixtures are imported by name and taken as parameters of the same name; ruff
# reads each parameter as redefining the import.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from busutil import Raw, raw_bus

from interop.scripted import (  # noqa: F401
    Received,
    ScriptedRegistrar,
    bindings_behind_nat,
    challenge,
    contacts_of,
    drop,
    grant,
    ok,
    reply,
    requested_expiry,
    response,
    scripted_registrar,
    scripted_registrar_factory,
)
from sipprofile.proto import names
from sipprofile.server.sip.headers import parse_name_addr

AOR = "sip:alice@example.test"


# ---------------------------------------------------------------------- helpers


async def enable(raw: Raw, registrar: ScriptedRegistrar, **server: Any) -> str:
    path = await raw.create(Aor=AOR, Registrar={"Uri": registrar.uri, **server})
    await raw.profile(path, "Enable")
    return path


async def wait_state(raw: Raw, path: str, *states: str, timeout: float = 5.0) -> dict[str, Any]:
    async def reached() -> dict[str, Any]:
        while True:
            props = await raw.get_all(path)
            if props["State"] in states:
                return props
            await asyncio.sleep(0.02)

    try:
        return await asyncio.wait_for(reached(), timeout)
    except TimeoutError:
        props = await raw.get_all(path)
        raise AssertionError(
            f"State stayed {props['State']!r} ({props['LastError']}), not {states}"
        ) from None


def changed(raw: Raw, prop: str) -> list[Any]:
    """Every value ``prop`` took, from PropertiesChanged, in order."""
    return [
        m.body[1][prop].value
        for m in raw.signals
        if m.member == "PropertiesChanged" and prop in m.body[1]
    ]


def signal_bodies(raw: Raw, member: str) -> list[list[Any]]:
    return [list(m.body) for m in raw.signals if m.member == member]


def contact_uri(arrival: Received) -> str:
    [contact] = arrival.request.headers.get_all("Contact")
    return parse_name_addr(contact).uri


# ---------------------------------------------------------------------- cases


async def test_302_follows_the_highest_q_contact(scripted_registrar_factory, daemon) -> None:
    first = await scripted_registrar_factory()
    low = await scripted_registrar_factory()
    high = await scripted_registrar_factory()
    contacts = f"<{low.uri}>;q=0.3, <{high.uri}>;q=0.9"
    first.answer(lambda r: [response(r, 302, headers=[("Contact", contacts)])])
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, first)
        redirected = (await first.wait_requests(1))[0]
        [moved] = await high.wait_requests(1, timeout=2.0)
        assert moved.request.uri == high.uri
        assert moved.request.call_id == redirected.request.call_id
        assert moved.cseq == redirected.cseq + 1
        props = await wait_state(raw, path, "registered")
        assert props["RegisteredContact"] == contact_uri(moved)
        assert len(first.received) == 1
        assert low.received == []


async def test_503_retry_after_is_honoured(scripted_registrar, daemon) -> None:
    registrar = scripted_registrar
    registrar.answer(reply(503, Retry_After="1"))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "retrying", "failed")
        assert props["State"] == "retrying"
        assert tuple(props["LastError"]) == (names.Error.REJECTED, "503 Service Unavailable")
        assert signal_bodies(raw, "ProfileError") == [
            [1, names.Error.REJECTED, "503 Service Unavailable"]
        ]
        first, second = await registrar.wait_requests(2, timeout=3.0)
        assert 0.9 <= second.at - first.at <= 1.6
        assert second.request.call_id == first.request.call_id
        assert second.cseq == first.cseq + 1
        props = await wait_state(raw, path, "registered")
        assert tuple(props["LastError"]) == ("", "")
        assert props["Expires"] == 3600
        assert changed(raw, "State") == ["registering", "retrying", "registering", "registered"]
        assert [1, "registered"] in signal_bodies(raw, "ProfileEvent")


async def test_lost_responses_are_retransmitted_on_timer_e(scripted_registrar, daemon) -> None:
    registrar = scripted_registrar
    registrar.answer(drop, drop)  # the next one gets the default 200
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        first, second, third = await registrar.wait_requests(3, timeout=3.0)
        assert 0.4 <= second.at - first.at <= 0.8  # T1
        assert 1.3 <= third.at - first.at <= 1.9  # T1 + 2*T1
        assert first.data == second.data == third.data
        assert first.branch == second.branch == third.branch
        assert first.cseq == second.cseq == third.cseq == 1
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] == 3600
        await asyncio.sleep(0.7)  # past the next Timer E: the 200 stopped it
        assert len(registrar.received) == 3


async def test_stray_final_for_an_old_transaction_is_ignored(scripted_registrar, daemon) -> None:
    registrar = scripted_registrar
    challenged: list[Received] = []

    def strays(request):
        # the first (challenged) REGISTER answered again, now that the second is out:
        # its 401 repeated and a 200 granting 7 s, both with CSeq 1 and the old branch
        old = challenged[0].request
        assert request.cseq[0] == old.cseq[0] + 1
        return [challenge(old), ok(old, expires=7)]

    def remember(request):
        challenged.append(registrar.received[-1])
        return [challenge(request)]

    registrar.answer(remember, strays, drop)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar, Username="alice", Password="secret")
        first, second = await registrar.wait_requests(2)
        assert second.request.headers.get("Authorization")
        assert second.branch != first.branch
        await asyncio.sleep(0.2)  # the strays are in; the second's Timer E is at 0.5 s
        props = await raw.get_all(path)
        assert props["State"] == "registering", props["LastError"]
        assert props["Expires"] == 0
        registrar.send(ok(second.request, expires=120), second)
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] == 120
        assert changed(raw, "Expires") == [120]
        assert signal_bodies(raw, "ProfileError") == []
        await asyncio.sleep(0.5)
        assert len(registrar.received) == 2  # no REGISTER answering the stray 401


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_granted_expiry_is_read_from_our_contact(
    scripted_registrar_factory, daemon, transport: str
) -> None:
    registrar = await scripted_registrar_factory(transport)

    def crowded(request):
        ours = parse_name_addr(request.headers.get("Contact", ""))
        host_port = ours.uri.split("@", 1)[1].split(";")[0]
        others = [
            "<sip:bob@192.0.2.7:5060>;expires=900",
            f"<sip:alice-desk@{host_port}>;expires=77, <sip:alice@192.0.2.9>;expires=3000",
            "<sip:carol@192.0.2.8:5070;transport=tcp>;expires=55;q=0.5",
        ]
        return [ok(request, expires=300, others=others)]

    registrar.answer(crowded)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered")
        [arrival] = registrar.registers
        assert props["Expires"] == 300
        assert props["RegisteredContact"] == contact_uri(arrival)
        assert props["RegisteredAors"] == [AOR]
        if transport == "tcp":
            assert arrival.request.via[0].transport == "TCP"
            assert ";transport=tcp" in contact_uri(arrival)
        [sent] = [r for r, _, _ in registrar.sent]
        assert len(sent.headers.get_all("Contact")) == 5


async def test_403_fails_at_once(scripted_registrar, daemon) -> None:
    registrar = scripted_registrar
    registrar.answer(reply(403))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "failed", "retrying", "registered")
        assert props["State"] == "failed"
        error, message = props["LastError"]
        assert error == names.Error.FORBIDDEN
        assert "403" in message
        assert signal_bodies(raw, "ProfileError") == [[1, names.Error.FORBIDDEN, message]]
        await asyncio.sleep(0.7)  # past Timer E and any retry a bug would schedule
        assert len(registrar.received) == 1
        assert changed(raw, "State") == ["registering", "failed"]
        assert [1, "registered"] not in signal_bodies(raw, "ProfileEvent")


async def test_short_grant_is_refreshed_between_75_and_90_percent(
    scripted_registrar, daemon
) -> None:
    registrar = scripted_registrar
    registrar.answer(grant(2))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] == 2
        first, refresh = await registrar.wait_requests(2, timeout=3.0)
        assert 1.45 <= refresh.at - first.at <= 2.0
        assert refresh.request.call_id == first.request.call_id
        assert refresh.cseq == first.cseq + 1
        assert refresh.branch != first.branch
        assert refresh.request.from_.param("tag") == first.request.from_.param("tag")
        assert contact_uri(refresh) == contact_uri(first)
        await asyncio.sleep(0.1)
        props = await raw.get_all(path)
        assert props["State"] == "registered"
        assert props["Expires"] == 3600  # the refresh got the default grant
        assert changed(raw, "State") == ["registering", "registered"]  # never left it
        assert signal_bodies(raw, "ProfileEvent").count([1, "registered"]) == 1


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_disable_removes_only_our_contact(
    scripted_registrar_factory, daemon, transport: str
) -> None:
    registrar = await scripted_registrar_factory(transport)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered")
        await raw.profile(path, "Disable")
        register, unregister = await registrar.wait_requests(2)
        request = unregister.request
        assert request.method == "REGISTER"
        assert request.headers.get("Expires") == "0"
        [contact] = [parse_name_addr(v) for v in request.headers.get_all("Contact")]
        assert not contact.is_wildcard
        assert contact.uri == props["RegisteredContact"] == contact_uri(register)
        assert contact.param("expires") == "0"
        assert request.call_id == register.request.call_id
        assert unregister.cseq == register.cseq + 1
        props = await wait_state(raw, path, "unregistered")
        assert props["Expires"] == 0
        assert props["RegisteredContact"] == ""
        assert [1, "deregistered"] in signal_bodies(raw, "ProfileEvent")
        await asyncio.sleep(0.2)
        assert len(registrar.received) == 2


async def test_closed_tcp_connection_registers_again(scripted_registrar_factory, daemon) -> None:
    registrar = await scripted_registrar_factory("tcp")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered")
        try:
            registrar.disconnect()
            first, again = await registrar.wait_requests(2, timeout=2.0)
            assert again.source != first.source  # a new connection
            assert again.request.call_id == first.request.call_id
            assert again.cseq == first.cseq + 1
            props = await wait_state(raw, path, "registered")
            assert props["RegisteredContact"] == contact_uri(again)
        finally:
            # the un-REGISTER of a dead flow would hold the daemon's shutdown for its
            # whole grace time; Disable hands it to a task that shutdown cancels
            await raw.profile(path, "Disable")


async def test_behind_a_nat_the_contact_moves_to_the_public_address(
    scripted_registrar, daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Via received/rport (RFC 3581) shows a NAT: register the public address instead,
    then remove the binding at the private one: one binding in the end, no duplicate."""
    registrar = scripted_registrar
    bindings, handler = bindings_behind_nat(("203.0.113.5", 6000))
    registrar.default = handler
    caplog.set_level("INFO", logger="sipprofile.server.engine.session")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await registrar.wait_requests(3)
        first, moved, cleanup = registrar.registers[:3]
        assert first.request.via[0].rport_requested  # we asked for rport
        private = contact_uri(first)
        public = private.split("@", 1)[0] + "@203.0.113.5:6000"
        assert contact_uri(moved) == public
        listed = [parse_name_addr(v) for v in cleanup.request.headers.get_all("Contact")]
        assert [c.uri for c in listed] == [public, private]
        assert [c.param("expires") for c in listed] == [None, "0"]
        assert moved.request.call_id == first.request.call_id == cleanup.request.call_id
        assert [moved.cseq, cleanup.cseq] == [first.cseq + 1, first.cseq + 2]
        props = await wait_state(raw, path, "registered")
        assert props["RegisteredContact"] == public
        assert list(bindings) == [public]
        await asyncio.sleep(0.2)
        assert len(registrar.registers) == 3  # and then quiet: no loop
        resting = daemon.daemon.engine.resting_record(1)  # registered, so at rest: it keeps it
        assert resting.public_address == "203.0.113.5:6000"
        assert resting.contact_address == "203.0.113.5:6000"
        local = private.split("@", 1)[1]
        assert f"the registrar sees us at 203.0.113.5:6000, our Contact says {local}" in (
            caplog.text
        )


async def test_no_nat_no_warning(
    scripted_registrar, daemon, caplog: pytest.LogCaptureFixture
) -> None:
    registrar = scripted_registrar

    def honest(request):
        answer = ok(request)
        sent_by = contact_uri(registrar.registers[-1]).split("@", 1)[1]
        host, port = sent_by.rsplit(":", 1)
        top = request.via[0].with_param("received", host).with_param("rport", port)
        answer.headers.set("Via", str(top))
        return [answer]

    registrar.answer(honest)
    caplog.set_level("INFO", logger="sipprofile.server.engine.session")
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered")
        resting = daemon.daemon.engine.resting_record(1)
        assert resting.public_address == contact_uri(registrar.registers[-1]).split("@", 1)[1]
        assert "sees us at" not in caplog.text


async def test_disable_then_enable_at_once_deregisters_first(scripted_registrar, daemon) -> None:
    """The old un-REGISTER (same Contact) must not reach the registrar after the new
    REGISTER, which it would remove; nor may the old "unregistered" follow the new state."""
    registrar = scripted_registrar
    bindings, registrar.default = bindings_behind_nat(None)
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered")
        registrar.answer(drop)  # the un-REGISTER is answered only when retransmitted
        await raw.profile(path, "Disable")
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered", timeout=10)
        await asyncio.sleep(1.0)  # a late un-REGISTER or state would have come by now
        assert (await raw.get_all(path))["State"] == "registered"
        expiries = [requested_expiry(r.request) for r in registrar.registers]
        assert expiries == [3600, 0, 0, 3600]  # register, deregister (twice), register
        assert len(bindings) == 1


async def test_refreshes_leave_no_transaction_behind(scripted_registrar, daemon) -> None:
    """Responses are expected for the request in flight only: a registration that
    refreshes every few minutes for months must not pile up one entry per refresh."""
    registrar = scripted_registrar
    for _ in range(4):
        registrar.answer(grant(1))
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        await wait_state(raw, path, "registered")
        await registrar.wait_requests(4, timeout=5.0)  # the first REGISTER, 3 refreshes
        await asyncio.sleep(0.1)
        # registered between refreshes: at rest, expecting no response at all
        assert daemon.daemon.engine.flows.dispatcher._by_branch == {}
        assert daemon.daemon.engine.resting == 1
        # and each refresh, made from rest, went on in the same dialog
        sent = registrar.registers[:4]
        assert {r.request.call_id for r in sent} == {sent[0].request.call_id}
        assert [r.cseq for r in sent] == [sent[0].cseq + n for n in range(4)]
