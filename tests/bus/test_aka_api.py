"""The Aka setting through a real bus and a real daemon: write-only keys, merging,
errors that change nothing, the hand-marshalled form, and the engine's SQN writes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from busutil import CallFailed, Raw, raw_bus
from dbus_fast import Message, MessageType, Variant
from dbus_fast._private.marshaller import Marshaller

from sipprofile.proto import names
from sipprofile.proto.names import Error, profile_path
from sipprofile.proto.schema import AKA_READABLE_KEYS
from sipprofile.server.bus.managed_objects import encode_settings, interfaces_added_body
from sipprofile.server.bus.values import profile_properties
from sipprofile.server.daemon import Daemon, Options
from sipprofile.server.registry.model import (
    IDLE,
    AkaSettings,
    Profile,
    ProfileSettings,
    UsimSecrets,
)
from sipprofile.server.store import profiles as store

# TS 35.208 test sets 1 and 2: distinct values to search for
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
K2 = "0396eb317b6d1c36f19c1c84cd6ffd16"
OPC2 = "53c15671c60a4b731c55b4a441c0bde2"
SECRETS = (K, OP, OPC, K2, OPC2)


def aka(**keys: Any) -> Variant:
    """An ``Aka`` value with the contract's types (SQN is ``t``)."""
    return Variant(
        "a{sv}",
        {
            key: value
            if isinstance(value, Variant)
            else Variant("t" if isinstance(value, int) else "s", value)
            for key, value in keys.items()
        },
    )


@pytest.fixture
async def raw(daemon):
    async with raw_bus(daemon.address) as connection:
        yield connection


def leaks(data: bytes | str) -> list[str]:
    """Which key material (either case) occurs in ``data``."""
    text = data if isinstance(data, str) else data.decode("latin-1")
    return [s for s in SECRETS if s in text or s.upper() in text]


def wire(msg: Message) -> bytes:
    return bytes(msg._marshall(False))


async def call_message(raw: Raw, path: str, interface: str, member: str, *args: Any) -> Message:
    """A call's whole reply message (``Raw.call`` keeps only the body)."""
    sig = {"GetManagedObjects": "", "GetAll": "s", "Get": "ss"}[member]
    reply = await raw.bus.call(
        Message(
            destination=names.BUS_NAME,
            path=path,
            interface=interface,
            member=member,
            signature=sig,
            body=list(args),
        )
    )
    assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
    return reply


async def update(raw: Raw, path: str, **settings: Variant) -> None:
    await raw.profile(path, "Update", "a{sv}", settings)


