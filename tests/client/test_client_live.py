"""The client library against a live sipprofiled on a private bus.

Needs the ``dbus_address``, ``daemon`` and ``registry`` fixtures of
``tests/conftest.py``. Expectations come from the documented contract
(``proto/*.xml``), not from the daemon's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from dbus_fast import Variant

from sipprofile.client import (
    AkaSettings,
    DaemonUnavailable,
    InvalidArgument,
    NotFound,
    Profile,
    ProfileEventOccurred,
    ReadOnly,
    Registry,
    RegistryEvent,
    ServerSettings,
)
from sipprofile.proto.names import Error, Event, profile_path
from sipprofile.proto.schema import ALL_STATES, PROPERTIES

TIMEOUT = 5.0

ALICE = {
    "Type": "IETF",
    "ProviderName": "Example Telecom",
    "Aor": "sip:alice@example.com",
    "AccessPoint": "",
    "Registrar": {
        "Uri": "sip:registrar.example.com;transport=tcp",
        "Username": "alice",
        "Realm": "example.com",
        "Password": "s3cret-registrar",
    },
    "OutboundProxy": {"Uri": "sip:proxy.example.com", "Username": "", "Realm": ""},
    "SigComp": False,
    "SecurityNegotiation": False,
    "AutoRegistration": False,
    "PrivateIdentity": "",
    "ContactParams": {"+sip.instance": '"<urn:uuid:00000000-0000-0000-0000-000000000001>"'},
    "Headers": ["X-Tenant: blue"],
    "Extensions": {"tuning.keepalive": 25, "note": "hello", "trace": True, "tags": ["a", "b"]},
}


async def next_event(events: AsyncIterator[RegistryEvent]) -> RegistryEvent:
    async with asyncio.timeout(TIMEOUT):
        return await anext(events)


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Poll the cache: signals arrive asynchronously, after the call that caused them."""
    del what  # named at the call site for the reader of a failing test
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_create_get_list_round_trip(registry: Registry) -> None:
    profile = await registry.create(ALICE)

    assert profile.id >= 1
    assert profile.path == profile_path(profile.id)
    assert profile.type == "IETF"
    assert profile.type_class == "internet"
    assert profile.provider_name == "Example Telecom"
    assert profile.aor == "sip:alice@example.com"
    assert profile.registrar == ServerSettings(
        uri="sip:registrar.example.com;transport=tcp",
        username="alice",
        realm="example.com",
        has_password=True,
    )
    assert profile.outbound_proxy.uri == "sip:proxy.example.com"
    assert profile.outbound_proxy.has_password is False
    assert profile.contact_params == ALICE["ContactParams"]
    assert profile.headers == ["X-Tenant: blue"]
    assert profile.extensions == ALICE["Extensions"]
    assert profile.extension_variants["tuning.keepalive"] == Variant("x", 25)
    assert profile.default is True  # the first profile ever stored
    assert profile.state in ALL_STATES
    assert profile.holders == 0
    assert profile.last_error == ("", "")

    again = await registry.get(profile.id)
    assert again == profile
    assert again.as_dict() == profile.as_dict()
    assert [p.id for p in await registry.list()] == [profile.id]
    assert [p.id for p in await registry.list_by_type("IETF")] == [profile.id]
    assert await registry.list_by_type("ims") == []
    assert [p.id for p in await registry.list_by_aor("sip:alice@EXAMPLE.com")] == [profile.id]
    assert (await registry.default()).id == profile.id


async def test_as_dict_has_every_property_and_no_password(registry: Registry) -> None:
    profile = await registry.create(ALICE)
    data = profile.as_dict()
    assert set(PROPERTIES) <= set(data)
    assert data["Id"] == profile.id
    assert data["Registrar"] == {
        "Uri": "sip:registrar.example.com;transport=tcp",
        "Username": "alice",
        "Realm": "example.com",
        "HasPassword": True,
    }
    assert "s3cret-registrar" not in repr(data)


async def test_aka_keys_are_written_merged_and_never_read_back(registry: Registry) -> None:
    k, opc = "465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf"
    plain = await registry.create({"Aor": "sip:plain@example.com"})
    assert plain.has_aka_keys is False
    profile = await registry.create(
        {"Aor": "sip:bob@ims.example.com", "Type": "ims", "Aka": {"K": k, "OPc": opc, "SQN": 3}}
    )
    assert profile.aka == AkaSettings(has_keys=True)
    assert profile.as_dict()["Aka"] == {"HasKeys": True}
    await profile.update({"Aka": {"AMF": "8001", "SQN": 2**40}})  # K and OPc are kept
    assert profile.has_aka_keys is True
    with pytest.raises(InvalidArgument) as info:
        await plain.update({"Aka": {"AMF": "8001"}})
    assert "K is needed" in info.value.message
    await profile.update({"Aka": {"K": ""}})
    await wait_until(lambda: not profile.has_aka_keys, "HasKeys false")
    assert k not in repr(profile.as_dict()) and opc not in repr(profile.as_dict())


