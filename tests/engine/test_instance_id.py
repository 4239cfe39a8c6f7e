"""The RFC 5626 instance id: a version-5 UUID of the profile's Contact user, as uuid5 makes it."""

from __future__ import annotations

import secrets
import uuid

from sipprofile.server.engine.profile_config import _INSTANCE_NAMESPACE, instance_id
from sipprofile.server.registry.model import Profile, ProfileSettings


def profile(contact_user: str) -> Profile:
    return Profile(1, ProfileSettings(type="IETF", aor="sip:a@example.test"), contact_user)


def test_the_hand_written_uuid5_is_uuid5() -> None:
    for _ in range(200):
        user = secrets.token_hex(8)
        expected = uuid.uuid5(_INSTANCE_NAMESPACE, user)
        assert instance_id(profile(user)) == f"urn:uuid:{expected}"
        assert expected.version == 5


def test_stable_per_profile_and_different_between_profiles() -> None:
    assert instance_id(profile("3f2a9c1e7d5b4a60")) == instance_id(profile("3f2a9c1e7d5b4a60"))
    assert instance_id(profile("3f2a9c1e7d5b4a60")) != instance_id(profile("3f2a9c1e7d5b4a61"))
