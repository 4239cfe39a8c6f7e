"""The profile registry: create, read, update, delete, defaults and status.

Every write is one job on the database thread: it re-reads the profile, validates,
and writes inside one transaction, so concurrent calls cannot interleave and a
rejected call changes nothing.
Listeners hear about a change only after it is committed.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sipprofile.server.errors import InvalidArgument, NotFound
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.uri import aor_lookup_key, parse_uri, uri_equivalent
from sipprofile.server.store import profiles as store
from sipprofile.server.store.database import Database
from sipprofile.server.types import IETF, ProfileType, RegistrationBehaviour, TypeTable

from .aka import SQN_LIMIT
from .events import (
    DomainEvent,
    ProfileChanged,
    ProfileCreated,
    ProfileDestroyed,
)
from .live import Listener, LiveStatus
from .model import (
    FIELDS,
    Profile,
    ProfileSettings,
    ProfileStatus,
    Typed,
    UsimSecrets,
    ValidChanges,
)
from .validation import parse_uri_cached, redact, validate_changes

_log = logging.getLogger(__name__)

DEFAULT_TYPE = "IETF"

#: Bump when ``sip.uri.aor_lookup_key`` changes: stored keys are recomputed at start.
AOR_KEY_FORMAT = 1


def _aor_key(aor: str) -> str:
    return aor_lookup_key(parse_uri_cached(aor))


class ProfileRegistry:
    """The daemon's profiles, persisted in ``db``, typed by ``types``."""

    def __init__(
        self,
        db: Database,
        types: TypeTable,
        encode_wire: Callable[[store.Row], bytes] | None = None,
    ) -> None:
        self.db = db
        #: Keeps each row's stored wire fragment in step with its settings (see
        #: ``bus.managed_objects``); None where nobody serves bulk replies.
        self._encode_wire = encode_wire
        self.types = types
        #: Live status and listeners, in a compiled table (``live.py`` says why).
        self.live = LiveStatus()

    def subscribe(self, listener: Listener, *, live: bool = True) -> None:
        """Call ``listener`` with every domain event from now on (``LiveStatus.subscribe``)."""
        self.live.subscribe(listener, live=live)

    def _emit(self, event: DomainEvent) -> None:
        self.live.emit(event)

    def status(self, profile_id: int) -> ProfileStatus:
        """Live status; every idle profile shares one value."""
        return self.live.status(profile_id)

    def set_status(self, profile_id: int, **changes: Any) -> None:
        """Change live status fields and announce exactly the properties that changed."""
        self.live.set_status(profile_id, **changes)

    def raise_event(self, profile_id: int, event: str) -> None:
        """Announce a ``ProfileEvent`` that no stored change stands behind."""
        self.live.raise_event(profile_id, event)

    def raise_error(self, profile_id: int, error: str, message: str) -> None:
        """Announce a registration failure (full error name, message for a person)."""
        self.live.raise_error(profile_id, error, message)

    async def passwords(self, profile_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Stored passwords of many profiles by server, in one job (engine only)."""
        return await self.db.run(partial(store.passwords, profile_ids=list(profile_ids)))

    async def usim_keys(self, profile_id: int) -> UsimSecrets | None:
        """The software USIM keys of a profile (engine only); None when it has none."""
        return await self.db.run(partial(store.usim_secrets, profile_id=profile_id))

    async def save_sqn(self, profile_id: int, sqn: int) -> None:
        """Keep ``sqn`` as the highest SQN accepted, if it is higher than the stored one.

        The engine calls it after a successful authentication, before answering the
        challenge: a USIM that forgot an accepted SQN would accept the same challenge
        again (a replay). So the write is its own transaction, synced to disk before
        this returns (one fsync per authentication, which is rare), and monotonic: a
        late write from an older challenge cannot move the counter back. It is the
        USIM's state, not a setting a client changed, so there is no event and no
        signal. A profile without AKA keys (removed meanwhile) is left alone.
        """
        if not 0 <= sqn < SQN_LIMIT:
            raise ValueError(f"SQN must be between 0 and 2**48 - 1, got {sqn}")
        await self.db.write(partial(store.save_sqn, profile_id=profile_id, sqn=sqn), synced=True)

    async def always_on_ids(self) -> list[int]:
        """Ids of the profiles that register without holders, in id order."""
        return await self.db.run(partial(store.ids, where="auto_registration = 1"))

    def type_class(self, type_name: str) -> str:
        """Class of a type; "other" for a plug-in type no longer installed."""
        found = self.types.get(type_name)
        return found.type_class if found else "other"

    def registration_behaviour(self, profile: Profile) -> RegistrationBehaviour:
        """How ``profile`` registers, as its type says (IETF's for a type since removed)."""
        settings = profile.settings
        kind = self.types.get(settings.type) or IETF
        if type(kind).registration_behaviour is ProfileType.registration_behaviour:
            return kind.behaviour  # decided per type: no settings to hand over (start-up cost)
        return kind.registration_behaviour({n: getattr(settings, f) for n, f in FIELDS.items()})

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
        return await self.db.run(partial(_get, profile_id=profile_id))

    async def find(self, profile_id: int) -> Profile | None:
        """The stored profile, or None."""
        return await self.db.run(partial(store.get, profile_id=profile_id))

    async def find_many(self, profile_ids: Iterable[int]) -> dict[int, Profile]:
        """The stored profiles of these ids (absent: none), read in one job."""
        ids = tuple(profile_ids)
        return await self.db.run(partial(store.get_many, profile_ids=ids))

    async def find_many_with_passwords(
        self, profile_ids: Iterable[int]
    ) -> tuple[dict[int, Profile], dict[int, dict[str, str]]]:
        """``find_many`` and ``passwords`` in one job and one query (engine only)."""
        ids = tuple(profile_ids)
        return await self.db.run(partial(store.get_many_with_passwords, profile_ids=ids))

    async def exists(self, profile_id: int) -> bool:
        """Whether the profile exists (for routing calls to it)."""
        return await self.db.run(partial(store.exists, profile_id=profile_id))

    async def wire_items(self) -> list[tuple[int, str, bytes | None]]:
        """(id, type, stored wire fragment) of every profile, for bulk replies."""
        return await self.db.run(store.wire_items)

    async def prepare_aor_keys(self) -> int:
        """Recompute stored AOR lookup keys if their definition changed since written."""
        return await self.db.write(
            lambda conn: store.rebuild_aor_keys(conn, _aor_key, str(AOR_KEY_FORMAT))
        )

    async def prepare_wire(self, version: str) -> int:
        """Encode stale wire fragments at start-up; returns how many were encoded."""
        encode = self._encode_wire
        if encode is None:
            return 0
        return await self.db.write(lambda conn: store.rebuild_wire(conn, encode, version))

    def _wire(self, settings: ProfileSettings) -> bytes | None:
        """The wire fragment of settings about to be written (the id is not part of it)."""
        if self._encode_wire is None:
            return None
        return self._encode_wire(store.settings_row(settings))

    def _touch(self, conn: sqlite3.Connection, *profile_ids: int | None) -> None:
        if self._encode_wire is not None:
            ids = [i for i in profile_ids if i is not None]
            store.refresh_wire(conn, ids, self._encode_wire)

    async def create(self, raw: Mapping[str, Typed]) -> Profile:
        """Validate and store a new profile; the first profile becomes the default."""
        [profile] = await self.create_many([raw])
        return profile

    async def create_many(self, raws: Sequence[Mapping[str, Typed]]) -> list[Profile]:
        """Validate every new profile, then store them all in one transaction, or none.

        What ``sipprofilectl import`` needs: a file of profiles is taken whole or not at
        all, each checked exactly as ``CreateProfile`` checks one. An error names the
        profile by its position (from 1) when there are several. Of several marked
        ``Default``, the last one wins, as if they had been created one by one.
        """
        prepared: list[_NewProfile] = []
        for number, raw in enumerate(raws, start=1):
            try:
                prepared.append(self._prepare(raw))
            except InvalidArgument as exc:
                if len(raws) == 1:
                    raise
                raise InvalidArgument(f"profile {number}: {exc}") from None

        def job(
            conn: sqlite3.Connection,
        ) -> tuple[list[tuple[Profile, bytes | None]], Profile | None]:
            created: dict[int, tuple[Profile, bytes | None]] = {}
            first_default = store.default_id(conn)
            for new in prepared:  # as if created one by one, in one transaction
                old_default = store.default_id(conn)
                final = new.settings
                if old_default is None:
                    final = replace(final, default=True)
                elif final.default:
                    store.set_default(conn, None)
                wire = self._wire(final)
                new_id = store.insert(conn, final, new.aor_key, new.contact_user, wire)
                if new.changes.passwords:
                    store.set_passwords(conn, new_id, new.changes.passwords)
                if new.changes.aka:
                    store.set_aka(conn, new_id, new.changes.aka)
                created[new_id] = (Profile(new_id, final, new.contact_user), wire)
                if final.default and old_default is not None:
                    self._touch(conn, old_default)  # its bus form says Default=false now
                    if old_default in created:  # one of ours: created, then demoted
                        earlier, _ = created[old_default]
                        settings = replace(earlier.settings, default=False)
                        created[old_default] = (
                            Profile(old_default, settings, earlier.contact_user),
                            self._wire(settings),
                        )
            demoted = None
            if first_default is not None and store.default_id(conn) != first_default:
                demoted = store.get(conn, first_default)
            return list(created.values()), demoted

        created, demoted = await self.db.write(job)
        for profile, wire in created:
            self._emit(ProfileCreated(profile, wire))
        if demoted is not None:
            self._emit(ProfileChanged(demoted, ("Default",)))
        return [profile for profile, _ in created]

    def _prepare(self, raw: Mapping[str, Typed]) -> _NewProfile:
        """A new profile's checked settings, secrets and Contact user, not yet stored."""
        changes = validate_changes(raw, current=None)
        kind = self._type(changes.settings.get("type", DEFAULT_TYPE))
        if "aor" not in changes.settings:
            raise InvalidArgument(
                "Aor is required: a sip: or sips: URI such as sip:alice@example.com"
            )
        defaults: dict[str, Any] = {FIELDS[k]: v for k, v in kind.defaults.items()}
        settings = ProfileSettings(**{**defaults, **changes.settings, "type": kind.name})
        self._check_type_rules(kind, settings)
        return _NewProfile(settings, changes, _aor_key(settings.aor), secrets.token_hex(8))

    async def update(self, profile_id: int, raw: Mapping[str, Typed]) -> tuple[str, ...]:
        """Validate and store changes; returns the properties whose value changed."""

        def job(
            conn: sqlite3.Connection,
        ) -> tuple[Profile | None, tuple[str, ...], Profile | None, Profile | None, bool]:
            current = _get(conn, profile_id)
            changes = validate_changes(raw, current=current.settings)
            settings = replace(current.settings, **changes.settings)
            kind = self.types.get(settings.type)
            if kind is not None:  # a plug-in that was removed: its rules are gone with it
                self._check_type_rules(kind, settings)
            changed = tuple(
                name
                for name, f in FIELDS.items()
                if getattr(settings, f) != getattr(current.settings, f)
            )
            secrets = not store.secrets_equal(
                conn, profile_id, {**changes.passwords, **changes.aka}
            )
            if not changed and not secrets:
                return None, (), None, None, False
            old_default = store.default_id(conn) if "Default" in changed else None
            if old_default is not None:
                store.set_default(conn, None)
            store.update(conn, profile_id, settings, _aor_key(settings.aor), self._wire(settings))
            store.set_passwords(conn, profile_id, changes.passwords)
            store.set_aka(conn, profile_id, changes.aka)
            self._touch(conn, old_default)
            demoted = store.get(conn, old_default) if old_default is not None else None
            return replace(current, settings=settings), changed, demoted, current, secrets

        profile, changed, demoted, previous, secrets = await self.db.write(job)
        if profile is not None:
            self._emit(ProfileChanged(profile, changed, previous, secrets))
        if demoted is not None:
            self._emit(ProfileChanged(demoted, ("Default",)))
        return changed

    async def delete(self, profile_id: int) -> None:
        """Delete a profile; the default passes to the lowest id.

        Whether anyone holds it is checked by the caller (``Sharing.delete``) on the
        event-loop thread, where holds change; never from the database thread.
        """

        def job(conn: sqlite3.Connection) -> Profile | None:
            current = _get(conn, profile_id)
            store.delete(conn, profile_id)
            if not current.settings.default:
                return None
            remaining = store.ids(conn)
            if not remaining:
                return None
            store.set_default(conn, remaining[0])
            self._touch(conn, remaining[0])
            return store.get(conn, remaining[0])

        promoted = await self.db.write(job)
        self.live.forget(profile_id)
        self._emit(ProfileDestroyed(profile_id))
        if promoted is not None:
            self._emit(ProfileChanged(promoted, ("Default",)))

    async def list_ids(self) -> list[int]:
        """Every profile id, ascending."""
        return await self.db.run(store.ids)

    async def list_by_type(self, type_name: str) -> list[int]:
        """Ids of one type; an unknown type is an error unless profiles still use it."""
        found = await self.db.run(partial(store.ids, where="type = ?", params=(type_name,)))
        if not found:
            self._type(type_name)
        return found

    async def list_by_aor(self, aor: str) -> list[int]:
        """Ids whose AOR is RFC 3261 §19.1.4-equivalent to ``aor``."""
        try:
            wanted = parse_uri(aor)
        except SipParseError as exc:
            raise InvalidArgument(f"{redact(aor)!r} is not a valid SIP URI: {exc}") from None
        candidates = await self.db.run(
            partial(store.aor_candidates, aor_key=aor_lookup_key(wanted))
        )
        return [
            pid for pid, stored in candidates if uri_equivalent(parse_uri_cached(stored), wanted)
        ]

    async def default_id(self) -> int:
        """The default profile's id, or ``NotFound`` when there are no profiles."""
        found = await self.db.run(store.default_id)
        if found is None:
            raise NotFound("there is no default profile because no profile exists")
        return found


def _get(conn: sqlite3.Connection, profile_id: int) -> Profile:
    profile = store.get(conn, profile_id)
    if profile is None:
        raise NotFound(f"there is no profile with id {profile_id}")
    return profile


@dataclass(frozen=True, slots=True)
class _NewProfile:
    """A validated profile to be created: settings, secrets, AOR key, Contact user."""

    settings: ProfileSettings
    changes: ValidChanges
    aor_key: str
    contact_user: str
