"""Live status on a real bus: merged per loop turn, never overtaken, never lost.

The daemon runs in this test's event loop, so registry calls made here without an
``await`` between them happen in one loop turn, as the engine's do when a response
arrives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from busutil import Raw, plain, raw_bus
from dbus_fast import Message, MessageType

from sipprofile.proto import names
from sipprofile.server.daemon import Daemon, Options
from sipprofile.server.registry.events import ProfileChanged
from sipprofile.server.registry.service import ProfileRegistry

MARKER = "test-marker"
FAILED = names.Error.REJECTED


@pytest.fixture
async def raw(daemon):
    async with raw_bus(daemon.address) as connection:
        yield connection


async def settle(raw: Raw, registry: ProfileRegistry) -> list[Message]:
    """Every signal up to a marker event raised in a later loop turn, then forgotten."""
    await asyncio.sleep(0)
    registry.raise_event(0, MARKER)

    def seen() -> int | None:
        for n, m in enumerate(raw.signals):
            if m.member == "ProfileEvent" and m.body == [0, MARKER]:
                return n
        return None

    async def wait() -> int:
        while (at := seen()) is None:
            await asyncio.sleep(0.005)
        return at

    at = await asyncio.wait_for(wait(), 5)
    signals = raw.take_signals()
    return signals[:at]


def summary(signals: list[Message]) -> list[tuple[str, object]]:
    """(member, body) with variants unwrapped; PropertiesChanged as its changed dict."""
    out: list[tuple[str, object]] = []
    for m in signals:
        if m.member == "PropertiesChanged":
            interface, changed, invalidated = m.body
            assert interface == names.PROFILE_INTERFACE
            assert invalidated == []
            out.append((m.member, plain(changed)))
        else:
            out.append((m.member or "", m.body))
    return out


async def new_profile(raw: Raw, registry: ProfileRegistry) -> str:
    path = await raw.create(Aor="sip:alice@example.com")
    await settle(raw, registry)
    return path


async def test_changes_in_one_turn_arrive_as_one_signal_with_the_latest_values(
    daemon, raw: Raw
) -> None:
    registry = daemon.daemon.registry
    path = await new_profile(raw, registry)
    registry.set_status(1, state="registering")
    registry.set_status(1, state="registered")
    registry.set_status(
        1,
        registered_aors=("sip:alice@example.com",),
        registered_contact="<sip:c0ffee@192.0.2.1:5060>;expires=3600",
        service_route=(),
        expires=3600,
        last_error=("", ""),
    )
    signals = await settle(raw, registry)
    assert [m.path for m in signals] == [path]
    assert summary(signals) == [
        (
            "PropertiesChanged",
            {
                "State": "registered",
                "RegisteredAors": ["sip:alice@example.com"],
                "RegisteredContact": "<sip:c0ffee@192.0.2.1:5060>;expires=3600",
                "Expires": 3600,
            },
        )
    ]
    props = await raw.get_all(path)
    assert props["State"] == "registered"
    assert props["Expires"] == 3600


async def test_every_status_type_survives_the_hand_marshaller(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    registry.set_status(
        1,
        state="registered",
        holders=3,
        registered_aors=("sip:a@example.com", "sip:ä@example.com"),
        registered_contact="<sip:x@[2001:db8::1]:5060>",
        service_route=("<sip:orig@scscf.example.com;lr>",),
        negotiated_security="ipsec-3gpp",
        expires=4294967295,
        last_error=(FAILED, "503 Service Unavailable ☎"),
    )
    [(member, changed)] = summary(await settle(raw, registry))
    assert member == "PropertiesChanged"
    assert changed == {
        "State": "registered",
        "Holders": 3,
        "RegisteredAors": ["sip:a@example.com", "sip:ä@example.com"],
        "RegisteredContact": "<sip:x@[2001:db8::1]:5060>",
        "ServiceRoute": ["<sip:orig@scscf.example.com;lr>"],
        "NegotiatedSecurity": "ipsec-3gpp",
        "Expires": 4294967295,
        "LastError": (FAILED, "503 Service Unavailable ☎"),
    }


async def test_a_value_that_changed_back_within_the_turn_is_not_announced(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    registry.set_status(1, state="registering", holders=2)
    registry.set_status(1, state="unregistered")
    assert summary(await settle(raw, registry)) == [("PropertiesChanged", {"Holders": 2})]
    registry.set_status(1, state="registering")
    registry.set_status(1, state="unregistered")
    assert await settle(raw, registry) == []


async def test_an_unsendable_value_is_logged_and_the_rest_still_goes_out(
    daemon, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    registry = daemon.daemon.registry
    path = await raw.create(Aor="sip:a@example.com")
    other = await raw.create(Aor="sip:b@example.com")
    await settle(raw, registry)
    registry.set_status(1, registered_contact="<sip:a\0@example.com>")
    registry.set_status(2, state="registering")
    registry.raise_event(2, names.Event.REGISTERED)
    signals = await settle(raw, registry)
    assert [(m.member, m.path) for m in signals] == [
        ("PropertiesChanged", other),
        ("ProfileEvent", names.REGISTRY_PATH),
    ]
    assert "profile 1: status not announced" in caplog.text
    assert daemon.daemon.bus.connected
    registry.set_status(1, registered_contact="")
    assert (await raw.get_all(path))["State"] == "unregistered"


async def test_changes_in_two_turns_arrive_as_two_signals(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    registry.set_status(1, state="registering")
    await asyncio.sleep(0)
    registry.set_status(1, state="registered")
    assert summary(await settle(raw, registry)) == [
        ("PropertiesChanged", {"State": "registering"}),
        ("PropertiesChanged", {"State": "registered"}),
    ]


async def test_events_and_errors_never_overtake_a_status_change(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    registry.set_status(1, state="registered")
    registry.raise_event(1, names.Event.REGISTERED)
    registry.set_status(1, expires=60)
    registry.set_status(1, state="failed", last_error=(FAILED, "403 Forbidden"))
    registry.raise_error(1, FAILED, "403 Forbidden")
    registry.raise_event(1, names.Event.DEREGISTERED)
    assert summary(await settle(raw, registry)) == [
        ("PropertiesChanged", {"State": "registered"}),
        ("ProfileEvent", [1, "registered"]),
        (
            "PropertiesChanged",
            {"State": "failed", "Expires": 60, "LastError": (FAILED, "403 Forbidden")},
        ),
        ("ProfileError", [1, FAILED, "403 Forbidden"]),
        ("ProfileEvent", [1, "deregistered"]),
    ]


async def test_settings_changes_never_overtake_a_status_change(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    profile = await registry.get(1)
    registry.set_status(1, state="registering")
    registry._emit(ProfileChanged(profile, ("ProviderName",)))
    signals = summary(await settle(raw, registry))
    assert signals == [
        ("PropertiesChanged", {"State": "registering"}),
        ("PropertiesChanged", {"ProviderName": ""}),
        ("ProfileEvent", [1, "updated"]),
    ]


async def test_nothing_sent_on_the_connection_overtakes_a_status_change(daemon, raw: Raw) -> None:
    """Not even a message the announcer knows nothing of (a reply, a call)."""
    registry = daemon.daemon.registry
    await new_profile(raw, registry)
    registry.set_status(1, state="registering")
    daemon.daemon.bus.send(
        Message.new_signal(
            names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "ProfileEvent", "ts", [1, "probe"]
        )
    )
    assert summary(await settle(raw, registry)) == [
        ("PropertiesChanged", {"State": "registering"}),
        ("ProfileEvent", [1, "probe"]),
    ]


async def test_the_signal_of_a_change_comes_before_the_reply(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    path = await new_profile(raw, registry)
    arrived: list[str] = []

    def record(msg: Message) -> None:
        if msg.message_type is MessageType.METHOD_RETURN:
            arrived.append("reply")
        elif msg.member == "PropertiesChanged" and "Holders" in msg.body[1]:
            arrived.append(f"Holders={msg.body[1]['Holders'].value}")

    raw.bus.add_message_handler(record)
    await raw.profile(path, "Enable")
    await raw.profile(path, "Disable")
    raw.bus.remove_message_handler(record)
    assert arrived == ["Holders=1", "reply", "Holders=0", "reply"]


async def test_status_changed_at_shutdown_reaches_clients(
    dbus_address: str, tmp_path: Path
) -> None:
    """The engine's last changes (deregistrations) come right before the disconnect."""
    daemon = Daemon(Options(bus="address", address=dbus_address, database=tmp_path / "p.db"))
    await daemon.start()
    async with raw_bus(dbus_address) as raw:
        try:
            assert daemon.registry is not None
            assert daemon.engine is not None
            registry = daemon.registry
            await new_profile(raw, registry)
            registry.set_status(1, state="registered", expires=3600)
            await settle(raw, registry)
            engine_shutdown = daemon.engine.shutdown

            async def shutdown() -> None:
                await engine_shutdown()
                registry.set_status(1, state="unregistered", expires=0)
                registry.raise_event(1, names.Event.DEREGISTERED)

            daemon.engine.shutdown = shutdown  # type: ignore[method-assign]
        finally:
            await daemon.close()

        async def wait() -> None:
            while len(raw.signals) < 2:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(wait(), 5)
        assert summary(raw.signals) == [
            ("PropertiesChanged", {"State": "unregistered", "Expires": 0}),
            ("ProfileEvent", [1, "deregistered"]),
        ]
