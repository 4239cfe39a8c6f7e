"""Real registrations: sipprofiled (bus, engine, SIP stack) against Kamailio."""

from __future__ import annotations

import asyncio
import re

import pytest
from busutil import raw_bus
from dbus_fast import Variant

from interop.waiting import wait_for, wait_state
from sipprofile.proto import names


def settings(registrar, transport: str = "udp", user: str = "alice", password: str | None = None):
    uri = f"sip:{registrar.host}:{registrar.port}"
    if transport != "udp":
        uri += f";transport={transport}"
    return {
        "Aor": f"sip:{user}@{registrar.domain}",
        "Registrar": {"Uri": uri, "Username": user, "Password": password or f"{user}-secret"},
    }


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_enable_registers_once_and_disable_removes_the_binding(
    kamailio, daemon, transport: str
) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, transport))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] == 3600
        assert props["RegisteredAors"] == [f"sip:alice@{kamailio.domain}"]
        [binding] = kamailio.contacts_of("alice")
        stored = await daemon.daemon.registry.get(1)
        assert stored.contact_user in binding.contact
        assert props["RegisteredContact"] in binding.contact
        events = [m.body for m in raw.signals if m.member == "ProfileEvent"]
        assert [1, "registered"] in events
        await raw.profile(path, "Disable")
        await wait_state(raw, path, "unregistered")
        await wait_for(lambda: kamailio.contacts_of("alice") == [])
        events = [m.body for m in raw.signals if m.member == "ProfileEvent"]
        assert [1, "deregistered"] in events


async def test_two_clients_share_one_binding(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as first, raw_bus(daemon.address) as second:
        path = await first.create(**settings(kamailio))
        await first.profile(path, "Enable")
        await wait_state(first, path, "registered")
        await second.profile(path, "Enable")
        await asyncio.sleep(0.3)
        bindings = kamailio.contacts_of("alice")
        assert len(bindings) == 1  # shared: one Call-ID, one binding
        await first.profile(path, "Disable")
        await asyncio.sleep(0.3)
        assert len(kamailio.contacts_of("alice")) == 1  # still held by the second
        assert (await first.get_all(path))["State"] == "registered"
    # the second client left the bus: its hold goes, and so does the binding
    async with raw_bus(daemon.address) as watcher:
        await wait_state(watcher, path, "unregistered", timeout=2.0)
    await wait_for(lambda: kamailio.contacts_of("alice") == [], timeout=2.0)


async def test_wrong_password_fails_without_hammering(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, password="wrong"))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "failed")
        assert tuple(props["LastError"])[:1] == (names.Error.AUTHENTICATION_FAILED,)
        errors = [m.body for m in raw.signals if m.member == "ProfileError"]
        assert errors and errors[0][1] == names.Error.AUTHENTICATION_FAILED
        states = [
            m.body[1]["State"].value for m in raw.signals
            if m.member == "PropertiesChanged" and "State" in m.body[1]
        ]  # fmt: skip
        assert states[0] == "registering"  # no failure without "registering" first
        await asyncio.sleep(0.5)
        assert kamailio.contacts_of("alice") == []
        # Kamailio logs each request with its CSeq ("{1 <cseq> REGISTER <call-id>}")
        cseqs = set(re.findall(r"\{\d+ (\d+) REGISTER ", kamailio.log_tail(400)))
        assert 1 <= len(cseqs) <= 2, cseqs


async def test_423_is_answered_with_min_expires(kamailio_factory, daemon) -> None:
    registrar = kamailio_factory(min_expires=7200, extra_defines={"MAX_EXPIRES": "86400"})
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(registrar))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] >= 7200
        [binding] = registrar.contacts_of("alice")
        assert binding.expires is None or binding.expires > 3600