async def test_update_changes_values_and_cache(registry: Registry) -> None:
    profile = await registry.create({"Aor": "sip:bob@example.com"})
    await profile.update(
        {
            "ProviderName": "Bob's VoIP",
            "SigComp": True,
            "Registrar": {"Uri": "sips:registrar.example.net"},
            "Headers": ["X-A: 1", "X-B: 2"],
            "Extensions": {"n": Variant("u", 7)},
        }
    )
    assert profile.provider_name == "Bob's VoIP"
    assert profile.sigcomp is True
    assert profile.registrar.uri == "sips:registrar.example.net"
    assert profile.headers == ["X-A: 1", "X-B: 2"]
    assert profile.extension_variants == {"n": Variant("u", 7)}

    await profile.reload()
    assert profile.provider_name == "Bob's VoIP"


async def test_two_profile_objects_share_the_cache(registry: Registry) -> None:
    first = await registry.create({"Aor": "sip:carol@example.com"})
    second = await registry.get(first.id)
    await first.update({"ProviderName": "shared"})
    assert second.provider_name == "shared"


async def test_default_moves(registry: Registry) -> None:
    one = await registry.create({"Aor": "sip:one@example.com"})
    two = await registry.create({"Aor": "sip:two@example.com"})
    assert one.default
    assert not two.default
    await two.update({"Default": True})
    assert two.default
    await wait_until(lambda: not one.default, "old default cleared by PropertiesChanged")
    assert (await registry.default()).id == two.id


async def test_delete(registry: Registry) -> None:
    profile = await registry.create({"Aor": "sip:dave@example.com"})
    other = await registry.get(profile.id)
    await profile.delete()
    assert profile.deleted
    assert other.deleted
    with pytest.raises(NotFound):
        await registry.get(profile.id)
    assert await registry.list() == []
    with pytest.raises(NotFound):
        await profile.delete()


async def test_get_unknown_id_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound) as info:
        await registry.get(999)
    assert info.value.name == Error.NOT_FOUND
    assert info.value.message
    with pytest.raises(NotFound):
        await registry.default()  # no profile exists


async def test_unknown_key_is_invalid_argument_naming_it(registry: Registry) -> None:
    with pytest.raises(InvalidArgument) as info:
        await registry.create({"Aor": "sip:eve@example.com", "Colour": "blue"})
    assert "Colour" in info.value.message
    assert await registry.list() == []  # a rejected call stores nothing


async def test_wrong_type_is_invalid_argument(registry: Registry) -> None:
    with pytest.raises(InvalidArgument):
        await registry.create({"Aor": "sip:eve@example.com", "SigComp": "yes"})


async def test_status_key_is_read_only(registry: Registry) -> None:
    profile = await registry.create({"Aor": "sip:frank@example.com"})
    with pytest.raises(ReadOnly) as info:
        await profile.update({"State": "registered"})
    assert info.value.name == Error.READ_ONLY
    with pytest.raises(ReadOnly):
        await profile.update({"Type": "ims"})
    with pytest.raises(ReadOnly):
        await registry.create({"Aor": "sip:frank2@example.com", "State": "registered"})


async def test_supported_types(registry: Registry) -> None:
    types = await registry.supported_types()
    assert ("internet", "IETF") in types
    assert ("ims", "ims") in types


async def test_events_in_order(registry: Registry) -> None:
    events = registry.events()
    profile = await registry.create({"Aor": "sip:grace@example.com"})
    await profile.update({"ProviderName": "Grace"})
    await profile.delete()
    seen = [await next_event(events) for _ in range(3)]
    assert seen == [
        ProfileEventOccurred(profile.id, Event.CREATED),
        ProfileEventOccurred(profile.id, Event.UPDATED),
        ProfileEventOccurred(profile.id, Event.DESTROYED),
    ]
    await events.aclose()


