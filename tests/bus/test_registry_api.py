"""The registry API through a real bus and a real daemon (DESIGN.md §2)."""

from __future__ import annotations

import pytest
from busutil import CallFailed, Raw, raw_bus
from dbus_fast import Variant

from sipprofile.proto import names
from sipprofile.proto.names import Error, profile_path


@pytest.fixture
async def raw(daemon):
    async with raw_bus(daemon.address) as connection:
        yield connection


async def test_create_returns_path_and_stores_every_setting(raw: Raw) -> None:
    path = await raw.create(
        Aor="sip:alice@example.com",
        ProviderName="Example Telecom",
        AccessPoint="wlan0",
        Registrar={
            "Uri": "sip:registrar.example.com;transport=tcp",
            "Username": "alice",
            "Realm": "example.com",
            "Password": "s3cret",
        },
        OutboundProxy={"Uri": "sip:proxy.example.com;lr"},
        SigComp=True,
        AutoRegistration=False,  # True would start registering (test_engine covers it)
        PrivateIdentity="alice@ims.example.com",
        ContactParams={"+sip.instance": '"<urn:uuid:00000000-0000-0000-0000-000000000001>"'},
        Headers=["User-Agent: test/1.0", "X-Tag:  a b "],
        Extensions={"Tos": Variant("u", 46), "Lab": True, "Names": ["a", "b"]},
    )
    assert path == profile_path(1)
    props = await raw.get_all(path)
    assert props["Aor"] == "sip:alice@example.com"
    assert props["ProviderName"] == "Example Telecom"
    assert props["AccessPoint"] == "wlan0"
    assert props["Registrar"] == {
        "Uri": "sip:registrar.example.com;transport=tcp",
        "Username": "alice",
        "Realm": "example.com",
        "HasPassword": True,
    }
    assert props["OutboundProxy"] == {
        "Uri": "sip:proxy.example.com;lr",
        "Username": "",
        "Realm": "",
        "HasPassword": False,
    }
    assert props["SigComp"] is True
    assert props["SecurityNegotiation"] is False
    assert props["AutoRegistration"] is False
    assert props["Default"] is True  # the first profile becomes the default
    assert props["Aka"] == {"HasKeys": False}
    assert props["Headers"] == ["User-Agent: test/1.0", "X-Tag: a b"]
    assert props["ContactParams"] == {
        "+sip.instance": '"<urn:uuid:00000000-0000-0000-0000-000000000001>"'
    }
    assert props["Extensions"] == {"Tos": 46, "Lab": True, "Names": ["a", "b"]}
    # status starts idle
    assert props["Id"] == 1
    assert props["TypeClass"] == "internet"
    assert props["State"] == "unregistered"
    assert props["Holders"] == 0
    assert props["RegisteredAors"] == []
    assert props["RegisteredContact"] == ""
    assert props["ServiceRoute"] == []
    assert props["NegotiatedSecurity"] == ""
    assert props["Expires"] == 0
    assert list(props["LastError"]) == ["", ""]