async def test_always_on_registers_without_holders_and_after_restart(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio), AutoRegistration=True)
        await wait_state(raw, path, "registered")
        user = (await daemon.daemon.registry.get(1)).contact_user
        assert user in kamailio.contacts_of("alice")[0].contact
        # switching always-on off with nobody holding it deregisters
        await raw.profile(path, "Update", "a{sv}", {"AutoRegistration": Variant("b", False)})
        await wait_state(raw, path, "unregistered")
        await wait_for(lambda: kamailio.contacts_of("alice") == [])
        await raw.profile(path, "Update", "a{sv}", {"AutoRegistration": Variant("b", True)})
        await wait_state(raw, path, "registered")
    # restart the daemon on the same database: registered again, same Contact user
    await daemon.daemon.close()
    await wait_for(lambda: kamailio.contacts_of("alice") == [])
    from sipprofile.server.daemon import Daemon

    again = Daemon(daemon.daemon.options)
    await again.start()
    try:
        async with raw_bus(daemon.address) as raw:
            await wait_state(raw, path, "registered")
        [binding] = kamailio.contacts_of("alice")
        assert user in binding.contact
    finally:
        await again.close()


def tls_settings(registrar, **extensions):
    return {
        "Aor": f"sip:alice@{registrar.domain}",
        "Registrar": {
            "Uri": f"sips:{registrar.host}:{registrar.tls_port}",
            "Username": "alice",
            "Password": "alice-secret",
        },
        "Extensions": extensions,
    }


async def test_tls_with_the_profiles_ca_file(kamailio_tls, daemon) -> None:
    ca = str(kamailio_tls.cert_path)
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**tls_settings(kamailio_tls, TlsCaFile=ca))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        assert "transport=tls" in props["RegisteredContact"]
        [binding] = kamailio_tls.contacts_of("alice")
        assert "tls" in (binding.socket or binding.raw.get("Socket", "")).lower()


async def test_tls_verifies_the_server_by_default(kamailio_tls, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**tls_settings(kamailio_tls))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "retrying", "failed")
        error, message = props["LastError"]
        assert error == names.Error.TRANSPORT_FAILED
        assert "certificate" in message.lower()
        assert kamailio_tls.contacts_of("alice") == []


async def test_tls_verification_can_be_switched_off_for_labs(kamailio_tls, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**tls_settings(kamailio_tls, TlsVerify=False))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")


async def test_registrar_down_is_retrying_then_registered_when_back(kamailio, daemon) -> None:
    kamailio.stop()
    async with raw_bus(daemon.address) as raw:
        tcp = settings(kamailio, "tcp")
        path = await raw.create(**tcp, Extensions={"RetryBaseSeconds": Variant("u", 1)})
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "retrying")
        assert tuple(props["LastError"])[:1] == (names.Error.TRANSPORT_FAILED,)
        errors = [m.body[1] for m in raw.signals if m.member == "ProfileError"]
        assert names.Error.TRANSPORT_FAILED in errors
        kamailio.start()
        await wait_state(raw, path, "registered", timeout=15.0)
        assert len(kamailio.contacts_of("alice")) == 1


async def test_shutdown_deregisters_within_four_seconds(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        for user in ("alice", "bob", "carol"):
            await raw.create(**settings(kamailio, user=user), AutoRegistration=True)
        for n in (1, 2, 3):
            await wait_state(raw, names.profile_path(n), "registered")
    assert len(kamailio.ul_dump()) == 3
    loop = asyncio.get_running_loop()
    started = loop.time()
    await daemon.daemon.close()
    assert loop.time() - started < 4.5
    assert kamailio.ul_dump() == []


async def test_a_failed_registration_is_tried_again_with_a_new_password(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, password="wrong"))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "failed")
        await raw.profile(
            path,
            "Update",
            "a{sv}",
            {"Registrar": Variant("a{sv}", {"Password": Variant("s", "alice-secret")})},
        )
        await wait_state(raw, path, "registered")
        assert len(kamailio.contacts_of("alice")) == 1


