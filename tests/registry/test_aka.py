"""The Aka setting in the domain: merging writes, refusing bad ones without echoing them,
the engine's accessors, and what a change of the keys means for a live registration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sipprofile.server.errors import InvalidArgument, ReadOnly
from sipprofile.server.registry.events import DomainEvent, ProfileChanged
from sipprofile.server.registry.model import (
    AKA_AMF,
    AKA_K,
    AKA_OP,
    AKA_OPC,
    AKA_ROWS,
    AKA_SQN,
    AkaSettings,
    Profile,
    ProfileSettings,
    UsimSecrets,
)
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.registry.sharing import Sharing, change_kind
from sipprofile.server.registry.validation import validate_changes

# TS 35.208 test set 1
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"

WITH_KEYS = ProfileSettings(type="ims", aor="sip:a@ims.example.com", aka=AkaSettings(True))
WITHOUT_KEYS = ProfileSettings(type="ims", aor="sip:a@ims.example.com")


def aka(**keys: object) -> dict[str, tuple[str, object]]:
    """An ``Aka`` write as it comes off the bus; ints are ``t``, unless given typed."""
    typed = {
        key: value if isinstance(value, tuple) else ("t" if isinstance(value, int) else "s", value)
        for key, value in keys.items()
    }
    return {"Aka": ("a{sv}", typed)}


def test_a_first_k_gets_amf_and_sqn_defaults_and_is_stored_lower_case() -> None:
    changes = validate_changes(aka(K=K.upper(), OPc=OPC), current=WITHOUT_KEYS)
    assert changes.settings == {"aka": AkaSettings(has_keys=True)}
    assert changes.aka == {AKA_K: K, AKA_OPC: OPC, AKA_OP: "", AKA_AMF: "8000", AKA_SQN: "0"}
    created = validate_changes({"Aor": ("s", "sip:a@x"), **aka(K=K, OP=OP, SQN=7)}, current=None)
    assert created.aka == {AKA_K: K, AKA_OP: OP, AKA_OPC: "", AKA_AMF: "8000", AKA_SQN: "7"}


def test_writes_merge_into_stored_keys() -> None:
    only_amf = validate_changes(aka(AMF="8001"), current=WITH_KEYS)
    assert only_amf.aka == {AKA_AMF: "8001"}
    assert only_amf.settings == {"aka": AkaSettings(has_keys=True)}
    assert validate_changes(aka(OPc=OPC), current=WITH_KEYS).aka == {AKA_OPC: OPC, AKA_OP: ""}
    assert validate_changes(aka(OP=OP), current=WITH_KEYS).aka == {AKA_OP: OP, AKA_OPC: ""}
    assert validate_changes(aka(SQN=2**48 - 1), current=WITH_KEYS).aka == {AKA_SQN: str(2**48 - 1)}
    new_k = validate_changes(aka(K=OP), current=WITH_KEYS)
    assert new_k.aka == {AKA_K: OP}  # OP or OPc, AMF and SQN stay as stored
    nothing = validate_changes({"Aka": ("a{sv}", {})}, current=WITH_KEYS)
    assert nothing.aka == {}
    assert nothing.settings == {"aka": AkaSettings(has_keys=True)}


def test_an_empty_k_removes_every_key() -> None:
    removed = validate_changes(aka(K=""), current=WITH_KEYS)
    assert removed.settings == {"aka": AkaSettings(has_keys=False)}
    assert removed.aka == dict.fromkeys(AKA_ROWS, "")
    # with nothing stored it is harmless
    assert validate_changes(aka(K=""), current=WITHOUT_KEYS).settings == {"aka": AkaSettings()}


@pytest.mark.parametrize(
    ("write", "has_keys", "words"),
    [
        (aka(AMF="8001"), False, "K is needed"),
        (aka(SQN=5), False, "K is needed"),
        (aka(OPc=OPC), False, "K is needed"),
        (aka(K=K), False, "OP or OPc is needed"),
        (aka(K=K, AMF="8000"), False, "OP or OPc is needed"),
        (aka(K=K, OP=OP, OPc=OPC), False, "not both"),
        (aka(OP=OP, OPc=OPC), True, "not both"),
        (aka(K=K[:-1], OPc=OPC), False, "Aka.K must be 32 hex digits (16 bytes), not 31"),
        (aka(K=K + "0", OPc=OPC), False, "Aka.K must be 32 hex digits"),
        (aka(K="g" + K[1:], OPc=OPC), False, "Aka.K must be hexadecimal"),
        (aka(K="é" + K[1:], OPc=OPC), False, "Aka.K must be hexadecimal"),
        (aka(K=" " + K[1:], OPc=OPC), False, "Aka.K must be hexadecimal"),
        (aka(K=K, OP=OP[:30]), False, "Aka.OP must be 32 hex digits"),
        (aka(OPc=OPC + "00"), True, "Aka.OPc must be 32 hex digits"),
        (aka(OPc=""), True, "Aka.OPc must be 32 hex digits"),
        (aka(AMF="80000"), True, "Aka.AMF must be 4 hex digits (2 bytes)"),
        (aka(AMF="80z0"), True, "Aka.AMF must be hexadecimal"),
        (aka(SQN=2**48), True, "Aka.SQN must be below 2^48"),
        (aka(SQN=("x", 5)), True, "Aka.SQN must be of D-Bus type 't'"),
        (aka(K=("ay", b"\x00" * 16), OPc=OPC), False, "Aka.K must be of D-Bus type 's'"),
        (aka(K="", AMF="8000"), True, 'K "" removes every AKA key'),
        (aka(Kc=K), True, "Aka: unknown key 'Kc'; known keys are K, OP, OPc, AMF, SQN"),
        ({"Aka": ("s", K)}, True, "Aka must be of D-Bus type 'a{sv}'"),
    ],
)
def test_bad_writes_name_the_key_and_never_the_value(
    write: dict[str, tuple[str, object]], has_keys: bool, words: str
) -> None:
    current = WITH_KEYS if has_keys else WITHOUT_KEYS
    with pytest.raises(InvalidArgument) as info:
        validate_changes(write, current=current)
    message = str(info.value)
    assert words in message
    for secret in (K, OP, OPC, K[:-1], OP[:30], K[1:], "80000", str(2**48)):
        assert secret not in message.lower()


def test_has_keys_is_read_only() -> None:
    with pytest.raises(ReadOnly, match=r"Aka\.HasKeys is read-only"):
        validate_changes(aka(HasKeys=("b", True)), current=WITH_KEYS)


def test_usim_secrets_keep_keys_out_of_their_repr() -> None:
    keys = UsimSecrets(k=K, op=None, opc=OPC, amf="8000", sqn=3)
    assert K not in repr(keys)
    assert OPC not in repr(keys)
    assert "sqn=3" in repr(keys)


# -- what a change of the keys means for a registration ------------------------------

BASE = Profile(1, WITH_KEYS, "c0ffee")


@pytest.mark.parametrize(
    ("props", "secrets", "kind"),
    [
        ({"Aka"}, True, "credentials"),  # keys written or removed: HasKeys changed
        (set(), True, "credentials"),  # new K, AMF or SQN: nothing readable changed
        ({"ProviderName"}, True, "credentials"),  # keys written with another setting
        ({"ProviderName"}, False, ""),
        ({"Aka", "Headers"}, True, "reregister"),
        ({"Aka", "ContactParams"}, True, "contact"),
    ],
)
def test_aka_changes_are_credentials(props: set[str], secrets: bool, kind: str) -> None:
    new = replace(BASE, settings=replace(BASE.settings, aka=AkaSettings(False)))
    assert change_kind(BASE, new, props, secrets=secrets) == kind


class RecordingEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def start(self, profile: Profile) -> None:
        self.calls.append(("start", profile.id))

    def stop(self, profile: Profile) -> None:
        self.calls.append(("stop", profile.id))

    def refresh(self, profile: Profile) -> None:
        self.calls.append(("refresh", profile.id))

    def restart(self, profile: Profile, previous: Profile | None = None) -> None:
        self.calls.append(("restart", profile.id))

    def update_contact(self, profile: Profile) -> None:
        self.calls.append(("update_contact", profile.id))

    def update_credentials(self, profile: Profile) -> None:
        self.calls.append(("update_credentials", profile.id))


async def test_a_held_profile_gets_new_keys_at_the_next_challenge(
    registry: ProfileRegistry,
) -> None:
    engine = RecordingEngine()
    sharing = Sharing(registry, engine)
    profile = await registry.create({"Aor": ("s", "sip:a@ims.example.com"), "Type": ("s", "ims")})
    await sharing.enable(profile.id, ":1.9")
    assert engine.calls == [("start", profile.id)]
    for write in (
        aka(K=K, OPc=OPC),  # HasKeys changes
        aka(AMF="8001"),  # only a secret changes
        {"ProviderName": ("s", "Example"), **aka(SQN=9)},  # a secret and a name
    ):
        engine.calls.clear()
        await registry.update(profile.id, write)
        assert engine.calls == [("update_credentials", profile.id)], write
    engine.calls.clear()
    await registry.update(profile.id, aka(AMF="8001"))  # the same value: no change
    await registry.update(profile.id, {"ProviderName": ("s", "Renamed")})
    assert engine.calls == []


async def test_engine_accessors(registry: ProfileRegistry) -> None:
    events: list[DomainEvent] = []
    registry.subscribe(events.append)
    plain = await registry.create({"Aor": ("s", "sip:plain@example.com")})
    assert plain.settings.aka == AkaSettings(has_keys=False)
    assert await registry.usim_keys(plain.id) is None
    await registry.save_sqn(plain.id, 5)  # no keys: nothing to raise
    assert await registry.usim_keys(plain.id) is None

    profile = await registry.create(
        {"Aor": ("s", "sip:b@ims.example.com"), **aka(K=K.upper(), OP=OP, AMF="B9B9", SQN=10)}
    )
    assert profile.settings.aka == AkaSettings(has_keys=True)
    assert await registry.usim_keys(profile.id) == UsimSecrets(K, OP, None, "b9b9", 10)
    events.clear()
    await registry.save_sqn(profile.id, 32)
    await registry.save_sqn(profile.id, 31)  # stale: never moves it back
    await registry.save_sqn(profile.id, 32)
    assert (await registry.usim_keys(profile.id)).sqn == 32  # type: ignore[union-attr]
    assert events == []  # the USIM's state, not a client's change
    with pytest.raises(ValueError, match="SQN"):
        await registry.save_sqn(profile.id, 2**48)
    with pytest.raises(ValueError, match="SQN"):
        await registry.save_sqn(profile.id, -1)

    await registry.update(profile.id, aka(OPc=OPC))
    assert await registry.usim_keys(profile.id) == UsimSecrets(K, None, OPC, "b9b9", 32)
    (changed,) = events
    assert isinstance(changed, ProfileChanged)
    assert (changed.properties, changed.secrets) == ((), True)
    await registry.update(profile.id, aka(SQN=0))  # a client may set it back (a new card)
    assert (await registry.usim_keys(profile.id)).sqn == 0  # type: ignore[union-attr]
    await registry.update(profile.id, aka(K=""))
    assert await registry.usim_keys(profile.id) is None
    assert (await registry.get(profile.id)).settings.aka == AkaSettings(has_keys=False)
    assert events[-1].properties == ("Aka",)  # type: ignore[union-attr]
    assert await registry.passwords([profile.id]) == {}  # no AKA row among passwords
