"""The client's entry point: the profile registry, its property cache and its events.

Ordering is what makes the cache trustworthy, so it is done the BlueZ/bleak way:
subscribe to every signal first, read state second, and apply replies that fill
the cache in the bus reader, in message order with the signals (see
:mod:`sipprofile.client.connection`).

Nothing is read eagerly on connect: a gateway's 10,000 profiles make
``GetManagedObjects`` a 10 MB reply. A profile's properties are fetched with
``GetAll`` when a :class:`Profile` for it is first materialised; :meth:`load_all`
is there for callers that want everything at once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import weakref
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Final, Self

from dbus_fast import Message, MessageType
from dbus_fast.constants import ErrorType

from sipprofile.client.connection import BusKind, Connection
from sipprofile.client.convert import settings_to_variants
from sipprofile.client.errors import BusError, NotFound, SipProfileError
from sipprofile.client.events import (
    EventStream,
    ProfileErrorOccurred,
    ProfileEventOccurred,
    RegistryEvent,
    RegistryObserver,
)
from sipprofile.client.profile import CacheEntry, Profile
from sipprofile.proto.names import (
    OBJECT_MANAGER_INTERFACE,
    PROFILE_INTERFACE,
    PROPERTIES_INTERFACE,
    REGISTRY_INTERFACE,
    REGISTRY_PATH,
    Event,
    profile_id_from_path,
    profile_path,
)

__all__ = ["Registry"]

_LOG = logging.getLogger(__name__)

#: What the bus library answers for a profile object that is gone; the contract's
#: own word for that is NotFound.
_GONE: Final = frozenset(
    {
        ErrorType.UNKNOWN_OBJECT.value,
        ErrorType.UNKNOWN_METHOD.value,
        ErrorType.UNKNOWN_INTERFACE.value,
    }
)
#: Concurrent GetAll calls when materialising many profiles: enough to pipeline,
#: well under the bus daemon's per-connection limit on pending replies.
_FETCH_CONCURRENCY: Final = 32
_UINT64_MAX: Final = 2**64 - 1


class Registry:
    """sipprofiled's profile registry, as one client connection sees it.

    Create with :meth:`connect`; close with :meth:`aclose` or ``async with``.
    All failures are :class:`~sipprofile.client.errors.SipProfileError` subclasses.
    """

    def __init__(self, connection: Connection) -> None:
        """Attach to an opened, not yet started connection; :meth:`connect` does this."""
        self._conn = connection
        connection.on_signal = self._on_signal
        connection.on_owner_changed = self._on_owner_changed
        connection.on_closed = self._on_closed
        self._entries: dict[str, CacheEntry] = {}
        #: Paths announced as deleted; ids are never reused, so this is final.
        self._removed: set[str] = set()
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._observers: builtins.list[RegistryObserver] = []
        self._fetch_limit = asyncio.Semaphore(_FETCH_CONCURRENCY)

    @classmethod
    async def connect(
        cls, *, bus: BusKind = "system", address: str | None = None, interactive: bool = False
    ) -> Registry:
        """Connect, subscribe to the daemon's signals, and check the daemon is there.

        ``address`` (a D-Bus address) overrides ``bus``. ``interactive``: calls let
        polkit ask the user to authenticate (for a program with a person in front of
        it, such as sipprofilectl on a terminal); without it a call that needs an
        administrator's password is refused with ``AccessDenied``. Raises
        :class:`~sipprofile.client.errors.DaemonUnavailable` when the bus cannot be
        reached or sipprofiled is not on it (and cannot be activated).
        """
        connection = await Connection.open(bus=bus, address=address)
        connection.interactive = interactive
        registry = cls(connection)
        try:
            await connection.start()
        except BaseException:
            await connection.close()
            raise
        return registry

    async def aclose(self) -> None:
        """Disconnect. Event iterators end; later calls raise :class:`BusError`."""
        await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _on_closed(self) -> None:
        for stream in list(self._streams):
            stream.end()

    # -- calls ----------------------------------------------------------------

    async def _registry_call(
        self, member: str, signature: str = "", body: Sequence[Any] = (), reply: str = ""
    ) -> builtins.list[Any]:
        return await self._conn.call(
            REGISTRY_PATH, REGISTRY_INTERFACE, member, signature, body, reply_signature=reply
        )

    async def _profile_call(
        self, path: str, interface: str, member: str, signature: str = "", *args: Any, **kw: Any
    ) -> builtins.list[Any]:
        """A call on a profile object; a vanished object is ``NotFound``, as documented."""
        try:
            return await self._conn.call(path, interface, member, signature, *args, **kw)
        except SipProfileError as exc:
            if exc.name in _GONE:
                raise NotFound(
                    f"profile {profile_id_from_path(path)} does not exist", name=exc.name
                ) from exc
            raise

    # -- cache ----------------------------------------------------------------

    def _store(self, path: str, props: Mapping[str, Any]) -> None:
        """Replace a profile's cached properties with a complete snapshot."""
        if path in self._removed or profile_id_from_path(path) is None:
            return
        entry = self._entries.get(path)
        if entry is None:
            self._entries[path] = CacheEntry(path, dict(props))
        else:
            entry.props.clear()
            entry.props.update(props)

    def _store_reply(self, path: str, reply: Message) -> None:
        if reply.message_type is MessageType.METHOD_RETURN and reply.signature == "a{sv}":
            self._store(path, reply.body[0])

    def _forget(self, path: str) -> None:
        self._removed.add(path)
        entry = self._entries.pop(path, None)
        if entry is not None:
            entry.removed = True

    async def _fetch(self, path: str) -> None:
        async with self._fetch_limit:
            await self._profile_call(
                path, PROPERTIES_INTERFACE, "GetAll", "s", [PROFILE_INTERFACE],
                reply_signature="a{sv}", on_reply=partial(self._store_reply, path),
            )  # fmt: skip

    async def _profile(self, path: str) -> Profile:
        """The :class:`Profile` for ``path``, fetching its properties if not cached."""
        if profile_id_from_path(path) is None:
            raise BusError(f"the daemon returned {path!r}, which is not a profile path")
        if path not in self._entries and path not in self._removed:
            await self._fetch(path)
        entry = self._entries.get(path)
        if entry is None:
            raise NotFound(f"profile {profile_id_from_path(path)} does not exist")
        return Profile(self, entry)

    async def _profiles(self, paths: Iterable[str]) -> builtins.list[Profile]:
        """Materialise many profiles concurrently, skipping ones deleted meanwhile."""

        async def one(path: str) -> Profile | None:
            try:
                return await self._profile(path)
            except NotFound:
                return None

        found = await asyncio.gather(*(one(path) for path in paths))
        return [profile for profile in found if profile is not None]

    def _on_owner_changed(self, owner: str | None) -> None:
        if owner is not None:
            self._removed.clear()
            if self._entries:
                self._conn.spawn(self._resync())

    async def _resync(self) -> None:
        """After a daemon restart: re-read what is cached, drop what is gone."""

        async def one(path: str) -> None:
            try:
                await self._fetch(path)
            except NotFound:
                self._forget(path)
            except SipProfileError as exc:
                _LOG.warning("could not re-read %s after a daemon restart: %s", path, exc)

        await asyncio.gather(*(one(path) for path in list(self._entries)))

    # -- signals (already checked to come from the daemon) --------------------

    def _on_signal(self, msg: Message) -> None:
        key = (msg.interface, msg.member, msg.signature)
        path = msg.path or ""
        if key == (PROPERTIES_INTERFACE, "PropertiesChanged", "sa{sv}as"):
            interface, changed, invalidated = msg.body
            entry = self._entries.get(path)
            if interface == PROFILE_INTERFACE and entry is not None:
                entry.props.update(changed)
                if invalidated:
                    self._conn.spawn(self._reread(entry, list(invalidated)))
            return
        if path != REGISTRY_PATH:
            return
        if key == (REGISTRY_INTERFACE, "ProfileEvent", "ts"):
            profile_id, event = msg.body
            if event == Event.DESTROYED:
                self._forget(profile_path(profile_id))
            self._dispatch(ProfileEventOccurred(profile_id, event))
        elif key == (REGISTRY_INTERFACE, "ProfileError", "tss"):
            self._dispatch(ProfileErrorOccurred(*msg.body))
        elif key == (OBJECT_MANAGER_INTERFACE, "InterfacesAdded", "oa{sa{sv}}"):
            added, interfaces = msg.body
            props = interfaces.get(PROFILE_INTERFACE)
            if props is not None:
                # Only a daemon whose database was replaced reuses an id; believe it.
                self._removed.discard(added)
            # The signal carries what GetAll would return, so the creator needs no
            # extra round trip; memory stays bounded by the live profiles.
            if props and "Id" in props:
                self._store(added, props)
        elif key == (OBJECT_MANAGER_INTERFACE, "InterfacesRemoved", "oas"):
            removed, interfaces = msg.body
            if PROFILE_INTERFACE in interfaces:
                self._forget(removed)

    async def _reread(self, entry: CacheEntry, names: builtins.list[str]) -> None:
        """Fetch invalidated properties; the old value stays until the new one arrives."""

        def apply(name: str, reply: Message) -> None:
            if reply.message_type is MessageType.METHOD_RETURN and reply.signature == "v":
                entry.props[name] = reply.body[0]

        for name in names:
            try:
                await self._profile_call(
                    entry.path, PROPERTIES_INTERFACE, "Get", "ss", [PROFILE_INTERFACE, name],
                    on_reply=partial(apply, name),
                )  # fmt: skip
            except SipProfileError as exc:
                _LOG.debug("could not re-read %s of %s: %s", name, entry.path, exc)

    def _dispatch(self, event: RegistryEvent) -> None:
        for stream in list(self._streams):
            stream.push(event)
        for observer in list(self._observers):
            try:
                if isinstance(event, ProfileEventOccurred):
                    observer.profile_registry_event_occurred(event.profile_id, event.event)
                else:
                    observer.profile_registry_error_occurred(
                        event.profile_id, event.error, event.message
                    )
            except Exception:
                _LOG.exception("registry observer %r failed", observer)

    # -- public API -----------------------------------------------------------

    def events(self) -> EventStream:
        """A new, independent async iterator of registry events from now on."""
        stream = EventStream(self._streams.discard)
        if self._conn.closed:
            stream.end()
        else:
            self._streams.add(stream)
        return stream

    def add_observer(self, observer: RegistryObserver) -> None:
        """Call ``observer`` for every registry event (once, however often added)."""
        if observer not in self._observers:
            self._observers.append(observer)

    def remove_observer(self, observer: RegistryObserver) -> None:
        """Stop calling ``observer``; an unknown observer is ignored."""
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    async def create(self, settings: Mapping[str, object]) -> Profile:
        """Create a profile from plain settings (see :mod:`sipprofile.client.convert`)."""
        variants = settings_to_variants(settings)
        (path,) = await self._registry_call("CreateProfile", "a{sv}", [variants], "o")
        return await self._profile(path)

    async def import_profiles(
        self, profiles: Sequence[Mapping[str, object]]
    ) -> builtins.list[Profile]:
        """Create several profiles in one transaction: all of them, or none.

        Each is checked as :meth:`create` checks one; ``InvalidArgument`` names the
        first faulty one by its position (from 1) and nothing is created.
        """
        variants = [settings_to_variants(settings) for settings in profiles]
        (paths,) = await self._registry_call("ImportProfiles", "aa{sv}", [variants], "ao")
        return await self._profiles(paths)

    async def list(self) -> builtins.list[Profile]:
        """All profiles, in id order."""
        (paths,) = await self._registry_call("ListProfiles", reply="ao")
        return await self._profiles(paths)

    async def list_by_type(self, type_name: str) -> builtins.list[Profile]:
        """Profiles of one type (``InvalidArgument`` for an unsupported type)."""
        (paths,) = await self._registry_call("ListProfilesByType", "s", [type_name], "ao")
        return await self._profiles(paths)

    async def list_by_aor(self, aor: str) -> builtins.list[Profile]:
        """Profiles whose AOR is equivalent to ``aor`` (RFC 3261 §19.1.4)."""
        (paths,) = await self._registry_call("ListProfilesByAor", "s", [aor], "ao")
        return await self._profiles(paths)

    async def get(self, id: int) -> Profile:
        """The profile with this id (``NotFound`` if there is none)."""
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError(f"a profile id is an int, not {type(id).__name__}")
        if not 0 < id <= _UINT64_MAX:
            raise NotFound(f"there is no profile {id}: ids are positive")
        (path,) = await self._registry_call("GetProfile", "t", [id], "o")
        return await self._profile(path)

    async def default(self) -> Profile:
        """The default profile (``NotFound`` when there are no profiles)."""
        (path,) = await self._registry_call("GetDefaultProfile", reply="o")
        return await self._profile(path)

    async def supported_types(self) -> builtins.list[tuple[str, str]]:
        """(class, name) of every profile type the daemon serves."""
        (types,) = await self._registry_call("SupportedTypes", reply="a(ss)")
        return [(str(cls), str(name)) for cls, name in types]

    async def load_all(self) -> builtins.list[Profile]:
        """Cache every profile with one ``GetManagedObjects``; returns them in id order.

        Deletions are left to the signals: a reply that the daemon assembled before
        a concurrent creation must not make us drop that profile.
        """

        def apply(reply: Message) -> None:
            if reply.message_type is MessageType.METHOD_RETURN:
                for path, interfaces in reply.body[0].items():
                    if PROFILE_INTERFACE in interfaces:
                        self._store(path, interfaces[PROFILE_INTERFACE])

        await self._conn.call(
            REGISTRY_PATH, OBJECT_MANAGER_INTERFACE, "GetManagedObjects",
            reply_signature="a{oa{sa{sv}}}", on_reply=apply,
        )  # fmt: skip
        entries = sorted(self._entries.values(), key=lambda e: profile_id_from_path(e.path) or 0)
        return [Profile(self, entry) for entry in entries]

    # -- used by Profile ------------------------------------------------------

    async def _update(self, entry: CacheEntry, changes: Mapping[str, object]) -> None:
        variants = settings_to_variants(changes)
        await self._profile_call(entry.path, PROFILE_INTERFACE, "Update", "a{sv}", [variants])
        # Read-your-writes without relying on the daemon emitting PropertiesChanged
        # before its reply: one GetAll, applied in order like everything else.
        await self._reload(entry)

    async def _call_member(self, entry: CacheEntry, member: str) -> object:
        """A Profile method without arguments; its single result or None."""
        body = await self._profile_call(entry.path, PROFILE_INTERFACE, member)
        return body[0] if body else None

    async def _delete(self, entry: CacheEntry) -> None:
        await self._profile_call(entry.path, PROFILE_INTERFACE, "Delete")
        self._forget(entry.path)

    async def _reload(self, entry: CacheEntry) -> None:
        try:
            await self._fetch(entry.path)
        except NotFound:
            self._forget(entry.path)
            raise