async def test_refresh_brings_back_a_force_disabled_always_on_profile(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio), AutoRegistration=True)
        await wait_state(raw, path, "registered")
        await raw.profile(path, "ForceDisable")
        await wait_state(raw, path, "unregistered")
        await wait_for(lambda: kamailio.contacts_of("alice") == [])
        await raw.profile(path, "Refresh")
        await wait_state(raw, path, "registered")


async def test_updates_keep_update_or_renew_the_registration(kamailio, daemon) -> None:
    """Symbian's rules: name and credentials keep the binding, Contact parameters
    update it in place (same Call-ID, next CSeq), anything else registers anew."""
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [first] = kamailio.contacts_of("alice")

        async def update(**changes) -> None:
            await raw.profile(path, "Update", "a{sv}", changes)
            await asyncio.sleep(0.4)

        await update(ProviderName=Variant("s", "Renamed"))
        await update(Registrar=Variant("a{sv}", {"Realm": Variant("s", kamailio.domain)}))
        [same] = kamailio.contacts_of("alice")
        assert (same.call_id, same.cseq) == (first.call_id, first.cseq)

        await update(ContactParams=Variant("a{ss}", {"+sip.app": '"demo"'}))
        await wait_state(raw, path, "registered")
        [in_place] = kamailio.contacts_of("alice")
        assert in_place.call_id == first.call_id
        # one REGISTER, or two when the registrar challenges it again
        assert first.cseq < in_place.cseq <= first.cseq + 2

        await update(Headers=Variant("as", ["X-Device: kitchen"]))
        await wait_state(raw, path, "registered")
        await wait_for(
            lambda: [b.call_id for b in kamailio.contacts_of("alice")] not in ([], [first.call_id])
        )
        [renewed] = kamailio.contacts_of("alice")
        assert renewed.call_id != first.call_id


@pytest.mark.parametrize("port_taken", [False, True], ids=["same-port", "port-taken"])
async def test_a_crashed_runs_binding_is_replaced_not_doubled(
    daemon_process, kamailio, port_taken: bool
) -> None:
    """Killed without deregistering, restarted: one binding at the registrar.

    The daemon asks for the same UDP port at every start, so the new run registers
    the very Contact the dead one left and the registrar updates it in place. When
    that port is taken, it registers from another; the Contact's user part is the
    profile's own and kept in the database, so the dead run's binding is recognised
    in the 200 OK and removed.
    """
    import os
    import signal
    import socket

    from conftest import wait_for_name
    from privatebus import daemon_command

    async with raw_bus(daemon_process.address) as raw:
        await raw.create(**settings(kamailio), AutoRegistration=True)
        await wait_state(raw, "/org/sipprofile/SipProfile1/Profile/1", "registered")
    [old] = kamailio.contacts_of("alice")
    daemon_process.process.send_signal(signal.SIGKILL)
    await daemon_process.process.wait()
    assert [b.contact for b in kamailio.contacts_of("alice")] == [old.contact]  # left behind
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if port_taken:
        squatter.bind(("0.0.0.0", int(old.contact.rsplit(":", 1)[1])))
    again = await asyncio.create_subprocess_exec(
        *daemon_command(daemon_process.address, daemon_process.db_path),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await wait_for_name(daemon_process.address)
        async with raw_bus(daemon_process.address) as raw:
            props = await wait_state(raw, "/org/sipprofile/SipProfile1/Profile/1", "registered")
        await wait_for(
            lambda: (
                [b.call_id for b in kamailio.contacts_of("alice")] != [old.call_id]
                and len(kamailio.contacts_of("alice")) == 1
            )
        )
        [new] = kamailio.contacts_of("alice")
        assert new.call_id != old.call_id  # the new run's registration
        assert props["RegisteredContact"] in new.contact
        if port_taken:
            assert new.contact != old.contact  # another port
            user = old.contact.split("@", 1)[0]
            assert new.contact.startswith(user)  # the same Contact user: the same profile
        else:
            assert new.contact == old.contact
    finally:
        squatter.close()
        again.send_signal(signal.SIGTERM)
        await asyncio.wait_for(again.wait(), 10)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_rfc5626_outbound_instance_and_reg_id_reach_the_registrar(
    kamailio, daemon, transport: str
) -> None:
    """Kamailio (outbound_mode=1) stores our +sip.instance and reg-id with the binding."""
    from sipprofile.server.engine.profile_config import instance_id

    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, transport))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [binding] = kamailio.contacts_of("alice")
        stored = await daemon.daemon.registry.get(1)
        assert binding.instance is not None
        assert instance_id(stored) in binding.instance
        assert binding.reg_id == 1