async def test_each_events_call_is_independent(registry: Registry) -> None:
    first, second = registry.events(), registry.events()
    profile = await registry.create({"Aor": "sip:heidi@example.com"})
    expected = ProfileEventOccurred(profile.id, Event.CREATED)
    assert await next_event(first) == expected
    assert await next_event(second) == expected


async def test_events_end_when_registry_closes(dbus_address: str, daemon: object) -> None:
    other = await Registry.connect(address=dbus_address)
    events = other.events()
    await other.aclose()
    async with asyncio.timeout(TIMEOUT):
        assert [event async for event in events] == []


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[int, str]] = []
        self.errors: list[tuple[int, str, str]] = []

    def profile_registry_event_occurred(self, profile_id: int, event: str) -> None:
        self.events.append((profile_id, event))

    def profile_registry_error_occurred(self, profile_id: int, error: str, message: str) -> None:
        self.errors.append((profile_id, error, message))


async def test_observer_callbacks(registry: Registry) -> None:
    observer = Recorder()
    registry.add_observer(observer)
    profile = await registry.create({"Aor": "sip:ivan@example.com"})
    await profile.update({"ProviderName": "Ivan"})
    await wait_until(lambda: len(observer.events) >= 2, "two callbacks")
    assert observer.events[:2] == [(profile.id, Event.CREATED), (profile.id, Event.UPDATED)]
    assert observer.errors == []

    registry.remove_observer(observer)
    await profile.update({"ProviderName": "Ivan 2"})
    await registry.list()  # a round trip: the "updated" signal has been processed by now
    assert len(observer.events) == 2


async def test_cache_follows_changes_from_another_client(
    registry: Registry, dbus_address: str
) -> None:
    watched = await registry.create({"Aor": "sip:judy@example.com"})
    async with await Registry.connect(address=dbus_address) as other:
        remote = await other.get(watched.id)
        await remote.update({"ProviderName": "changed elsewhere", "Headers": ["X-C: 3"]})
    await wait_until(lambda: watched.provider_name == "changed elsewhere", "PropertiesChanged")
    assert watched.headers == ["X-C: 3"]


async def test_deletion_by_another_client_marks_profile_deleted(
    registry: Registry, dbus_address: str
) -> None:
    watched = await registry.create({"Aor": "sip:ken@example.com"})
    async with await Registry.connect(address=dbus_address) as other:
        await (await other.get(watched.id)).delete()
    await wait_until(lambda: watched.deleted, "InterfacesRemoved")
    with pytest.raises(NotFound):
        await watched.reload()


async def test_load_all(registry: Registry, dbus_address: str) -> None:
    created = [await registry.create({"Aor": f"sip:user{i}@example.com"}) for i in range(5)]
    async with await Registry.connect(address=dbus_address) as other:
        loaded = await other.load_all()
    assert [p.id for p in loaded] == [p.id for p in created]
    assert [p.aor for p in loaded] == [p.aor for p in created]


async def test_list_profiles_are_profile_objects(registry: Registry) -> None:
    await registry.create({"Aor": "sip:leo@example.com", "Type": "ims"})
    (profile,) = await registry.list_by_type("ims")
    assert isinstance(profile, Profile)
    assert profile.type_class == "ims"
    assert profile.sigcomp is True  # the ims type turns it on by default


async def test_connect_to_bus_without_daemon(dbus_address: str) -> None:
    # No `daemon` fixture here: nothing owns the name on this bus.
    with pytest.raises(DaemonUnavailable) as info:
        await Registry.connect(address=dbus_address)
    assert "sipprofiled" in info.value.message


async def test_profile_sharing_through_the_library(daemon) -> None:
    from sipprofile.client import AlreadyEnabled, InUse, NotEnabled, Registry

    async with (
        await Registry.connect(address=daemon.address) as first,
        await Registry.connect(address=daemon.address) as second,
    ):
        profile = await first.create({"Aor": "sip:alice@example.com"})
        await profile.enable()
        assert await profile.is_enabled() is True
        with pytest.raises(AlreadyEnabled):
            await profile.enable()
        other = await second.get(profile.id)
        assert await other.is_enabled() is False
        await other.enable()
        with pytest.raises(InUse):
            await profile.delete()
        await profile.disable()
        with pytest.raises(NotEnabled):
            await profile.disable()
        await profile.reload()
        assert profile.holders == 1
    # second closed: its hold is gone with its connection
    async with await Registry.connect(address=daemon.address) as third:
        again = await third.get(1)
        for _ in range(100):
            await again.reload()
            if again.holders == 0:
                break
            await asyncio.sleep(0.02)
        assert again.holders == 0
