"""The profile registry: create, read, update, delete, defaults and status.

Every write validates first, then runs as one transaction that also re-reads the
profile, so concurrent calls cannot interleave and a rejected call changes nothing.
Listeners hear about a change only after it is committed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sipprofile.server.errors import InUse, InvalidArgument, NotFound
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.uri import aor_lookup_key, parse_uri, uri_equivalent
from sipprofile.server.store.database import Database
from sipprofile.server.store.profiles import ProfileRepository
from sipprofile.server.types import ProfileType, TypeTable

from .events import DomainEvent, ProfileChanged, ProfileCreated, ProfileDestroyed
from .model import FIELDS, IDLE, Profile, ProfileSettings, ProfileStatus, Typed
from .validation import validate_changes

_log = logging.getLogger(__name__)

DEFAULT_TYPE = "IETF"

Listener = Callable[[DomainEvent], None]


def _aor_key(aor: str) -> str:
    return aor_lookup_key(parse_uri(aor))


class ProfileRegistry:
    """The daemon's profiles, persisted in ``db``, typed by ``types``."""

    def __init__(self, db: Database, types: TypeTable) -> None:
        self.db = db
        self.repo = ProfileRepository(db)
        self.types = types
        #: Status of profiles that are not idle; absent means ``IDLE``. Keeping only
        #: live ones is what lets 10,000 stored profiles cost almost no memory.
        self._status: dict[int, ProfileStatus] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every domain event from now on."""
        self._listeners.append(listener)

    def _emit(self, event: DomainEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("listener failed on %s", type(event).__name__)

    def status(self, profile_id: int) -> ProfileStatus:
        """Live status; every idle profile shares one value."""
        return self._status.get(profile_id, IDLE)

    def type_class(self, type_name: str) -> str:
        """Class of a type; "other" for a plug-in type no longer installed."""
        found = self.types.get(type_name)
        return found.type_class if found else "other"

    def _type(self, name: str) -> ProfileType:
        found = self.types.get(name)
        if found is None:
            supported = ", ".join(self.types.names())
            raise InvalidArgument(f"unsupported profile type {name!r}; supported: {supported}")
        return found

    @staticmethod
    def _check_type_rules(kind: ProfileType, settings: ProfileSettings) -> None:
        complaint = kind.check({name: getattr(settings, f) for name, f in FIELDS.items()})
        if complaint:
            raise InvalidArgument(complaint)

    async def get(self, profile_id: int) -> Profile:
        """The stored profile, or ``NotFound``."""
        # SQLite ids are signed 64-bit; a larger D-Bus 't' cannot name a profile.
        profile = await self.repo.get(profile_id) if 0 < profile_id < 2**63 else None
        if profile is None:
            raise NotFound(f"there is no profile with id {profile_id}")
        return profile

    async def create(self, raw: Mapping[str, Typed]) -> Profile:
        """Validate and store a new profile; the first profile becomes the default."""
        changes = validate_changes(raw, current=None)
        kind = self._type(changes.settings.get("type", DEFAULT_TYPE))
        if "aor" not in changes.settings:
            raise InvalidArgument(
                "Aor is required: a sip: or sips: URI such as sip:alice@example.com"
            )
        defaults: dict[str, Any] = {FIELDS[k]: v for k, v in kind.defaults.items()}
        settings = ProfileSettings(**{**defaults, **changes.settings, "type": kind.name})
        self._check_type_rules(kind, settings)
        old_default: int | None = None
        async with self.db.transaction():
            old_default = await self.repo.default_id()
            if old_default is None:
                settings = replace(settings, default=True)
            elif settings.default:
                await self.repo.set_default(None)
            else:
                old_default = None
            contact_user = secrets.token_hex(8)
            new_id = await self.repo.insert(settings, _aor_key(settings.aor), contact_user)
            await self.repo.set_passwords(new_id, changes.passwords)
            profile = Profile(new_id, settings, contact_user)
            demoted = await self.repo.get(old_default) if old_default is not None else None
        self._emit(ProfileCreated(profile))
        if demoted is not None:
            self._emit(ProfileChanged(demoted, ("Default",)))
        return profile

    async def update(self, profile_id: int, raw: Mapping[str, Typed]) -> tuple[str, ...]:
        """Validate and store changes; returns the properties whose value changed."""
        async with self.db.transaction():
            current = await self.get(profile_id)
            changes = validate_changes(raw, current=current.settings)
            settings = replace(current.settings, **changes.settings)
            self._check_type_rules(self._type(settings.type), settings)
            changed = tuple(
                name
                for name, f in FIELDS.items()
                if getattr(settings, f) != getattr(current.settings, f)
            )
            if not changed and await self.repo.passwords_equal(profile_id, changes.passwords):
                return ()
            old_default = await self.repo.default_id() if "Default" in changed else None
            if old_default is not None:
                await self.repo.set_default(None)
            await self.repo.update(profile_id, settings, _aor_key(settings.aor))
            await self.repo.set_passwords(profile_id, changes.passwords)
            profile = replace(current, settings=settings)
            demoted = await self.repo.get(old_default) if old_default is not None else None
        self._emit(ProfileChanged(profile, changed))
        if demoted is not None:
            self._emit(ProfileChanged(demoted, ("Default",)))
        return changed

    async def delete(self, profile_id: int) -> None:
        """Delete a profile nobody holds; the default passes to the lowest id."""
        async with self.db.transaction():
            current = await self.get(profile_id)
            holders = self.status(profile_id).holders
            if holders:
                raise InUse(
                    f"profile {profile_id} is enabled by {holders} client(s); "
                    "it can be deleted once they disable it"
                )
            await self.repo.delete(profile_id)
            promoted = None
            if current.settings.default:
                remaining = await self.repo.ids()
                if remaining:
                    await self.repo.set_default(remaining[0])
                    promoted = await self.repo.get(remaining[0])
        self._status.pop(profile_id, None)
        self._emit(ProfileDestroyed(profile_id))
        if promoted is not None:
            self._emit(ProfileChanged(promoted, ("Default",)))

    async def list_ids(self) -> list[int]:
        """Every profile id, ascending."""
        return await self.repo.ids()

    async def list_by_type(self, type_name: str) -> list[int]:
        """Ids of one type; an unknown type is an error unless profiles still use it."""
        found = await self.repo.ids("type = ?", (type_name,))
        if not found:
            self._type(type_name)
        return found

    async def list_by_aor(self, aor: str) -> list[int]:
        """Ids whose AOR is RFC 3261 §19.1.4-equivalent to ``aor``."""
        try:
            wanted = parse_uri(aor)
        except SipParseError as exc:
            raise InvalidArgument(f"{aor!r} is not a valid SIP URI: {exc}") from None
        return [
            pid
            for pid, stored in await self.repo.aor_candidates(aor_lookup_key(wanted))
            if uri_equivalent(parse_uri(stored), wanted)
        ]

    async def default_id(self) -> int:
        """The default profile's id, or ``NotFound`` when there are no profiles."""
        found = await self.repo.default_id()
        if found is None:
            raise NotFound("there is no default profile because no profile exists")
        return found