async def test_outbound_can_be_switched_off_per_profile(kamailio, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio), Extensions={"Outbound": Variant("b", False)})
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [binding] = kamailio.contacts_of("alice")
        assert binding.reg_id == 0
        assert binding.instance is not None  # the instance id alone stays (RFC 5626 §4.1)


async def test_keepalives_at_the_registrars_flow_timer_are_answered(
    kamailio_factory, daemon
) -> None:
    """Outbound over TCP with Flow-Timer 1: CRLF pings about every second, Kamailio
    answers each, and the binding stays as it was (no re-registration)."""
    kamailio = kamailio_factory(flow_timer=1)
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, "tcp"))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [before] = kamailio.contacts_of("alice")
        flow = daemon.daemon.engine._sessions[1]._flow
        await asyncio.sleep(2.6)
        assert flow.pings >= 2 and flow.pongs >= 2
        assert not flow.closed
        [after] = kamailio.contacts_of("alice")
        assert (after.contact, after.cseq) == (before.contact, before.cseq)


async def test_stun_keepalives_over_udp_are_answered_by_kamailio(kamailio_factory, daemon) -> None:
    """Outbound over UDP with Flow-Timer 1: Kamailio's STUN answers every keep-alive
    (RFC 5626 §4.4.2) with the address it sees us at, and nothing re-registers."""
    kamailio = kamailio_factory(flow_timer=1)
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio))
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [before] = kamailio.contacts_of("alice")
        # registered over UDP: at rest, while the flow's keep-alive goes on for it
        flow = daemon.daemon.engine.resting_record(1).flow
        keeper = flow._endpoint.keeper(flow.remote)
        await asyncio.sleep(2.6)
        assert keeper.answered >= 2
        host, port = flow.local
        assert keeper.mapped == f"{host}:{port}"  # loopback: no NAT in between
        [after] = kamailio.contacts_of("alice")
        assert (after.contact, after.cseq) == (before.contact, before.cseq)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_flow_in_use_is_a_status_property(kamailio, daemon, transport: str) -> None:
    """Flow: (transport, local host:port, remote host:port); empty again once stopped."""
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(**settings(kamailio, transport))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        kind, local, remote = props["Flow"]
        assert (kind, remote) == (transport, f"127.0.0.1:{kamailio.port}")
        [binding] = kamailio.contacts_of("alice")
        assert local.startswith("127.0.0.1:") and local in binding.contact
        flows = [m.body[1]["Flow"].value for m in raw.signals if "Flow" in m.body[1:2][0]]
        assert flows and list(flows[0]) == [kind, local, remote]  # announced with registering
        await raw.profile(path, "Disable")
        props = await wait_state(raw, path, "unregistered")
        assert list(props["Flow"]) == ["", "", ""]


async def test_an_ims_profile_in_digest_mode_registers_at_a_plain_registrar(
    kamailio, daemon
) -> None:
    """TS 24.229's initial REGISTER (an Authorization with an empty response, Supported:
    path) is challenged by a registrar that knows nothing of IMS, and digest does the rest."""
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Type="ims", **settings(kamailio))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered")
        assert props["Expires"] > 0  # Kamailio caps the 600000 s asked for
        assert props["NegotiatedSecurity"] == ""  # no Security-Server: nothing agreed
        assert props["RegisteredAors"] == [f"sip:alice@{kamailio.domain}"]
        [binding] = kamailio.contacts_of("alice")
        assert props["RegisteredContact"] in binding.contact
