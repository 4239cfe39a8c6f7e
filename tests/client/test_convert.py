"""Client pieces that need no bus: conversion, errors, the profile view, cache and events."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.errors import DBusError

from sipprofile.client.connection import Connection, match_rules
from sipprofile.client.convert import guess_variant, settings_to_variants, unpack
from sipprofile.client.errors import (
    AccessDenied,
    BusError,
    DaemonUnavailable,
    InvalidArgument,
    NotFound,
    SipProfileError,
    error_class,
    from_dbus_error,
)
from sipprofile.client.events import EventStream, ProfileErrorOccurred, ProfileEventOccurred
from sipprofile.client.profile import ATTRIBUTES, AkaSettings, CacheEntry, Profile, ServerSettings
from sipprofile.client.registry import Registry
from sipprofile.proto import names
from sipprofile.proto.schema import PROPERTIES, SETTINGS

# -- Python values to variants --------------------------------------------------------

PLAIN_SETTINGS: dict[str, object] = {
    "Type": "IETF",
    "ProviderName": "Example",
    "Aor": "sip:alice@example.com",
    "AccessPoint": "wlan0",
    "Registrar": {"Uri": "sip:r.example.com", "Username": "a", "Realm": "r", "Password": "pw"},
    "OutboundProxy": {"Uri": ""},
    "SigComp": True,
    "SecurityNegotiation": False,
    "AutoRegistration": True,
    "Default": True,
    "PrivateIdentity": "alice@example.com",
    "Aka": {"K": "0" * 32, "OPc": "1" * 32, "AMF": "8000", "SQN": 5},
    "ContactParams": {"ob": ""},
    "Headers": ["X-A: 1"],
    "Extensions": {"s": "x", "b": False, "i": 7, "l": ["a", "b"]},
}


def test_every_setting_gets_the_contract_signature() -> None:
    assert set(PLAIN_SETTINGS) == set(SETTINGS)
    variants = settings_to_variants(PLAIN_SETTINGS)
    assert {key: v.signature for key, v in variants.items()} == SETTINGS


def test_server_dictionary_values_are_strings() -> None:
    registrar = settings_to_variants(PLAIN_SETTINGS)["Registrar"].value
    assert registrar == {
        "Uri": Variant("s", "sip:r.example.com"),
        "Username": Variant("s", "a"),
        "Realm": Variant("s", "r"),
        "Password": Variant("s", "pw"),
    }


def test_aka_values_get_the_contract_types() -> None:
    # SQN is 't': an int left to guessing would be 'x', which the daemon refuses
    aka = settings_to_variants(PLAIN_SETTINGS)["Aka"].value
    assert aka == {
        "K": Variant("s", "0" * 32),
        "OPc": Variant("s", "1" * 32),
        "AMF": Variant("s", "8000"),
        "SQN": Variant("t", 5),
    }
    # a value that does not fit is sent as guessed, for the daemon to name it
    assert settings_to_variants({"Aka": {"SQN": -1}})["Aka"].value["SQN"] == Variant("x", -1)


def test_extension_values() -> None:
    extensions = settings_to_variants(PLAIN_SETTINGS)["Extensions"].value
    assert extensions == {
        "s": Variant("s", "x"),
        "b": Variant("b", False),
        "i": Variant("x", 7),
        "l": Variant("as", ["a", "b"]),
    }


def test_caller_variants_are_kept() -> None:
    variants = settings_to_variants(
        {"Extensions": {"n": Variant("u", 3)}, "Aor": Variant("s", "sip:a@b")}
    )
    assert variants["Extensions"].value == {"n": Variant("u", 3)}
    assert variants["Aor"] == Variant("s", "sip:a@b")


def test_status_keys_get_their_real_signature() -> None:
    # So that the daemon answers ReadOnly, not a type complaint.
    variants = settings_to_variants({"Expires": 5, "Id": 1, "LastError": ("a", "b")})
    assert variants["Expires"] == Variant("u", 5)
    assert variants["Id"] == Variant("t", 1)
    assert variants["LastError"].signature == "(ss)"


def test_unknown_keys_and_wrong_types_are_sent_for_the_daemon_to_judge() -> None:
    variants = settings_to_variants(
        {"Colour": "blue", "SigComp": "yes", "Expires": True, "Headers": ("X-A: 1",)}
    )
    assert variants["Colour"] == Variant("s", "blue")
    assert variants["SigComp"] == Variant("s", "yes")
    assert variants["Expires"] == Variant("b", True)  # a bool is not silently a number
    assert variants["Headers"] == Variant("as", ["X-A: 1"])


@pytest.mark.parametrize(
    ("value", "signature"),
    [
        (True, "b"),
        (-1, "x"),
        (2**64 - 1, "t"),
        (1.5, "d"),
        ("s", "s"),
        (b"\x00", "ay"),
        ([], "as"),
        ([1, "a"], "av"),
        ({"k": 1}, "a{sv}"),
    ],
)
def test_guess_variant(value: object, signature: str) -> None:
    assert guess_variant(value).signature == signature


@pytest.mark.parametrize("value", [None, object(), 2**64, {1: "x"}])
def test_values_without_a_dbus_form_are_refused(value: object) -> None:
    with pytest.raises(InvalidArgument):
        settings_to_variants({"Extensions": {"k": value}})


def test_unpack() -> None:
    assert unpack(Variant("a{sv}", {"a": Variant("(ss)", ("x", "y"))})) == {"a": ["x", "y"]}


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("name", names.ALL_ERRORS)
def test_every_contract_error_has_its_class(name: str) -> None:
    exc = from_dbus_error(DBusError(name, "what and why"))
    assert type(exc) is not BusError
    assert type(exc).dbus_name == name
    assert exc.name == name
    assert exc.message == str(exc) == "what and why"
    assert name.endswith("." + type(exc).__name__)


def test_contract_error_classes_are_distinct() -> None:
    assert len({error_class(name) for name in names.ALL_ERRORS}) == len(names.ALL_ERRORS)


@pytest.mark.parametrize(
    "name",
    ["org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"],
)
def test_missing_daemon(name: str) -> None:
    exc = from_dbus_error(DBusError(name, "The name is not activatable"), where="the session bus")
    assert isinstance(exc, DaemonUnavailable)
    assert exc.name == name
    assert "start sipprofiled" in exc.message
    assert "session bus" in exc.message


def test_other_errors() -> None:
    exc = from_dbus_error(DBusError("org.freedesktop.DBus.Error.NoReply", "no reply"))
    assert type(exc) is BusError
    assert (exc.name, exc.message) == ("org.freedesktop.DBus.Error.NoReply", "no reply")
    policy = from_dbus_error(DBusError("org.freedesktop.DBus.Error.AccessDenied", "policy"))
    assert isinstance(policy, AccessDenied)
    assert isinstance(policy, SipProfileError)


# -- the profile view ---------------------------------------------------------------

FULL_PROPS: dict[str, Variant] = {
    **settings_to_variants(
        {k: v for k, v in PLAIN_SETTINGS.items() if k not in ("Registrar", "OutboundProxy", "Aka")}
    ),
    "Aka": Variant("a{sv}", {"HasKeys": Variant("b", True)}),
    "Registrar": Variant(
        "a{sv}",
        {
            "Uri": Variant("s", "sip:r.example.com"),
            "Username": Variant("s", "a"),
            "Realm": Variant("s", "r"),
            "HasPassword": Variant("b", True),
        },
    ),
    "OutboundProxy": Variant(
        "a{sv}", {"Uri": Variant("s", ""), "HasPassword": Variant("b", False)}
    ),
    "Id": Variant("t", 7),
    "TypeClass": Variant("s", "internet"),
    "State": Variant("s", "registered"),
    "Holders": Variant("u", 2),
    "RegisteredAors": Variant("as", ["sip:alice@example.com"]),
    "RegisteredContact": Variant("s", "<sip:alice@192.0.2.1>"),
    "ServiceRoute": Variant("as", []),
    "NegotiatedSecurity": Variant("s", ""),
    "Expires": Variant("u", 3600),
    "LastError": Variant("(ss)", ["", ""]),
    "Flow": Variant("(sss)", ["udp", "192.0.2.10:5062", "198.51.100.1:5060"]),
}


def make_profile(props: dict[str, Any]) -> Profile:
    return Profile(None, CacheEntry(names.profile_path(7), dict(props)))  # type: ignore[arg-type]


def test_every_property_has_an_attribute() -> None:
    assert list(ATTRIBUTES) == list(PROPERTIES)
    for attribute in ATTRIBUTES.values():
        assert isinstance(getattr(Profile, attribute), property)


def test_typed_attributes() -> None:
    profile = make_profile(FULL_PROPS)
    assert profile.id == 7
    assert profile.registrar == ServerSettings("sip:r.example.com", "a", "r", True)
    assert profile.outbound_proxy == ServerSettings()
    assert profile.holders == 2
    assert profile.expires == 3600
    assert profile.extensions == {"s": "x", "b": False, "i": 7, "l": ["a", "b"]}
    assert profile.extension_variants["i"] == Variant("x", 7)
    assert profile.last_error == ("", "")
    assert profile.state == "registered"
    assert profile.aka == AkaSettings(has_keys=True)
    assert profile.has_aka_keys is True


def test_as_dict_is_json_and_has_no_password() -> None:
    data = make_profile(FULL_PROPS).as_dict()
    assert list(data) == list(PROPERTIES)
    assert data["Registrar"] == {
        "Uri": "sip:r.example.com",
        "Username": "a",
        "Realm": "r",
        "HasPassword": True,
    }
    assert data["Aka"] == {"HasKeys": True}
    assert json.loads(json.dumps(data)) == data


def test_missing_properties_read_as_empty() -> None:
    profile = make_profile({})
    assert (profile.aor, profile.sigcomp, profile.holders, profile.headers) == ("", False, 0, [])
    assert profile.has_aka_keys is False
    assert profile.last_error == ("", "")


def test_server_settings_ignore_a_password_key() -> None:
    server = ServerSettings.from_bus({"Uri": "sip:x", "Password": "leak"})
    assert "leak" not in repr(server)
    assert "Password" not in server.as_dict()


def test_aka_settings_ignore_key_material() -> None:
    aka = AkaSettings.from_bus({"HasKeys": True, "K": "leak"})
    assert "leak" not in repr(aka)
    assert aka.as_dict() == {"HasKeys": True}
    assert AkaSettings.from_bus("garbage") == AkaSettings()


# -- the registry's cache and events, fed directly ------------------------------------


class FakeConnection:
    closed = False

    def __init__(self) -> None:
        self.spawned: list[Any] = []

    def spawn(self, coro: Any) -> None:
        coro.close()
        self.spawned.append(coro)


def signal(path: str, interface: str, member: str, signature: str, body: list[Any]) -> Message:
    return Message.new_signal(path, interface, member, signature, body)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def profile_registry_event_occurred(self, profile_id: int, event: str) -> None:
        self.calls.append((profile_id, event))

    def profile_registry_error_occurred(self, profile_id: int, error: str, message: str) -> None:
        self.calls.append((profile_id, error, message))


class Broken:
    def profile_registry_event_occurred(self, profile_id: int, event: str) -> None:
        raise RuntimeError("observer bug")

    def profile_registry_error_occurred(self, profile_id: int, error: str, message: str) -> None:
        raise RuntimeError("observer bug")


async def test_signals_update_cache_and_reach_listeners() -> None:
    connection = FakeConnection()
    registry = Registry(connection)  # type: ignore[arg-type]
    path = names.profile_path(7)
    registry._on_signal(
        signal(
            names.REGISTRY_PATH,
            names.OBJECT_MANAGER_INTERFACE,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [path, {names.PROFILE_INTERFACE: FULL_PROPS}],
        )
    )
    profile = await registry._profile(path)  # cached: no call is made
    assert profile.aor == "sip:alice@example.com"

    stream = registry.events()
    recorder = Recorder()
    registry.add_observer(Broken())
    registry.add_observer(recorder)
    registry._on_signal(
        signal(
            path,
            names.PROPERTIES_INTERFACE,
            "PropertiesChanged",
            "sa{sv}as",
            [names.PROFILE_INTERFACE, {"State": Variant("s", "failed")}, ["Expires"]],
        )
    )
    assert profile.state == "failed"
    assert len(connection.spawned) == 1  # the invalidated property is re-read
    registry._on_signal(
        signal(
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            "ProfileError",
            "tss",
            [7, names.Error.FORBIDDEN, "403 from registrar"],
        )
    )
    registry._on_signal(
        signal(
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            "ProfileEvent",
            "ts",
            [7, names.Event.DESTROYED],
        )
    )
    assert profile.deleted
    assert recorder.calls == [(7, names.Error.FORBIDDEN, "403 from registrar"), (7, "destroyed")]
    assert await anext(stream) == ProfileErrorOccurred(
        7, names.Error.FORBIDDEN, "403 from registrar"
    )
    assert await anext(stream) == ProfileEventOccurred(7, "destroyed")
    with pytest.raises(NotFound):
        await registry._profile(path)


async def test_event_stream_ends_and_closes() -> None:
    stream = EventStream(lambda _: None)
    stream.push(ProfileEventOccurred(1, "created"))
    stream.end()
    stream.push(ProfileEventOccurred(1, "updated"))  # after the end: dropped
    assert [event async for event in stream] == [ProfileEventOccurred(1, "created")]
    other = EventStream(lambda _: None)
    other.push(ProfileEventOccurred(1, "created"))
    await other.aclose()
    async with asyncio.timeout(1):
        assert [event async for event in other] == []


def test_connection_accepts_signals_only_from_the_daemon() -> None:
    connection = Connection(SimpleNamespace(), "the test bus")  # type: ignore[arg-type]
    seen: list[Message] = []
    connection.on_signal = seen.append
    event = signal(names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "ProfileEvent", "ts", [1, "x"])
    event.sender = ":1.9"
    connection._on_message(event)  # the daemon's name is not known yet
    owner = Message(
        message_type=MessageType.SIGNAL, path="/org/freedesktop/DBus",
        interface="org.freedesktop.DBus", member="NameOwnerChanged", sender="org.freedesktop.DBus",
        signature="sss", body=[names.BUS_NAME, "", ":1.9"],
    )  # fmt: skip
    connection._on_message(owner)
    connection._on_message(event)
    spoof = signal(names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "ProfileEvent", "ts", [2, "x"])
    spoof.sender = ":1.66"
    connection._on_message(spoof)
    assert seen == [event]


def test_match_rules_restrict_the_sender() -> None:
    rules = match_rules()
    assert all("sender=" in rule for rule in rules)
    assert any("path_namespace='/org/sipprofile/SipProfile1'" in rule for rule in rules)
    for member in ("ProfileEvent", "ProfileError", "InterfacesAdded", "InterfacesRemoved"):
        assert any(f"member='{member}'" in rule for rule in rules)
