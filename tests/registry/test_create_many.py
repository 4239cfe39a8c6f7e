"""Creating several profiles at once (``sipprofilectl import``): all of them, or none."""

from __future__ import annotations

import pytest

from sipprofile.server.errors import InvalidArgument
from sipprofile.server.registry.events import DomainEvent, ProfileChanged, ProfileCreated
from sipprofile.server.registry.service import ProfileRegistry


def raw(aor: str, **more: tuple[str, object]) -> dict[str, tuple[str, object]]:
    return {"Aor": ("s", aor), **more}


async def test_all_are_created_with_their_events(registry: ProfileRegistry) -> None:
    seen: list[DomainEvent] = []
    registry.subscribe(seen.append)
    created = await registry.create_many(
        [raw("sip:a@example.com"), raw("sip:b@example.com"), raw("sip:c@example.com")]
    )
    assert [p.settings.aor for p in created] == [f"sip:{u}@example.com" for u in "abc"]
    assert [p.id for p in created] == [1, 2, 3]
    assert [e.profile.id for e in seen if isinstance(e, ProfileCreated)] == [1, 2, 3]
    assert [p.settings.default for p in created] == [True, False, False]  # the first one
    assert len({p.contact_user for p in created}) == 3


async def test_one_invalid_profile_creates_none_and_is_named(registry: ProfileRegistry) -> None:
    await registry.create(raw("sip:old@example.com"))
    seen: list[DomainEvent] = []
    registry.subscribe(seen.append)
    with pytest.raises(InvalidArgument) as refused:
        await registry.create_many(
            [raw("sip:a@example.com"), raw("sip:b@example.com"), raw("tel:+1555")]
        )
    assert str(refused.value).startswith("profile 3: ")
    assert await registry.list_ids() == [1]
    assert seen == []


async def test_defaults_resolve_as_one_by_one(registry: ProfileRegistry) -> None:
    old = await registry.create(raw("sip:old@example.com"))
    seen: list[DomainEvent] = []
    registry.subscribe(seen.append)
    created = await registry.create_many(
        [
            raw("sip:a@example.com", Default=("b", True)),
            raw("sip:b@example.com"),
            raw("sip:c@example.com", Default=("b", True)),
        ]
    )
    assert [p.settings.default for p in created] == [False, False, True]  # the last wins
    stored = {i: (await registry.get(i)).settings.default for i in await registry.list_ids()}
    assert stored == {old.id: False, 2: False, 3: False, 4: True}
    demoted = [e.profile.id for e in seen if isinstance(e, ProfileChanged)]
    assert demoted == [old.id]


async def test_an_empty_list_creates_nothing(registry: ProfileRegistry) -> None:
    assert await registry.create_many([]) == []
