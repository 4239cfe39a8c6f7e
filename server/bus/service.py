"""The D-Bus face of the registry: one message handler serving every object.

Profiles have no exported object each. Like sd-bus's fallback vtables, one handler
answers for the whole ``/org/sipprofile/SipProfile1`` subtree and looks the profile up
when a call arrives; that is what keeps memory per stored profile near zero. Each
call is authorized (polkit, ``authorization.py``), validated against the contract,
handed to the registry, answered once, and domain events become signals after the
change is committed (hostnamed's shape).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.proto.schema import SETTINGS, STATUS
from sipprofile.server.errors import DomainError, InvalidArgument, ReadOnly
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.registry.sharing import Sharing
from sipprofile.server.tasks import TaskSet

from . import errors as bus_errors
from .authorization import PolkitAuthorizer
from .introspection import (
    STANDARD_INTERFACE_NAMES,
    node_xml,
    profile_node,
    profile_spec,
    registry_node,
    registry_spec,
)
from .managed_objects import (
    managed_objects_body,
)
from .messages import Premarshalled
from .signals import Announcer
from .values import profile_properties, unwrap, unwrap_dict

#: Profiles one ImportProfiles call may create (a sane bound on one transaction).
MAX_IMPORT: Final = 10_000

_log = logging.getLogger(__name__)

#: Paths above the registry: answered with child nodes so introspection can walk down.
_ANCESTORS: Final = {"/": "org", "/org": "sipprofile", "/org/sipprofile": "SipProfile1"}


#: dbus-daemon's default largest message on the system bus is 32 MiB; stay below it.
MAX_REPLY: Final = 30 * 1024 * 1024

#: Bulk replies this large leave megabytes of freed heap behind; give it back.
_TRIM_AFTER: Final = 1000


def release_free_memory() -> None:
    """Return freed heap to the system (glibc ``malloc_trim``; elsewhere a no-op).

    A 10,000-profile reply allocates tens of megabytes of short-lived rows and
    buffers; without this the daemon's resident size stays at its peak, which on a
    phone or a small gateway is memory taken from everything else.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class CallError(Exception):
    """A standard D-Bus error for a call that does not fit the interface."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


Handler = Callable[[Message, int], Awaitable[Message]]


class BusService:
    """Serves ``registry`` on ``bus`` under the names of ``sipprofile.proto.names``."""

    def __init__(
        self,
        bus: MessageBus,
        registry: ProfileRegistry,
        sharing: Sharing,
        authorizer: PolkitAuthorizer | None = None,
    ) -> None:
        self.bus = bus
        self.registry = registry
        self.sharing = sharing
        self.authorizer = authorizer  # None: every caller may call everything
        self._tasks = TaskSet("a bus call")
        reg = names.REGISTRY_INTERFACE
        prof = names.PROFILE_INTERFACE
        props = names.PROPERTIES_INTERFACE
        intro = names.INTROSPECTABLE_INTERFACE
        self._registry_methods: dict[tuple[str, str], Handler] = {
            (reg, "CreateProfile"): self._create_profile,
            (reg, "ImportProfiles"): self._import_profiles,
            (reg, "ListProfiles"): self._list_profiles,
            (reg, "ListProfilesByType"): self._list_by_type,
            (reg, "ListProfilesByAor"): self._list_by_aor,
            (reg, "GetProfile"): self._get_profile,
            (reg, "GetDefaultProfile"): self._get_default,
            (reg, "SupportedTypes"): self._supported_types,
            (names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"): self._managed_objects,
            (props, "Get"): self._registry_get,
            (props, "GetAll"): self._registry_get_all,
            (props, "Set"): self._registry_set,
            (intro, "Introspect"): self._registry_introspect,
        }
        self._profile_methods: dict[tuple[str, str], Handler] = {
            (prof, "Update"): self._update,
            (prof, "Delete"): self._delete,
            (prof, "Enable"): self._enable,
            (prof, "Disable"): self._disable,
            (prof, "IsEnabled"): self._is_enabled,
            (prof, "Refresh"): self._refresh,
            (prof, "ForceDisable"): self._force_disable,
            (props, "Get"): self._profile_get,
            (props, "GetAll"): self._profile_get_all,
            (props, "Set"): self._profile_set,
            (intro, "Introspect"): self._profile_introspect,
        }
        self._signatures: dict[tuple[str, str], str] = (
            {(reg, m): sig for m, (sig, _) in registry_spec().methods.items()}
            | {(prof, m): sig for m, (sig, _) in profile_spec().methods.items()}
            | {
                (names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"): "",
                (props, "Get"): "ss",
                (props, "GetAll"): "s",
                (props, "Set"): "ssv",
                (intro, "Introspect"): "",
            }
        )

    # ----------------------------------------------------------------- plumbing

    async def start(self) -> None:
        """Begin answering calls, forwarding domain events and watching clients leave."""
        self.bus.add_message_handler(self._on_message)
        self.registry.subscribe(Announcer(self.bus, self.registry))
        # Holds die with their client: hear about every unique name that goes away.
        await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[
                    "type='signal',sender='org.freedesktop.DBus',"
                    "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''"
                ],
            )
        )

    async def drain(self) -> None:
        """Stop taking calls and let the ones under way finish (graceful shutdown)."""
        self.bus.remove_message_handler(self._on_message)
        await self._tasks.wait(grace=5)

    def _on_message(self, msg: Message) -> bool | None:
        if msg.message_type is MessageType.SIGNAL:
            self._on_signal(msg)
            return None
        if msg.message_type is not MessageType.METHOD_CALL or msg.path is None:
            return None
        path = msg.path
        if not (path.startswith(names.REGISTRY_PATH) or path in _ANCESTORS):
            return None
        if msg.interface == names.PEER_INTERFACE:
            return None  # dbus-fast answers Ping and GetMachineId itself
        self._tasks.spawn(self._answer(msg))
        return True

    def _on_signal(self, msg: Message) -> None:
        if (
            msg.member == "NameOwnerChanged"
            and msg.sender == "org.freedesktop.DBus"
            and msg.signature == "sss"
            and msg.body[0].startswith(":")
            and not msg.body[2]
        ):
            self._tasks.spawn(self.sharing.release_client(msg.body[0]))

    async def _answer(self, msg: Message) -> None:
        try:
            reply = await self._route(msg)
        except DomainError as exc:
            reply = bus_errors.error_reply(msg, exc)
        except CallError as exc:
            reply = Message.new_error(msg, exc.name, exc.text)
        except Exception:
            _log.exception("%s.%s on %s failed", msg.interface, msg.member, msg.path)
            reply = Message.new_error(
                msg, names.Error.INTERNAL, "the daemon failed to do this; see its log"
            )
        if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            self.bus.send(reply)

    async def _route(self, msg: Message) -> Message:
        path = msg.path or ""
        if path in _ANCESTORS or path == names.PROFILES_PATH:
            if (msg.interface in (None, names.INTROSPECTABLE_INTERFACE)) and (
                msg.member == "Introspect"
            ):
                return await self._ancestor_introspect(msg)
            raise CallError(bus_errors.UNKNOWN_METHOD, f"{path} only supports Introspect")
        if path == names.REGISTRY_PATH:
            return await self._dispatch(msg, self._registry_methods, 0)
        profile_id = names.profile_id_from_path(path)
        if profile_id is None:
            raise CallError(bus_errors.UNKNOWN_OBJECT, f"there is no object at {path}")
        return await self._dispatch(msg, self._profile_methods, profile_id)

    async def _dispatch(
        self, msg: Message, table: dict[tuple[str, str], Handler], profile_id: int
    ) -> Message:
        member = msg.member or ""
        if msg.interface is None:
            key = next((k for k in table if k[1] == member), ("", member))
        else:
            key = (msg.interface, member)
        handler = table.get(key)
        if handler is None:
            raise CallError(
                bus_errors.UNKNOWN_METHOD,
                f"{msg.interface}.{member} does not exist on {msg.path}",
            )
        if self.authorizer is not None:  # first: a refused caller learns nothing more
            await self.authorizer.check(msg, key)
        if profile_id and not await self.registry.exists(profile_id):
            if member == "Introspect":
                raise CallError(bus_errors.UNKNOWN_OBJECT, f"there is no object at {msg.path}")
            await self.registry.get(profile_id)  # raises NotFound with its message
        expected = self._signatures[key]
        if msg.signature != expected:
            raise CallError(
                bus_errors.INVALID_ARGS,
                f"{key[0]}.{member} takes arguments of type '{expected}', not '{msg.signature}'",
            )
        return await handler(msg, profile_id)

    # ----------------------------------------------------------------- registry

    async def _create_profile(self, msg: Message, _: int) -> Message:
        profile = await self.registry.create(unwrap_dict(msg.body[0]))
        return Message.new_method_return(msg, "o", [names.profile_path(profile.id)])

    async def _import_profiles(self, msg: Message, _: int) -> Message:
        raws = msg.body[0]
        if len(raws) > MAX_IMPORT:
            raise InvalidArgument(f"{len(raws)} profiles in one import; at most {MAX_IMPORT}")
        profiles = await self.registry.create_many([unwrap_dict(raw) for raw in raws])
        return self._paths(msg, [profile.id for profile in profiles])

    @staticmethod
    def _paths(msg: Message, ids: list[int]) -> Message:
        return Message.new_method_return(msg, "ao", [[names.profile_path(i) for i in ids]])

    async def _list_profiles(self, msg: Message, _: int) -> Message:
        return self._paths(msg, await self.registry.list_ids())

    async def _list_by_type(self, msg: Message, _: int) -> Message:
        return self._paths(msg, await self.registry.list_by_type(msg.body[0]))

    async def _list_by_aor(self, msg: Message, _: int) -> Message:
        return self._paths(msg, await self.registry.list_by_aor(msg.body[0]))

    async def _get_profile(self, msg: Message, _: int) -> Message:
        profile = await self.registry.get(msg.body[0])
        return Message.new_method_return(msg, "o", [names.profile_path(profile.id)])

    async def _get_default(self, msg: Message, _: int) -> Message:
        found = await self.registry.default_id()
        return Message.new_method_return(msg, "o", [names.profile_path(found)])

    async def _supported_types(self, msg: Message, _: int) -> Message:
        return Message.new_method_return(msg, "a(ss)", [self.registry.types.supported()])

    async def _managed_objects(self, msg: Message, _: int) -> Message:
        items = await self.registry.wire_items()
        body = managed_objects_body(
            [(i, t, f or b"") for i, t, f in items],
            self.registry.status,
            self.registry.type_class,
        )
        if len(items) >= _TRIM_AFTER:
            asyncio.get_running_loop().call_later(1.0, release_free_memory)
        if len(body) > MAX_REPLY:
            # dbus-daemon would drop our whole connection for a message over its limit
            raise CallError(
                bus_errors.LIMITS_EXCEEDED,
                f"{len(items)} profiles make a {len(body) >> 20} MiB reply, more than the "
                f"bus carries; list them with ListProfiles and read each with GetAll",
            )
        return Premarshalled.reply(msg, "a{oa{sa{sv}}}", body)

    async def _registry_get(self, msg: Message, _: int) -> Message:
        raise CallError(
            bus_errors.UNKNOWN_PROPERTY, f"the registry has no property {msg.body[1]!r}"
        )

    async def _registry_get_all(self, msg: Message, _: int) -> Message:
        if msg.body[0] not in (
            "",
            names.REGISTRY_INTERFACE,
            names.OBJECT_MANAGER_INTERFACE,
            *STANDARD_INTERFACE_NAMES,
        ):
            raise CallError(bus_errors.UNKNOWN_INTERFACE, f"no interface {msg.body[0]!r} here")
        return Message.new_method_return(msg, "a{sv}", [{}])

    _registry_set = _registry_get

    async def _registry_introspect(self, msg: Message, _: int) -> Message:
        return Message.new_method_return(msg, "s", [registry_node(["Profile"])])

    async def _ancestor_introspect(self, msg: Message) -> Message:
        path = msg.path or ""
        if path == names.PROFILES_PATH:
            xml = node_xml("", [str(i) for i in await self.registry.list_ids()])
        else:
            xml = node_xml("", [_ANCESTORS[path]])
        return Message.new_method_return(msg, "s", [xml])

    # ----------------------------------------------------------------- profiles

    async def _properties(self, profile_id: int) -> dict[str, Variant]:
        profile = await self.registry.get(profile_id)
        return profile_properties(
            profile,
            self.registry.status(profile_id),
            self.registry.type_class(profile.settings.type),
        )

    @staticmethod
    def _check_interface(name: str) -> None:
        if name not in ("", names.PROFILE_INTERFACE):
            raise CallError(bus_errors.UNKNOWN_INTERFACE, f"a profile has no interface {name!r}")

    async def _update(self, msg: Message, profile_id: int) -> Message:
        await self.registry.update(profile_id, unwrap_dict(msg.body[0]))
        return Message.new_method_return(msg)

    async def _delete(self, msg: Message, profile_id: int) -> Message:
        await self.sharing.delete(profile_id)
        return Message.new_method_return(msg)

    async def _enable(self, msg: Message, profile_id: int) -> Message:
        await self.sharing.enable(profile_id, msg.sender or "")
        return Message.new_method_return(msg)

    async def _disable(self, msg: Message, profile_id: int) -> Message:
        await self.sharing.disable(profile_id, msg.sender or "")
        return Message.new_method_return(msg)

    async def _is_enabled(self, msg: Message, profile_id: int) -> Message:
        enabled = self.sharing.is_enabled(profile_id, msg.sender or "")
        return Message.new_method_return(msg, "b", [enabled])

    async def _refresh(self, msg: Message, profile_id: int) -> Message:
        await self.sharing.refresh(profile_id, msg.sender or "")
        return Message.new_method_return(msg)

    async def _force_disable(self, msg: Message, profile_id: int) -> Message:
        await self.sharing.force_disable(profile_id)
        return Message.new_method_return(msg)

    async def _profile_get(self, msg: Message, profile_id: int) -> Message:
        interface, name = msg.body
        self._check_interface(interface)
        properties = await self._properties(profile_id)
        if name not in properties:
            raise CallError(bus_errors.UNKNOWN_PROPERTY, f"a profile has no property {name!r}")
        return Message.new_method_return(msg, "v", [properties[name]])

    async def _profile_get_all(self, msg: Message, profile_id: int) -> Message:
        if msg.body[0] in STANDARD_INTERFACE_NAMES:
            return Message.new_method_return(msg, "a{sv}", [{}])
        self._check_interface(msg.body[0])
        return Message.new_method_return(msg, "a{sv}", [await self._properties(profile_id)])

    async def _profile_set(self, msg: Message, profile_id: int) -> Message:
        interface, name, value = msg.body
        self._check_interface(interface)
        if name in STATUS:
            raise ReadOnly(f"{name} is a status property kept by the daemon; it cannot be written")
        if name not in SETTINGS:
            raise CallError(bus_errors.UNKNOWN_PROPERTY, f"a profile has no property {name!r}")
        await self.registry.update(profile_id, {name: unwrap(value)})
        return Message.new_method_return(msg)

    async def _profile_introspect(self, msg: Message, _: int) -> Message:
        return Message.new_method_return(msg, "s", [profile_node()])