async def test_extension_keeps_its_dbus_type(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com", Extensions={"Tos": Variant("u", 46)})
    body = await raw.call(
        path, names.PROPERTIES_INTERFACE, "Get", "ss", [names.PROFILE_INTERFACE, "Extensions"]
    )
    assert body[0].value["Tos"].signature == "u"


async def test_password_never_leaves_the_daemon(raw: Raw) -> None:
    secret = "pa55-word-that-must-not-leak"
    path = await raw.create(
        Aor="sip:alice@example.com",
        Registrar={"Uri": "sip:example.com", "Password": secret},
        OutboundProxy={"Uri": "sip:proxy.example.com", "Password": secret + "2"},
    )
    await raw.profile(
        path,
        "Update",
        "a{sv}",
        {"Registrar": Variant("a{sv}", {"Password": Variant("s", secret + "3")})},
    )
    everything = repr(await raw.get_all(path))
    everything += repr(
        await raw.call(names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects")
    )
    everything += repr([m.body for m in raw.signals])
    assert secret not in everything
    with pytest.raises(CallFailed) as info:
        await raw.call(
            path, names.PROPERTIES_INTERFACE, "Get", "ss", [names.PROFILE_INTERFACE, "Password"]
        )
    assert info.value.name == "org.freedesktop.DBus.Error.UnknownProperty"


async def test_ims_type_defaults(raw: Raw) -> None:
    path = await raw.create(Aor="sip:bob@ims.example.com", Type="ims")
    props = await raw.get_all(path)
    assert (props["Type"], props["TypeClass"]) == ("ims", "ims")
    assert props["SigComp"] is True
    assert props["SecurityNegotiation"] is True
    overridden = await raw.create(Aor="sip:c@ims.example.com", Type="ims", SigComp=False)
    assert (await raw.get_all(overridden))["SigComp"] is False


async def test_supported_types(raw: Raw) -> None:
    types = [tuple(t) for t in await raw.registry("SupportedTypes")]
    assert types[:2] == [("internet", "IETF"), ("ims", "ims")]


async def test_lists_get_and_not_found(raw: Raw) -> None:
    a = await raw.create(Aor="sip:alice@example.com")
    b = await raw.create(Aor="sip:bob@example.com", Type="ims")
    c = await raw.create(Aor="sip:%61lice@EXAMPLE.COM;transport=tcp")
    assert await raw.registry("ListProfiles") == [a, b, c]
    assert await raw.registry("ListProfilesByType", "s", "ims") == [b]
    assert await raw.registry("ListProfilesByType", "s", "IETF") == [a, c]
    assert await raw.registry("GetProfile", "t", 2) == b
    for bad_id in (0, 4, 2**64 - 1):
        with pytest.raises(CallFailed) as info:
            await raw.registry("GetProfile", "t", bad_id)
        assert info.value.name == Error.NOT_FOUND
        assert str(bad_id) in info.value.text
    with pytest.raises(CallFailed) as info:
        await raw.registry("ListProfilesByType", "s", "XMPP")
    assert info.value.name == Error.INVALID_ARGUMENT
    assert "IETF" in info.value.text
    assert "ims" in info.value.text


async def test_list_by_aor_uses_uri_equivalence(raw: Raw) -> None:
    a = await raw.create(Aor="sip:alice@example.com")
    tcp = await raw.create(Aor="sip:alice@example.com;transport=tcp")
    await raw.create(Aor="sip:Alice@example.com")  # user part is case-sensitive
    await raw.create(Aor="sips:alice@example.com")  # sips is another URI
    await raw.create(Aor="sip:alice@example.com:5060")  # an explicit port differs
    assert await raw.registry("ListProfilesByAor", "s", "sip:%61lice@EXAMPLE.com") == [a]
    assert await raw.registry("ListProfilesByAor", "s", "SIP:alice@example.com;Transport=TCP") == [
        tcp
    ]
    assert await raw.registry("ListProfilesByAor", "s", "sip:alice@example.com;newparam=5") == [a]
    assert await raw.registry("ListProfilesByAor", "s", "sip:nobody@example.com") == []
    with pytest.raises(CallFailed) as info:
        await raw.registry("ListProfilesByAor", "s", "mailto:alice@example.com")
    assert info.value.name == Error.INVALID_ARGUMENT


async def test_default_profile_rules(raw: Raw) -> None:
    with pytest.raises(CallFailed) as info:
        await raw.registry("GetDefaultProfile")
    assert info.value.name == Error.NOT_FOUND
    a = await raw.create(Aor="sip:a@example.com")
    b = await raw.create(Aor="sip:b@example.com")
    assert await raw.registry("GetDefaultProfile") == a
    c = await raw.create(Aor="sip:c@example.com", Default=True)
    assert await raw.registry("GetDefaultProfile") == c
    assert (await raw.get_all(a))["Default"] is False
    await raw.profile(b, "Update", "a{sv}", {"Default": Variant("b", True)})
    assert await raw.registry("GetDefaultProfile") == b
    assert [(await raw.get_all(p))["Default"] for p in (a, b, c)] == [False, True, False]
    with pytest.raises(CallFailed) as info:
        await raw.profile(b, "Update", "a{sv}", {"Default": Variant("b", False)})
    assert info.value.name == Error.INVALID_ARGUMENT
    await raw.profile(b, "Delete")
    assert await raw.registry("GetDefaultProfile") == a  # lowest remaining id
    assert (await raw.get_all(a))["Default"] is True
    await raw.profile(a, "Delete")
    await raw.profile(c, "Delete")
    with pytest.raises(CallFailed):
        await raw.registry("GetDefaultProfile")


async def test_ids_are_never_reused(raw: Raw) -> None:
    a = await raw.create(Aor="sip:a@example.com")
    b = await raw.create(Aor="sip:b@example.com")
    await raw.profile(b, "Delete")
    await raw.profile(a, "Delete")
    assert await raw.create(Aor="sip:c@example.com") == profile_path(3)


@pytest.mark.parametrize(
    ("settings", "error", "words"),
    [
        ({"Aor": "sip:a@example.com", "Colour": "red"}, Error.INVALID_ARGUMENT, "'Colour'"),
        ({"Aor": Variant("i", 5)}, Error.INVALID_ARGUMENT, "'s' (a string)"),
        ({"Aor": "sip:a@example.com", "SigComp": "yes"}, Error.INVALID_ARGUMENT, "'b' (a boolean)"),
        ({"Aor": "sip:a@example.com", "State": "registered"}, Error.READ_ONLY, "State"),
        ({"Aor": "sip:a@example.com", "Id": Variant("t", 9)}, Error.READ_ONLY, "Id"),
        ({"Aor": "sip:a@example.com", "Type": "XMPP"}, Error.INVALID_ARGUMENT, "IETF, ims"),
        ({}, Error.INVALID_ARGUMENT, "Aor is required"),
        ({"Aor": "sip:example.com"}, Error.INVALID_ARGUMENT, "no user part"),
        ({"Aor": "tel:+15551234"}, Error.INVALID_ARGUMENT, "not a valid SIP URI"),
        ({"Aor": "sip:a:pw@example.com"}, Error.INVALID_ARGUMENT, "password"),
        ({"Aor": "sip:a@example.com", "AccessPoint": "my wifi"}, Error.INVALID_ARGUMENT, "spaces"),
        ({"Aor": "sip:a@example.com", "AccessPoint": "eth0,"}, Error.INVALID_ARGUMENT, "stray"),
        ({"Aor": "sip:a@example.com", "AccessPoint": "a" * 16}, Error.INVALID_ARGUMENT, "15"),
        ({"Aor": "sip:a@example.com", "AccessPoint": "eth0,eth0"}, Error.INVALID_ARGUMENT, "twice"),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"Uri": "sip:bob@example.com"}},
            Error.INVALID_ARGUMENT,
            "user part",
        ),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"Uri": "http://example.com"}},
            Error.INVALID_ARGUMENT,
            "Registrar.Uri",
        ),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"Uri": "sip:example.com;transport=sctp"}},
            Error.INVALID_ARGUMENT,
            "sctp",
        ),
        (
            {
                "Aor": "sip:a@example.com",
                "OutboundProxy": {"Uri": "sips:p.example.com;transport=udp"},
            },
            Error.INVALID_ARGUMENT,
            "TLS",
        ),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"Url": "sip:example.com"}},
            Error.INVALID_ARGUMENT,
            "'Url'",
        ),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"HasPassword": True}},
            Error.READ_ONLY,
            "Password",
        ),
        (
            {"Aor": "sip:a@example.com", "Registrar": {"Uri": Variant("b", True)}},
            Error.INVALID_ARGUMENT,
            "Registrar.Uri must be of D-Bus type 's'",
        ),
        (
            {"Aor": "sip:a@example.com", "Headers": ["Via: SIP/2.0/UDP x"]},
            Error.INVALID_ARGUMENT,
            "Via",
        ),
        (
            {"Aor": "sip:a@example.com", "Headers": ["no colon"]},
            Error.INVALID_ARGUMENT,
            "'Name: value'",
        ),
        (
            {"Aor": "sip:a@example.com", "Headers": ["X-A: b\r\nVia: evil"]},
            Error.INVALID_ARGUMENT,
            "X-A",
        ),
        (
            {"Aor": "sip:a@example.com", "ContactParams": {"expires": "60"}},
            Error.INVALID_ARGUMENT,
            "expires",
        ),
        (
            {"Aor": "sip:a@example.com", "ContactParams": {"bad name": "1"}},
            Error.INVALID_ARGUMENT,
            "bad name",
        ),
        (
            {"Aor": "sip:a@example.com", "ContactParams": {"x": "a b"}},
            Error.INVALID_ARGUMENT,
            "quoted string",
        ),
        (
            {"Aor": "sip:a@example.com", "Extensions": {"k": Variant("d", 1.5)}},
            Error.INVALID_ARGUMENT,
            "'d'",
        ),
        (
            {"Aor": "sip:a@example.com", "ProviderName": "x\ny"},
            Error.INVALID_ARGUMENT,
            "control characters",
        ),
        (
            {"Aor": "sip:a@example.com", "ProviderName": "x" * 300},
            Error.INVALID_ARGUMENT,
            "too long",
        ),
        (
            {"Aor": "sip:a@example.com", "PrivateIdentity": "no-realm"},
            Error.INVALID_ARGUMENT,
            "user@",
        ),
    ],
)
async def test_bad_create_is_rejected_and_changes_nothing(
    raw: Raw, settings: dict, error: str, words: str
) -> None:
    with pytest.raises(CallFailed) as info:
        await raw.create(**settings)
    assert info.value.name == error
    assert words in info.value.text
    assert await raw.registry("ListProfiles") == []
    assert raw.signals == []
    # and the next id is still 1: nothing was written, not even a rolled-back row id
    assert await raw.create(Aor="sip:ok@example.com") == profile_path(1)