async def test_keys_never_leave_the_daemon(daemon, raw: Raw, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    path = await raw.create(
        Aor=Variant("s", "sip:bob@ims.example.com"),
        Type=Variant("s", "ims"),
        PrivateIdentity=Variant("s", "bob@ims.example.com"),
        Aka=aka(K=K.upper(), OP=OP, SQN=7),
    )
    await update(raw, path, Aka=aka(AMF="8001"))
    await update(raw, path, Aka=aka(OPc=OPC))
    await update(raw, path, Aka=aka(K=K2, OPc=OPC2), ProviderName=Variant("s", "Example"))
    await raw.call(
        path,
        names.PROPERTIES_INTERFACE,
        "Set",
        "ssv",
        [names.PROFILE_INTERFACE, "Aka", aka(SQN=77)],
    )
    await raw.create(Aor=Variant("s", "sip:carol@example.com"), Default=Variant("b", True))

    props = await raw.get_all(path)
    assert props["Aka"] == {"HasKeys": True}
    assert list(props["Aka"]) == list(AKA_READABLE_KEYS)
    single = await call_message(
        raw, path, names.PROPERTIES_INTERFACE, "Get", names.PROFILE_INTERFACE, "Aka"
    )
    assert single.body[0] == aka(HasKeys=Variant("b", True))
    all_props = await call_message(
        raw, path, names.PROPERTIES_INTERFACE, "GetAll", names.PROFILE_INTERFACE
    )
    managed = await call_message(
        raw, names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
    )
    assert managed.body[0][path][names.PROFILE_INTERFACE]["Aka"] == aka(HasKeys=Variant("b", True))
    # every signal of the creates and updates, and every reply, as bytes on the wire
    signals = raw.take_signals()
    members = [m.member for m in signals]
    assert members.count("ProfileEvent") == 7  # 2 created, 4 updated, 1 default moved
    assert members.count("InterfacesAdded") == 2
    for msg in (*signals, single, all_props, managed):
        assert leaks(wire(msg)) == [], msg.member
        assert leaks(repr(msg.body)) == [], msg.member
    for msg in signals:
        if msg.member == "PropertiesChanged" and "Aka" in msg.body[1]:
            assert set(msg.body[1]["Aka"].value) == {"HasKeys"}
    assert leaks(caplog.text) == []

    # the file: the keys are in the secrets table and nowhere else
    conn = sqlite3.connect(f"file:{daemon.db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "secrets" in tables
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            text = "".join(
                v.decode("latin-1") if isinstance(v, bytes) else str(v) for r in rows for v in r
            )
            if table == "secrets":
                assert sorted(leaks(text)) == sorted([K2, OPC2])  # only the current keys
            else:
                assert leaks(text) == [], table
    finally:
        conn.close()

    # and the engine reads exactly what was written
    profile_id = 1
    assert path == profile_path(profile_id)
    keys = await daemon.daemon.registry.usim_keys(profile_id)
    assert keys == UsimSecrets(k=K2, op=None, opc=OPC2, amf="8001", sqn=77)
    assert await daemon.daemon.registry.usim_keys(2) is None


async def test_a_profile_without_keys_reads_has_keys_false(raw: Raw) -> None:
    path = await raw.create(Aor=Variant("s", "sip:a@example.com"))
    assert (await raw.get_all(path))["Aka"] == {"HasKeys": False}
    (managed,) = await raw.call(
        names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
    )
    assert managed[path][names.PROFILE_INTERFACE]["Aka"] == aka(HasKeys=Variant("b", False))


async def test_updates_merge_and_announce_only_has_keys(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    path = await raw.create(
        Aor=Variant("s", "sip:bob@ims.example.com"),
        Type=Variant("s", "ims"),
        Aka=aka(K=K, OP=OP, AMF="8001", SQN=5),
    )
    added, _ = await raw.wait_signals(2)
    assert added.body[1][names.PROFILE_INTERFACE]["Aka"] == aka(HasKeys=Variant("b", True))
    assert await registry.usim_keys(1) == UsimSecrets(K, OP, None, "8001", 5)
    raw.take_signals()

    # AMF alone: K, OP and SQN are kept; HasKeys did not change, so only "updated"
    await update(raw, path, Aka=aka(AMF="8002"))
    (only,) = await raw.wait_signals(1)
    assert (only.member, only.body) == ("ProfileEvent", [1, "updated"])
    assert await registry.usim_keys(1) == UsimSecrets(K, OP, None, "8002", 5)
    raw.take_signals()

    # OPc replaces OP
    await update(raw, path, Aka=aka(OPc=OPC.upper()))
    await raw.wait_signals(1)
    assert await registry.usim_keys(1) == UsimSecrets(K, None, OPC, "8002", 5)
    raw.take_signals()

    # writing what is stored changes nothing and emits nothing; K "" removes every key
    await update(raw, path, Aka=aka(AMF="8002", OPc=OPC))
    await update(raw, path, Aka=aka(K=""))
    changed, event = await raw.wait_signals(2)
    assert changed.member == "PropertiesChanged"
    assert changed.body[1] == {"Aka": aka(HasKeys=Variant("b", False))}
    assert (event.member, event.body) == ("ProfileEvent", [1, "updated"])
    assert await registry.usim_keys(1) is None
    assert (await raw.get_all(path))["Aka"] == {"HasKeys": False}
    raw.take_signals()

    # without K, nothing else can be written
    with pytest.raises(CallFailed) as info:
        await update(raw, path, Aka=aka(AMF="8000"))
    assert (info.value.name, "K is needed" in info.value.text) == (Error.INVALID_ARGUMENT, True)

    # a first K again gets the defaults
    await update(raw, path, Aka=aka(K=K2, OPc=OPC2))
    changed, _ = await raw.wait_signals(2)
    assert changed.body[1] == {"Aka": aka(HasKeys=Variant("b", True))}
    assert await registry.usim_keys(1) == UsimSecrets(K2, None, OPC2, "8000", 0)


BAD_WRITES: list[tuple[Variant, str, str]] = [
    (aka(AMF="8001"), Error.INVALID_ARGUMENT, "K is needed"),
    (aka(K=K), Error.INVALID_ARGUMENT, "OP or OPc is needed"),
    (aka(K=K, OP=OP, OPc=OPC), Error.INVALID_ARGUMENT, "not both"),
    (aka(K=K[:-2], OPc=OPC), Error.INVALID_ARGUMENT, "Aka.K must be 32 hex digits"),
    (aka(K="x" + K[1:], OPc=OPC), Error.INVALID_ARGUMENT, "Aka.K must be hexadecimal"),
    (aka(K=K, OPc=OPC + "ff"), Error.INVALID_ARGUMENT, "Aka.OPc must be 32 hex digits"),
    (aka(K=K, OPc=OPC, AMF="80"), Error.INVALID_ARGUMENT, "Aka.AMF must be 4 hex digits"),
    (aka(K=K, OPc=OPC, SQN=2**48), Error.INVALID_ARGUMENT, "Aka.SQN must be below 2^48"),
    (aka(K=K, OPc=OPC, SQN=Variant("x", 3)), Error.INVALID_ARGUMENT, "'t'"),
    (aka(K=Variant("u", 1), OPc=OPC), Error.INVALID_ARGUMENT, "Aka.K must be of D-Bus type 's'"),
    (aka(K="", OPc=OPC), Error.INVALID_ARGUMENT, 'K "" removes every AKA key'),
    (aka(Key=K), Error.INVALID_ARGUMENT, "unknown key 'Key'"),
    (aka(HasKeys=Variant("b", True)), Error.READ_ONLY, "HasKeys"),
    (Variant("s", K), Error.INVALID_ARGUMENT, "'a{sv}'"),
]


async def test_bad_writes_change_nothing_and_never_echo_a_key(daemon, raw: Raw) -> None:
    registry = daemon.daemon.registry
    for value, error, words in BAD_WRITES:
        with pytest.raises(CallFailed) as info:
            await raw.create(Aor=Variant("s", "sip:a@example.com"), Aka=value)
        assert (info.value.name, words in info.value.text) == (error, True), info.value.text
        assert leaks(info.value.text) == []
        assert K[:-2] not in info.value.text
    assert await raw.registry("ListProfiles") == []
    assert raw.signals == []

    path = await raw.create(Aor=Variant("s", "sip:a@ims.example.com"), Aka=aka(K=K2, OP=OP))
    before = await raw.get_all(path)
    stored = await registry.usim_keys(1)
    raw.take_signals()
    for value, error, words in BAD_WRITES[2:]:  # with keys stored, a lone AMF would be fine
        with pytest.raises(CallFailed) as info:
            await update(raw, path, Aka=value, ProviderName=Variant("s", "changed"))
        assert (info.value.name, words in info.value.text) == (error, True), info.value.text
        assert leaks(info.value.text) == []
        assert await raw.get_all(path) == before
        assert await registry.usim_keys(1) == stored
    assert raw.signals == []


async def test_save_sqn_is_monotonic_silent_and_survives_a_restart(
    dbus_address: str, tmp_path: Path
) -> None:
    db_path = tmp_path / "state" / "profiles.db"
    daemon = Daemon(Options(bus="address", address=dbus_address, database=db_path))
    await daemon.start()
    try:
        async with raw_bus(dbus_address) as raw:
            path = await raw.create(
                Aor=Variant("s", "sip:bob@ims.example.com"),
                Type=Variant("s", "ims"),
                Aka=aka(K=K, OPc=OPC, SQN=100),
            )
            await raw.wait_signals(2)
            raw.take_signals()
            assert daemon.registry is not None
            await daemon.registry.save_sqn(1, 0x1_0000_0020)
            await daemon.registry.save_sqn(1, 0x20)  # stale: ignored
            await asyncio.sleep(0.1)  # a signal, were one sent, would be here by now
            await raw.registry("ListProfiles")  # and surely before this reply
            assert raw.signals == []
            assert (await raw.get_all(path))["Aka"] == {"HasKeys": True}
    finally:
        await daemon.close()

    again = Daemon(Options(bus="address", address=dbus_address, database=db_path))
    await again.start()
    try:
        assert again.registry is not None
        assert await again.registry.usim_keys(1) == UsimSecrets(K, None, OPC, "8000", 0x1_0000_0020)
        async with raw_bus(dbus_address) as raw:
            assert (await raw.get_all(profile_path(1)))["Aka"] == {"HasKeys": True}
    finally:
        await again.close()


@pytest.mark.parametrize("has_keys", [False, True])
def test_interfaces_added_bytes_equal_dbus_fasts(has_keys: bool) -> None:
    """The hand-marshalled profile entry (stored fragment + status) is byte for byte what
    dbus-fast marshals from the variant-built properties, Aka included."""
    profile = Profile(
        9,
        ProfileSettings(
            type="ims",
            aor="sip:bob@ims.example.com",
            private_identity="bob@ims.example.com",
            aka=AkaSettings(has_keys=has_keys),
            extensions={"Tos": ("u", 46)},
        ),
        "c0ffee",
    )
    fragment = encode_settings(store.settings_row(profile.settings, profile.id))
    ours = interfaces_added_body(profile.id, fragment, IDLE, "ims")
    properties = profile_properties(profile, IDLE, "ims")
    assert list(properties)[10:12] == ["PrivateIdentity", "Aka"]
    body = [
        profile_path(profile.id),
        {
            names.PROFILE_INTERFACE: properties,
            names.PEER_INTERFACE: {},
            names.INTROSPECTABLE_INTERFACE: {},
            names.PROPERTIES_INTERFACE: {},
        },
    ]
    assert bytes(ours) == bytes(Marshaller("oa{sa{sv}}", body).marshall())
