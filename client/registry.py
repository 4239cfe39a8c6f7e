"""The client's entry point: one bus connection, a property cache, events.

Ordering is what makes the cache trustworthy, so it is done the BlueZ/bleak way:
subscribe to every signal first, read state second, and apply replies that fill
the cache *in the bus reader*, in message order with the signals, rather than when
the awaiting coroutine happens to resume (by then a later ``PropertiesChanged``
may already have been processed and would be overwritten by older data).

Nothing is read eagerly on connect: a gateway's 10,000 profiles make
``GetManagedObjects`` a 10 MB reply. A profile's properties are fetched with
``GetAll`` when a :class:`Profile` for it is first materialised; :meth:`load_all`
is there for callers that want everything at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Final, Literal, Self

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import ErrorType
from dbus_fast.errors import DBusError

from sipprofile.client.convert import settings_to_variants
from sipprofile.client.errors import (
    BusError,
    NotFound,
    SipProfileError,
    daemon_unavailable,
    from_dbus_error,
)
from sipprofile.client.events import (
    EventStream,
    ProfileErrorOccurred,
    ProfileEventOccurred,
    RegistryEvent,
    RegistryObserver,
)
from sipprofile.client.profile import CacheEntry, Profile
from sipprofile.proto.names import (
    BUS_NAME,
    OBJECT_MANAGER_INTERFACE,
    PEER_INTERFACE,
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

_DBUS_NAME: Final = "org.freedesktop.DBus"
_DBUS_PATH: Final = "/org/freedesktop/DBus"
_BUS_TYPES: Final = {"session": BusType.SESSION, "system": BusType.SYSTEM}
#: Errors the bus library gives for a profile object that is gone; the contract's
#: own answer for that is NotFound.
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


def _match_rules() -> list[str]:
    """Every signal the cache and the event API depend on, from the daemon only."""
    own = f"type='signal',sender='{BUS_NAME}'"
    registry = f"{own},path='{REGISTRY_PATH}'"
    return [
        f"{registry},interface='{REGISTRY_INTERFACE}',member='ProfileEvent'",
        f"{registry},interface='{REGISTRY_INTERFACE}',member='ProfileError'",
        f"{registry},interface='{OBJECT_MANAGER_INTERFACE}',member='InterfacesAdded'",
        f"{registry},interface='{OBJECT_MANAGER_INTERFACE}',member='InterfacesRemoved'",
        f"{own},interface='{PROPERTIES_INTERFACE}',member='PropertiesChanged',"
        f"path_namespace='{REGISTRY_PATH}'",
        # To follow daemon restarts: the unique name changes and the cache is re-read.
        f"type='signal',sender='{_DBUS_NAME}',path='{_DBUS_PATH}',interface='{_DBUS_NAME}',"
        f"member='NameOwnerChanged',arg0='{BUS_NAME}'",
    ]


class Registry:
    """A connection to sipprofiled's profile registry. Create with :meth:`connect`."""

    def __init__(self, bus: MessageBus, where: str) -> None:
        """Wrap a connected bus; use :meth:`connect`, which also subscribes."""
        self._bus = bus
        self._where = where
        self._owner: str | None = None
        self._owner_known = False
        self._entries: dict[str, CacheEntry] = {}
        self._removed: set[str] = set()
        self._on_reply: dict[int, Callable[[Message], None]] = {}
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._observers: list[RegistryObserver] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._fetch_limit = asyncio.Semaphore(_FETCH_CONCURRENCY)
        self._closed = False

    # -- lifecycle ------------------------------------------------------------

    @classmethod
    async def connect(
        cls, *, bus: Literal["session", "system"] = "system", address: str | None = None
    ) -> Registry:
        """Connect to the bus, subscribe to the daemon's signals, check it is there.

        ``address`` (a D-Bus address string) overrides ``bus``. Raises
        :class:`DaemonUnavailable` when the bus cannot be reached or the daemon is
        not on it (and cannot be activated).
        """
        if bus not in _BUS_TYPES:
            raise ValueError(f"bus must be 'session' or 'system', not {bus!r}")
        where = f"the bus at {address}" if address else f"the {bus} bus"
        try:
            message_bus = MessageBus(bus_address=address, bus_type=_BUS_TYPES[bus])
            await message_bus.connect()
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise daemon_unavailable(where, detail, name=ErrorType.NO_SERVER.value) from exc
        registry = cls(message_bus, where)
        try:
            await registry._start()
        except BaseException:
            await registry.aclose()
            raise
        return registry

    async def _start(self) -> None:
        self._bus.add_message_handler(self._on_message)
        await asyncio.gather(
            *(
                self._call(_DBUS_PATH, _DBUS_NAME, "AddMatch", "s", [rule], dest=_DBUS_NAME)
                for rule in _match_rules()
            )
        )
        self._spawn(self._watch_disconnect())
        # Ping activates the daemon if it is activatable, and its reply tells the
        # daemon's unique name, which every signal we accept must come from.
        await self._call(REGISTRY_PATH, PEER_INTERFACE, "Ping", on_reply=self._learn_owner)

    def _learn_owner(self, reply: Message) -> None:
        if not self._owner_known:
            self._owner = reply.sender
            self._owner_known = True

    async def _watch_disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._bus.wait_for_disconnect()
        self._closed = True
        for stream in list(self._streams):
            stream.end()

    async def aclose(self) -> None:
        """Disconnect; event iterators end, later calls raise :class:`BusError`."""
        if self._closed and not self._bus.connected:
            return
        self._closed = True
        for stream in list(self._streams):
            stream.end()
        for task in list(self._tasks):
            task.cancel()
        self._bus.disconnect()
        with contextlib.suppress(Exception):
            await self._bus.wait_for_disconnect()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- calls ----------------------------------------------------------------

    async def _call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        *,
        reply_signature: str | None = None,
        on_reply: Callable[[Message], None] | None = None,
        dest: str = BUS_NAME,
    ) -> list[Any]:
        """Call a method; errors become typed exceptions.

        ``on_reply`` runs in the bus reader, in order with signals (see module doc).
        """
        if self._closed:
            raise BusError(
                f"the connection to {self._where} is closed", name=ErrorType.DISCONNECTED.value
            )
        msg = Message(
            destination=dest,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
            serial=self._bus.next_serial(),
        )
        if on_reply is not None:
            self._on_reply[msg.serial] = on_reply
        try:
            reply = await self._bus.call(msg)
        except DBusError as exc:
            raise from_dbus_error(exc, where=self._where) from exc
        except Exception as exc:
            raise BusError(
                f"lost the connection to {self._where}: {exc or type(exc).__name__}",
                name=ErrorType.DISCONNECTED.value,
            ) from exc
        finally:
            self._on_reply.pop(msg.serial, None)
        if reply is None:
            raise BusError(
                f"the connection to {self._where} was closed", name=ErrorType.DISCONNECTED.value
            )
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            error = DBusError(reply.error_name or ErrorType.FAILED.value, text, reply)
            raise from_dbus_error(error, where=self._where)
        if reply_signature is not None and reply.signature != reply_signature:
            raise BusError(
                f"{member} answered with signature {reply.signature!r}, "
                f"expected {reply_signature!r}",
                name=ErrorType.INVALID_SIGNATURE.value,
            )
        return list(reply.body)

    async def _registry_call(
        self, member: str, signature: str = "", body: Sequence[Any] = (), reply: str = ""
    ) -> list[Any]:
        return await self._call(
            REGISTRY_PATH, REGISTRY_INTERFACE, member, signature, body,
            reply_signature=reply,
        )  # fmt: skip

    async def _profile_call(
        self,
        entry_path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: Sequence[Any] = (),
        **kwargs: Any,
    ) -> list[Any]:
        """A call on a profile object; a vanished object is ``NotFound``, as documented."""
        try:
            return await self._call(
                entry_path, interface, member, signature, body, **kwargs
            )
        except SipProfileError as exc:
            if exc.name in _GONE:
                raise NotFound(
                    f"profile {profile_id_from_path(entry_path)} does not exist", name=exc.name
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

    async def _entry(self, path: str) -> CacheEntry:
        """The cache entry for ``path``, fetched with GetAll if not cached yet."""
        entry = self._entries.get(path)
        if entry is None and path not in self._removed:
            async with self._fetch_limit:
                if path not in self._entries:
                    await self._fetch(path)
            entry = self._entries.get(path)
        if entry is None:
            raise NotFound(f"profile {profile_id_from_path(path)} does not exist")
        return entry

    async def _fetch(self, path: str) -> None:
        await self._profile_call(
            path, PROPERTIES_INTERFACE, "GetAll", "s", [PROFILE_INTERFACE],
            reply_signature="a{sv}", on_reply=partial(self._store_reply, path),
        )  # fmt: skip

    async def _profile(self, path: str) -> Profile:
        if profile_id_from_path(path) is None:
            raise BusError(f"the daemon returned {path!r}, which is not a profile path")
        return Profile(self, await self._entry(path))

    async def _profiles(self, paths: Iterable[str]) -> list[Profile]:
        """Materialise many profiles concurrently, skipping ones deleted meanwhile."""

        async def one(path: str) -> Profile | None:
            try:
                return await self._profile(path)
            except NotFound:
                return None

        found = await asyncio.gather(*(one(path) for path in paths))
        return [profile for profile in found if profile is not None]

    async def _resync(self) -> None:
        """After a daemon restart: re-read what is cached, drop what is gone."""
        for path in list(self._entries):
            try:
                async with self._fetch_limit:
                    await self._fetch(path)
            except NotFound:
                self._forget(path)
            except SipProfileError as exc:
                _LOG.warning("could not re-read %s after a daemon restart: %s", path, exc)

    # -- signals --------------------------------------------------------------

    def _on_message(self, msg: Message) -> None:
        """Bus reader hook: replies we wait on, then signals; never claims a message."""
        try:
            if msg.message_type is MessageType.SIGNAL:
                self._on_signal(msg)
            elif msg.reply_serial in self._on_reply:
                self._on_reply.pop(msg.reply_serial)(msg)
        except Exception:
            _LOG.exception("ignoring a malformed message from %s", msg.sender)

    def _on_signal(self, msg: Message) -> None:
        key = (msg.interface, msg.member, msg.signature)
        if key == (_DBUS_NAME, "NameOwnerChanged", "sss"):
            if msg.sender == _DBUS_NAME and msg.body[0] == BUS_NAME:
                self._owner = msg.body[2] or None
                self._owner_known = True
                if self._owner is not None and self._entries:
                    self._spawn(self._resync())
            return
        if self._owner is None or msg.sender != self._owner:
            return
        path = msg.path or ""
        if key == (REGISTRY_INTERFACE, "ProfileEvent", "ts") and path == REGISTRY_PATH:
            profile_id, event = msg.body
            if event == Event.DESTROYED:
                self._forget(profile_path(profile_id))
            self._dispatch(ProfileEventOccurred(profile_id, event))
        elif key == (REGISTRY_INTERFACE, "ProfileError", "tss") and path == REGISTRY_PATH:
            self._dispatch(ProfileErrorOccurred(*msg.body))
        elif key == (OBJECT_MANAGER_INTERFACE, "InterfacesAdded", "oa{sa{sv}}"):
            added, interfaces = msg.body
            props = interfaces.get(PROFILE_INTERFACE)
            # The signal carries what GetAll would return, so a creator needs no
            # extra round trip; a partial dictionary is not trusted as a snapshot.
            if props is not None and path == REGISTRY_PATH:
                self._removed.discard(added)
                if all(name in props for name in ("Id", "Aor", "State")):
                    self._store(added, props)
        elif key == (OBJECT_MANAGER_INTERFACE, "InterfacesRemoved", "oas"):
            removed, interfaces = msg.body
            if PROFILE_INTERFACE in interfaces and path == REGISTRY_PATH:
                self._forget(removed)
        elif key == (PROPERTIES_INTERFACE, "PropertiesChanged", "sa{sv}as"):
            interface, changed, invalidated = msg.body
            entry = self._entries.get(path)
            if interface == PROFILE_INTERFACE and entry is not None:
                entry.props.update(changed)
                if invalidated:
                    self._spawn(self._reread(entry, list(invalidated)))

    async def _reread(self, entry: CacheEntry, names: list[str]) -> None:
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
        """A new, independent async iterator of registry events, starting now."""
        stream = EventStream(self._streams.discard)
        if self._closed:
            stream.end()
        else:
            self._streams.add(stream)
        return stream

    def add_observer(self, observer: RegistryObserver) -> None:
        """Call ``observer`` for every registry event (once, however often added)."""
        if observer not in self._observers:
            self._observers.append(observer)

    def remove_observer(self, observer: RegistryObserver) -> None:
        """Stop calling ``observer``; unknown observers are ignored."""
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    async def create(self, settings: Mapping[str, object]) -> Profile:
        """Create a profile from plain settings (see :mod:`sipprofile.client.convert`)."""
        (path,) = await self._registry_call(
            "CreateProfile", "a{sv}", [settings_to_variants(settings)], "o"
        )
        return await self._profile(path)

    async def list(self) -> list[Profile]:
        """All profiles, in id order."""
        (paths,) = await self._registry_call("ListProfiles", reply="ao")
        return await self._profiles(paths)

    async def list_by_type(self, type_name: str) -> list[Profile]:
        """Profiles of one type (``InvalidArgument`` for an unsupported type)."""
        (paths,) = await self._registry_call("ListProfilesByType", "s", [type_name], "ao")
        return await self._profiles(paths)

    async def list_by_aor(self, aor: str) -> list[Profile]:
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

    async def supported_types(self) -> list[tuple[str, str]]:
        """(class, name) of every profile type the daemon serves."""
        (types,) = await self._registry_call("SupportedTypes", reply="a(ss)")
        return [(str(cls), str(name)) for cls, name in types]

    async def load_all(self) -> list[Profile]:
        """Fetch every profile with one ``GetManagedObjects``; returns them in id order."""

        def apply(reply: Message) -> None:
            if reply.message_type is not MessageType.METHOD_RETURN:
                return
            objects: dict[str, dict[str, Any]] = reply.body[0]
            for path, interfaces in objects.items():
                if PROFILE_INTERFACE in interfaces:
                    self._store(path, interfaces[PROFILE_INTERFACE])

        await self._call(
            REGISTRY_PATH, OBJECT_MANAGER_INTERFACE, "GetManagedObjects",
            reply_signature="a{oa{sa{sv}}}", on_reply=apply,
        )  # fmt: skip
        entries = sorted(self._entries.values(), key=lambda e: profile_id_from_path(e.path) or 0)
        return [Profile(self, entry) for entry in entries]

    # -- used by Profile ------------------------------------------------------

    async def _update(self, entry: CacheEntry, changes: Mapping[str, object]) -> None:
        await self._profile_call(
            entry.path, PROFILE_INTERFACE, "Update", "a{sv}", [settings_to_variants(changes)]
        )
        # Read-your-writes without relying on the daemon emitting PropertiesChanged
        # before its reply: one GetAll, applied in order like everything else.
        await self._reload(entry)

    async def _delete(self, entry: CacheEntry) -> None:
        await self._profile_call(entry.path, PROFILE_INTERFACE, "Delete")
        self._forget(entry.path)

    async def _reload(self, entry: CacheEntry) -> None:
        try:
            await self._fetch(entry.path)
        except NotFound:
            self._forget(entry.path)
            raise