async def test_update_applies_all_or_nothing(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com", ProviderName="Before")
    before = await raw.get_all(path)
    with pytest.raises(CallFailed) as info:
        await raw.profile(
            path,
            "Update",
            "a{sv}",
            {
                "ProviderName": Variant("s", "After"),
                "Headers": Variant("as", ["Contact: <sip:x@y>"]),
            },
        )
    assert info.value.name == Error.INVALID_ARGUMENT
    assert await raw.get_all(path) == before
    with pytest.raises(CallFailed) as info:
        await raw.profile(path, "Update", "a{sv}", {"Type": Variant("s", "ims")})
    assert info.value.name == Error.READ_ONLY
    with pytest.raises(CallFailed) as info:
        await raw.profile(path, "Update", "a{sv}", {"Holders": Variant("u", 3)})
    assert info.value.name == Error.READ_ONLY


async def test_update_emits_exactly_what_changed(raw: Raw) -> None:
    path = await raw.create(
        Aor="sip:a@example.com",
        Registrar={"Uri": "sip:example.com", "Username": "a", "Password": "one"},
    )
    raw.take_signals()
    await raw.profile(
        path,
        "Update",
        "a{sv}",
        {
            "ProviderName": Variant("s", "New name"),
            "Aor": Variant("s", "sip:a@example.com"),  # same value: not a change
            "Registrar": Variant("a{sv}", {"Realm": Variant("s", "example.com")}),
        },
    )
    changed, event = await raw.wait_signals(2)
    assert (changed.interface, changed.member, changed.path) == (
        names.PROPERTIES_INTERFACE,
        "PropertiesChanged",
        path,
    )
    interface, values, invalidated = changed.body
    assert interface == names.PROFILE_INTERFACE
    assert sorted(values) == ["ProviderName", "Registrar"]
    assert values["ProviderName"].value == "New name"
    registrar = {k: v.value for k, v in values["Registrar"].value.items()}
    # merged: Uri, Username and the password survive an update that names only Realm
    assert registrar == {
        "Uri": "sip:example.com",
        "Username": "a",
        "Realm": "example.com",
        "HasPassword": True,
    }
    assert invalidated == []
    assert (event.member, event.body) == ("ProfileEvent", [1, "updated"])
    raw.take_signals()
    # a change of nothing emits nothing
    await raw.profile(path, "Update", "a{sv}", {"ProviderName": Variant("s", "New name")})
    # a password change is an update but no readable property changed
    await raw.profile(
        path, "Update", "a{sv}", {"Registrar": Variant("a{sv}", {"Password": Variant("s", "two")})}
    )
    (only,) = await raw.wait_signals(1)
    assert (only.member, only.body) == ("ProfileEvent", [1, "updated"])
    # clearing the password flips HasPassword
    raw.take_signals()
    await raw.profile(
        path, "Update", "a{sv}", {"Registrar": Variant("a{sv}", {"Password": Variant("s", "")})}
    )
    changed, _ = await raw.wait_signals(2)
    assert changed.body[1]["Registrar"].value["HasPassword"].value is False


async def test_properties_set_is_an_update_and_status_is_read_only(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com")
    await raw.call(
        path,
        names.PROPERTIES_INTERFACE,
        "Set",
        "ssv",
        [names.PROFILE_INTERFACE, "AccessPoint", Variant("s", "eth0")],
    )
    assert (await raw.get_all(path))["AccessPoint"] == "eth0"
    with pytest.raises(CallFailed) as info:
        await raw.call(
            path,
            names.PROPERTIES_INTERFACE,
            "Set",
            "ssv",
            [names.PROFILE_INTERFACE, "State", Variant("s", "registered")],
        )
    assert info.value.name == Error.READ_ONLY
    with pytest.raises(CallFailed) as info:
        await raw.call(
            path,
            names.PROPERTIES_INTERFACE,
            "Set",
            "ssv",
            [names.PROFILE_INTERFACE, "SigComp", Variant("s", "on")],
        )
    assert info.value.name == Error.INVALID_ARGUMENT


async def test_create_and_delete_signals(raw: Raw) -> None:
    path = await raw.create(Aor="sip:a@example.com", ProviderName="P")
    added, created = await raw.wait_signals(2)
    assert (added.interface, added.member) == (names.OBJECT_MANAGER_INTERFACE, "InterfacesAdded")
    assert added.body[0] == path
    props = added.body[1][names.PROFILE_INTERFACE]
    assert props["ProviderName"].value == "P"
    assert props["State"].value == "unregistered"
    assert (created.member, created.body) == ("ProfileEvent", [1, "created"])
    raw.take_signals()
    await raw.profile(path, "Delete")
    removed, destroyed = await raw.wait_signals(2)
    assert (removed.member, removed.body[0]) == ("InterfacesRemoved", path)
    assert names.PROFILE_INTERFACE in removed.body[1]
    assert (destroyed.member, destroyed.body) == ("ProfileEvent", [1, "destroyed"])
    with pytest.raises(CallFailed) as info:
        await raw.profile(path, "Delete")
    assert info.value.name == Error.NOT_FOUND
    with pytest.raises(CallFailed) as info:
        await raw.profile(path, "Update", "a{sv}", {})
    assert info.value.name == Error.NOT_FOUND


async def test_deleting_the_default_announces_the_new_default(raw: Raw) -> None:
    a = await raw.create(Aor="sip:a@example.com")
    b = await raw.create(Aor="sip:b@example.com")
    raw.take_signals()
    await raw.profile(a, "Delete")
    signals = await raw.wait_signals(4)
    members = [(m.member, m.path) for m in signals]
    assert ("PropertiesChanged", b) in members
    assert [m.body for m in signals if m.member == "ProfileEvent"] == [
        [1, "destroyed"],
        [2, "updated"],
    ]


async def test_managed_objects_equal_getall(raw: Raw) -> None:
    paths = [
        await raw.create(
            Aor="sip:a@example.com",
            ProviderName="Ünïcode ☎",
            Registrar={"Uri": "sip:r.example.com", "Password": "x"},
        ),
        await raw.create(
            Aor="sip:b@example.com",
            Type="ims",
            Aka=Variant(
                "a{sv}",
                {
                    "K": Variant("s", "0" * 32),
                    "OPc": Variant("s", "f" * 32),
                    "SQN": Variant("t", 9),
                },
            ),
            ContactParams={"+sip.instance": '"<urn:uuid:1>"', "flag": ""},
            Headers=["X-A: 1", "X-B: 2"],
            Extensions={
                "s": "text",
                "b": False,
                "i": Variant("i", -5),
                "u": Variant("u", 7),
                "x": Variant("x", -(2**40)),
                "t": Variant("t", 2**63),
                "as": ["p", "q"],
            },
        ),
        await raw.create(Aor="sips:c@example.com", OutboundProxy={"Uri": "sips:p.example.com"}),
    ]
    (managed,) = await raw.call(
        names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
    )
    assert sorted(managed) == sorted(paths)
    for path in paths:
        interfaces = managed[path]
        assert set(interfaces) == {
            names.PROFILE_INTERFACE,
            names.PEER_INTERFACE,
            names.INTROSPECTABLE_INTERFACE,
            names.PROPERTIES_INTERFACE,
        }
        served = interfaces[names.PROFILE_INTERFACE]
        (direct,) = await raw.call(
            path, names.PROPERTIES_INTERFACE, "GetAll", "s", [names.PROFILE_INTERFACE]
        )
        assert list(served) == list(direct)
        for key in direct:
            assert served[key].signature == direct[key].signature, key
            assert served[key] == direct[key], key


async def test_unknown_things_get_standard_errors(raw: Raw) -> None:
    with pytest.raises(CallFailed) as info:
        await raw.call(names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "Frobnicate")
    assert info.value.name == "org.freedesktop.DBus.Error.UnknownMethod"
    with pytest.raises(CallFailed) as info:
        await raw.call(names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "GetProfile", "s", ["1"])
    assert info.value.name == "org.freedesktop.DBus.Error.InvalidArgs"
    with pytest.raises(CallFailed) as info:
        await raw.call(names.PROFILE_PATH_PREFIX + "01", names.PROFILE_INTERFACE, "Delete")
    assert info.value.name == "org.freedesktop.DBus.Error.UnknownObject"
    with pytest.raises(CallFailed) as info:
        await raw.call(profile_path(42), names.INTROSPECTABLE_INTERFACE, "Introspect")
    assert info.value.name == "org.freedesktop.DBus.Error.UnknownObject"
    await raw.call(profile_path(42), names.PEER_INTERFACE, "Ping")  # dbus-fast answers


async def test_call_without_interface_is_routed_by_member(raw: Raw) -> None:
    (path,) = await raw.call(
        names.REGISTRY_PATH,
        None,
        "CreateProfile",
        "a{sv}",
        [{"Aor": Variant("s", "sip:a@example.com")}],
    )
    assert path == profile_path(1)


@pytest.mark.parametrize(
    "settings",
    [
        {"Aor": "sip:a@example.com", "Registrar": {"Uri": "sip:bob:hunter2@example.com"}},
        {"Aor": "sip:a@example.com", "OutboundProxy": {"Uri": "sip:bob:hunter2@ex ample.com"}},
        {"Aor": "sip:a:hunter2@exa mple.com"},
    ],
)
async def test_a_password_typed_into_a_uri_is_not_echoed(raw: Raw, settings: dict) -> None:
    with pytest.raises(CallFailed) as info:
        await raw.create(**settings)
    assert info.value.name == Error.INVALID_ARGUMENT
    assert "hunter2" not in info.value.text
    with pytest.raises(CallFailed) as info:
        await raw.registry("ListProfilesByAor", "s", "sip:a:hunter2@exa mple.com")
    assert "hunter2" not in info.value.text


async def test_managed_objects_refuses_a_reply_the_bus_would_drop(daemon, raw: Raw) -> None:
    """Past the bus's message limit dbus-daemon would disconnect the daemon; it answers
    with LimitsExceeded instead and keeps serving."""
    big = {
        "Aor": ("s", "sip:big@example.com"),
        "Headers": ("as", [f"X-Pad-{n}: " + "p" * 990 for n in range(32)]),
        "Extensions": ("a{sv}", {f"k{n}": ("s", "e" * 4000) for n in range(4)}),
    }
    for _ in range(700):
        await daemon.daemon.registry.create(big)
    with pytest.raises(CallFailed) as info:
        await raw.call(names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects")
    assert info.value.name == "org.freedesktop.DBus.Error.LimitsExceeded"
    assert "ListProfiles" in info.value.text
    assert len(await raw.registry("ListProfiles")) == 700
