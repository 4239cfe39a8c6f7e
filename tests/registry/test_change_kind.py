"""What an update means for a live registration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sipprofile.server.registry.model import Profile, ProfileSettings, ServerSettings
from sipprofile.server.registry.sharing import change_kind

BASE = Profile(
    1,
    ProfileSettings(
        type="IETF",
        aor="sip:a@example.com",
        registrar=ServerSettings("sip:example.com", "a", "", True),
    ),
    "c0ffee",
)


def changed(**fields) -> Profile:
    return replace(BASE, settings=replace(BASE.settings, **fields))


@pytest.mark.parametrize(
    ("new", "props", "kind"),
    [
        (changed(provider_name="New"), {"ProviderName"}, ""),
        (changed(default=True), {"Default"}, ""),
        (BASE, set(), "credentials"),  # a password change: nothing readable changed
        (
            changed(registrar=ServerSettings("sip:example.com", "b", "", True)),
            {"Registrar"},
            "credentials",
        ),
        (
            changed(registrar=ServerSettings("sip:other.example.com", "a", "", True)),
            {"Registrar"},
            "reregister",
        ),
        (changed(contact_params={"x": "1"}), {"ContactParams"}, "contact"),
        (changed(headers=("X-A: 1",)), {"Headers"}, "reregister"),
        (changed(aor="sip:b@example.com"), {"Aor"}, "reregister"),
        (
            changed(contact_params={"x": "1"}, headers=("X-A: 1",)),
            {"ContactParams", "Headers"},
            "reregister",
        ),
    ],
)
def test_change_kinds(new: Profile, props: set[str], kind: str) -> None:
    assert change_kind(BASE, new, props) == kind


def test_without_the_previous_profile_registration_settings_renew() -> None:
    assert change_kind(None, BASE, {"Registrar"}) == "reregister"
    assert change_kind(None, BASE, {"Default"}) == ""
