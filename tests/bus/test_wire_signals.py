"""Status signals written by hand are byte for byte what dbus-fast would write."""

from __future__ import annotations

from typing import Any

import pytest
from dbus_fast import Message, Variant
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.proto import names
from sipprofile.server.bus.messages import Prewritten
from sipprofile.server.bus.values import STATUS_FIELDS, status_changes, status_values
from sipprofile.server.bus.wire import (
    event_body,
    properties_changed_body,
    signal_bytes,
)
from sipprofile.server.registry.model import IDLE, ProfileStatus

#: D-Bus strings are UTF-8 without NUL (tested apart below).
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
statuses = st.builds(
    ProfileStatus,
    state=st.sampled_from(["unregistered", "registering", "registered", "failed"]),
    holders=u32,
    registered_aors=st.lists(text, max_size=3).map(tuple),
    registered_contact=text,
    service_route=st.lists(text, max_size=3).map(tuple),
    negotiated_security=text,
    expires=u32,
    last_error=st.tuples(text, text),
)
serials = st.integers(min_value=1, max_value=2**32 - 1)
ids = st.integers(min_value=1, max_value=2**63)


def dbus_fast_bytes(
    serial: int, path: str, interface: str, member: str, sig: str, body: Any
) -> bytes:
    msg = Message.new_signal(path, interface, member, sig, body)
    msg.serial = serial
    return bytes(msg._marshall(False))


def as_variant(sig: str, value: Any) -> Variant:
    return Variant(sig, list(value) if isinstance(value, tuple) else value)


@given(before=statuses, after=statuses, serial=serials, profile_id=ids)
def test_properties_changed_matches_dbus_fast(
    before: ProfileStatus, after: ProfileStatus, serial: int, profile_id: int
) -> None:
    changes = status_changes(before, after, STATUS_FIELDS)
    path = names.profile_path(profile_id)
    ours = signal_bytes(
        serial,
        path,
        names.PROPERTIES_INTERFACE,
        "PropertiesChanged",
        "sa{sv}as",
        properties_changed_body(names.PROFILE_INTERFACE, changes),
    )
    theirs = dbus_fast_bytes(
        serial,
        path,
        names.PROPERTIES_INTERFACE,
        "PropertiesChanged",
        "sa{sv}as",
        [names.PROFILE_INTERFACE, {n: as_variant(s, v) for n, s, v in changes}, []],
    )
    assert bytes(ours) == theirs


@given(serial=serials, profile_id=ids, event=text, message=text)
def test_events_and_errors_match_dbus_fast(
    serial: int, profile_id: int, event: str, message: str
) -> None:
    for member, sig, texts in (
        ("ProfileEvent", "ts", [event]),
        ("ProfileError", "tss", [event, message]),
    ):
        ours = signal_bytes(
            serial,
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            member,
            sig,
            event_body(profile_id, *texts),
        )
        theirs = dbus_fast_bytes(
            serial,
            names.REGISTRY_PATH,
            names.REGISTRY_INTERFACE,
            member,
            sig,
            [profile_id, *texts],
        )
        assert bytes(ours) == theirs


def test_status_changes_lists_only_what_differs_in_the_order_named() -> None:
    after = ProfileStatus(state="registered", expires=60, holders=0)
    assert status_changes(IDLE, after, ["Expires", "Holders", "State"]) == [
        ("Expires", "u", 60),
        ("State", "s", "registered"),
    ]
    assert status_changes(after, after, STATUS_FIELDS) == []


def test_a_nul_in_a_string_is_refused_not_sent() -> None:
    """dbus-daemon would drop the daemon's connection for it, so it never leaves."""
    with pytest.raises(ValueError, match="NUL"):
        properties_changed_body(names.PROFILE_INTERFACE, [("RegisteredContact", "s", "a\0b")])
    with pytest.raises(ValueError, match="NUL"):
        event_body(1, "rejected", "bad\0reason")


def test_prewritten_sends_its_bytes_and_keeps_the_last_serial() -> None:
    data = bytearray(b"two whole messages")
    msg = Prewritten(data, 41)
    assert msg.serial == 41
    assert msg._marshall(False) is data


@given(before=statuses, after=statuses)
def test_the_values_of_one_change_are_its_changes(
    before: ProfileStatus, after: ProfileStatus
) -> None:
    """One StatusChanged names exactly what changed: its values need no comparing."""
    changed = [n for n, (f, _) in STATUS_FIELDS.items() if getattr(before, f) != getattr(after, f)]
    assert status_values(after, changed) == status_changes(before, after, changed)
