"""What the daemon exports equals proto/*.xml and proto/schema.py: no drift."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from busutil import CallFailed, Raw, raw_bus
from dbus_fast import Variant

from sipprofile.proto import names, schema

PROTO = Path(__file__).resolve().parents[2] / "proto"


def describe(interface: ET.Element) -> dict[str, object]:
    """An interface as comparable data: members, argument types and directions."""

    def args(element: ET.Element) -> list[tuple[str, str]]:
        return [(a.get("type", ""), a.get("direction", "in")) for a in element.findall("arg")]

    return {
        "methods": {m.get("name"): args(m) for m in interface.findall("method")},
        "signals": {s.get("name"): [t for t, _ in args(s)] for s in interface.findall("signal")},
        "properties": {
            p.get("name"): (p.get("type"), p.get("access")) for p in interface.findall("property")
        },
    }


def interfaces_of(xml_text: str) -> dict[str, dict[str, object]]:
    root = ET.fromstring(xml_text)
    return {i.get("name", ""): describe(i) for i in root.findall("interface")}


def contract_file(interface: str) -> dict[str, object]:
    text = (PROTO / f"{interface}.xml").read_text()
    return interfaces_of(text)[interface]


@pytest.fixture
async def raw(daemon):
    async with raw_bus(daemon.address) as connection:
        yield connection


def test_schema_module_matches_profile_xml() -> None:
    props = contract_file(names.PROFILE_INTERFACE)["properties"]
    assert isinstance(props, dict)
    assert list(props) == list(schema.PROPERTIES)
    for name, (sig, access) in props.items():
        assert sig == schema.PROPERTIES[name], name
        writable = name in schema.SETTINGS and name not in schema.CREATE_ONLY
        assert access == ("readwrite" if writable else "read"), name


async def test_introspection_equals_contract(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com")
    (registry_xml,) = await raw.call(
        names.REGISTRY_PATH, names.INTROSPECTABLE_INTERFACE, "Introspect"
    )
    served = interfaces_of(registry_xml)
    assert served[names.REGISTRY_INTERFACE] == contract_file(names.REGISTRY_INTERFACE)
    assert names.OBJECT_MANAGER_INTERFACE in served
    (profile_xml,) = await raw.call(path, names.INTROSPECTABLE_INTERFACE, "Introspect")
    served = interfaces_of(profile_xml)
    assert served[names.PROFILE_INTERFACE] == contract_file(names.PROFILE_INTERFACE)
    children = [n.get("name") for n in ET.fromstring(registry_xml).findall("node")]
    assert children == ["Profile"]


async def test_served_properties_have_the_contract_types(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com")
    (served,) = await raw.call(
        path, names.PROPERTIES_INTERFACE, "GetAll", "s", [names.PROFILE_INTERFACE]
    )
    props = contract_file(names.PROFILE_INTERFACE)["properties"]
    assert isinstance(props, dict)
    assert {k: v.signature for k, v in served.items()} == {k: t for k, (t, _) in props.items()}


def _sample(sig: str) -> object:
    return {"a{sv}": {}, "aa{sv}": [], "s": "sip:nobody@example.com", "t": 1, "": None}[sig]


async def test_every_contract_method_is_served(raw: Raw) -> None:
    """Each method answers (a result or a named error of ours), never UnknownMethod."""
    for interface, path in (
        (names.REGISTRY_INTERFACE, names.REGISTRY_PATH),
        (names.PROFILE_INTERFACE, None),
    ):
        methods = contract_file(interface)["methods"]
        assert isinstance(methods, dict)
        for member, args in methods.items():
            target = path or await raw.create(Aor="sip:x@example.com")
            sig = "".join(t for t, d in args if d == "in")
            body = [] if not sig else [_sample(sig)]
            try:
                await raw.call(target, interface, member, sig, body)
            except CallFailed as exc:
                assert exc.name.startswith(names.ERROR_PREFIX), (member, exc)


async def test_signals_match_contract(raw: Raw) -> None:
    await raw.create(Aor="sip:a@example.com")
    signals = contract_file(names.REGISTRY_INTERFACE)["signals"]
    assert isinstance(signals, dict)
    (event,) = [m for m in await raw.wait_signals(2) if m.member == "ProfileEvent"]
    assert list(event.signature) == signals["ProfileEvent"]
    assert event.body[1] in names.ALL_EVENTS


def test_error_names_are_the_design_list() -> None:
    expected = {
        "InvalidArgument",
        "NotFound",
        "InUse",
        "AlreadyEnabled",
        "NotEnabled",
        "AccessDenied",
        "ReadOnly",
        "AuthenticationFailed",
        "Forbidden",
        "Timeout",
        "TransportFailed",
        "ResolveFailed",
        "Rejected",
        "NetworkUnavailable",
        "DeregisteredByNetwork",
        "SecurityAgreementFailed",
    }
    short = {e.removeprefix(names.ERROR_PREFIX) for e in names.ALL_ERRORS}
    assert expected <= short
    assert short - expected == {"Internal"}


def test_profile_paths_round_trip() -> None:
    assert names.profile_id_from_path(names.profile_path(42)) == 42
    for bad in (
        "/org/sipprofile/SipProfile1/Profile/042",
        "/org/sipprofile/SipProfile1/Profile/",
        "/org/sipprofile/SipProfile1/Profile/0",
        "/org/x/1",
        "/org/sipprofile/SipProfile1/Profile/1/2",
    ):
        assert names.profile_id_from_path(bad) is None, bad


async def test_variant_type_error_is_named(raw: Raw) -> None:
    with pytest.raises(CallFailed) as info:
        await raw.registry("CreateProfile", "a{sv}", {"Aor": Variant("as", ["sip:a@b.c"])})
    assert info.value.name == names.Error.INVALID_ARGUMENT
    assert "'as' (an array of strings)" in info.value.text
