"""The bus connection under :class:`~sipprofile.client.registry.Registry`.

It owns three things the registry should not have to think about: turning every
failure into a typed exception, knowing the daemon's unique name (signals from
anyone else are ignored, since a unicast signal needs no match rule and anyone can
send one), and running reply hooks *in the bus reader*, in message order with the
signals, so that a reply filling the cache is never applied after a newer
``PropertiesChanged`` that happened to be processed before the awaiting coroutine
resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Final, Literal

from dbus_fast import BusType, Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import ErrorType
from dbus_fast.errors import DBusError

from sipprofile.client.errors import BusError, daemon_unavailable, from_dbus_error
from sipprofile.proto.busfix import harden
from sipprofile.proto.names import (
    BUS_NAME,
    OBJECT_MANAGER_INTERFACE,
    PEER_INTERFACE,
    PROPERTIES_INTERFACE,
    REGISTRY_INTERFACE,
    REGISTRY_PATH,
)

__all__ = ["BusKind", "Connection", "match_rules"]

_LOG = logging.getLogger(__name__)

BusKind = Literal["session", "system"]

_DBUS_NAME: Final = "org.freedesktop.DBus"
_DBUS_PATH: Final = "/org/freedesktop/DBus"
_BUS_TYPES: Final[dict[str, BusType]] = {"session": BusType.SESSION, "system": BusType.SYSTEM}
#: Calls in flight per connection. dbus-fast drops the whole connection when a
#: write would block (EAGAIN, python-dbus-next issue #153), which thousands of
#: concurrent calls provoke; this also stays under the bus daemon's limit on
#: pending replies per connection.
_MAX_IN_FLIGHT: Final = 64


def match_rules() -> list[str]:
    """Every signal the registry depends on, each restricted to the daemon as sender."""
    own = f"type='signal',sender='{BUS_NAME}'"
    registry = f"{own},path='{REGISTRY_PATH}'"
    return [
        f"{registry},interface='{REGISTRY_INTERFACE}',member='ProfileEvent'",
        f"{registry},interface='{REGISTRY_INTERFACE}',member='ProfileError'",
        f"{registry},interface='{OBJECT_MANAGER_INTERFACE}',member='InterfacesAdded'",
        f"{registry},interface='{OBJECT_MANAGER_INTERFACE}',member='InterfacesRemoved'",
        f"{own},interface='{PROPERTIES_INTERFACE}',member='PropertiesChanged',"
        f"path_namespace='{REGISTRY_PATH}'",
        # Daemon restarts: the unique name changes and the registry re-reads its cache.
        f"type='signal',sender='{_DBUS_NAME}',path='{_DBUS_PATH}',interface='{_DBUS_NAME}',"
        f"member='NameOwnerChanged',arg0='{BUS_NAME}'",
    ]


def _ignore_signal(msg: Message) -> None:
    del msg


def _ignore_owner(owner: str | None) -> None:
    del owner


def _ignore_close() -> None:
    pass


class Connection:
    """A private bus connection to sipprofiled. Open with :meth:`open`, then :meth:`start`."""

    def __init__(self, bus: MessageBus, where: str) -> None:
        """Wrap a connected bus; ``where`` names it in messages for people."""
        self.where = where
        #: Called with each signal from the daemon, in bus order.
        self.on_signal: Callable[[Message], None] = _ignore_signal
        #: Called with the daemon's new unique name (``None``: it left the bus).
        self.on_owner_changed: Callable[[str | None], None] = _ignore_owner
        #: Called once when the connection is gone, whoever closed it.
        self.on_closed: Callable[[], None] = _ignore_close
        self._bus = bus
        #: Calls may ask for polkit's authentication dialog (a person is there):
        #: ``ALLOW_INTERACTIVE_AUTHORIZATION``, as busctl sets on a terminal.
        self.interactive = False
        self._owner: str | None = None
        self._owner_known = False
        self._on_reply: dict[int, Callable[[Message], None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watcher: asyncio.Future[None] | None = None
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._closed = False

    @classmethod
    async def open(cls, *, bus: BusKind = "system", address: str | None = None) -> Connection:
        """Connect and authenticate; :class:`DaemonUnavailable` if the bus is unreachable."""
        if bus not in _BUS_TYPES:
            raise ValueError(f"bus must be 'session' or 'system', not {bus!r}")
        where = f"the bus at {address}" if address else f"the {bus} bus"
        try:
            message_bus = MessageBus(bus_address=address, bus_type=_BUS_TYPES[bus])
            await message_bus.connect()
            harden(message_bus)
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            raise daemon_unavailable(
                where, detail, name=ErrorType.NO_SERVER.value, bus_unreachable=True
            ) from exc
        return cls(message_bus, where)

    async def start(self) -> None:
        """Subscribe to every signal, then make sure the daemon is there.

        ``Ping`` starts the daemon when it is bus-activatable, and its reply names
        the daemon's unique name. Raises :class:`DaemonUnavailable` when it is not.
        """
        self._bus.add_message_handler(self._on_message)
        await asyncio.gather(
            *(
                self.call(_DBUS_PATH, _DBUS_NAME, "AddMatch", "s", [rule], dest=_DBUS_NAME)
                for rule in match_rules()
            )
        )
        # Not in _tasks: cancelling a task that awaits the bus's disconnect future
        # would cancel that shared future itself. It ends with the connection.
        self._watcher = asyncio.ensure_future(self._watch_disconnect())
        await self.call(REGISTRY_PATH, PEER_INTERFACE, "Ping", on_reply=self._learn_owner)

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed by us or lost)."""
        return self._closed

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background task that is cancelled when the connection closes."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Disconnect and wait until the socket is closed; idempotent."""
        if not self._closed:
            self._closed = True
            self.on_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._bus.connected:
            self._bus.disconnect()
            with contextlib.suppress(Exception):
                await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def call(
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
        """Call a method and return the reply's body; failures are typed exceptions.

        ``on_reply`` runs in the bus reader with the reply (or error) message,
        before any later message is processed.
        """
        if self._closed:
            raise BusError(
                f"the connection to {self.where} is closed", name=ErrorType.DISCONNECTED.value
            )
        msg = Message(
            destination=dest,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
            serial=self._bus.next_serial(),
            flags=(
                MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION
                if self.interactive
                else MessageFlag.NONE
            ),
        )
        try:
            async with self._in_flight:
                if on_reply is not None:
                    self._on_reply[msg.serial] = on_reply
                reply = await self._bus.call(msg)
        except DBusError as exc:
            raise from_dbus_error(exc, where=self.where) from exc
        except Exception as exc:
            raise BusError(
                f"lost the connection to {self.where}: {exc or type(exc).__name__}",
                name=ErrorType.DISCONNECTED.value,
            ) from exc
        finally:
            self._on_reply.pop(msg.serial, None)
        if reply is None:
            raise BusError(
                f"the connection to {self.where} was closed", name=ErrorType.DISCONNECTED.value
            )
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            error = DBusError(reply.error_name or ErrorType.FAILED.value, text, reply)
            raise from_dbus_error(error, where=self.where)
        if reply_signature is not None and reply.signature != reply_signature:
            raise BusError(
                f"{member} answered with signature {reply.signature!r}, "
                f"expected {reply_signature!r}",
                name=ErrorType.INVALID_SIGNATURE.value,
            )
        return list(reply.body)

    def _learn_owner(self, reply: Message) -> None:
        # A NameOwnerChanged processed before this reply is newer information.
        if not self._owner_known and reply.message_type is MessageType.METHOD_RETURN:
            self._owner = reply.sender
            self._owner_known = True

    async def _watch_disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        if not self._closed:
            self._closed = True
            self.on_closed()

    def _on_message(self, msg: Message) -> None:
        """Bus reader hook: reply hooks, owner tracking, signals; never claims a message."""
        try:
            if msg.message_type is not MessageType.SIGNAL:
                hook = self._on_reply.pop(msg.reply_serial, None) if msg.reply_serial else None
                if hook is not None:
                    hook(msg)
            elif msg.member == "NameOwnerChanged" and msg.interface == _DBUS_NAME:
                if msg.sender == _DBUS_NAME and msg.signature == "sss" and msg.body[0] == BUS_NAME:
                    self._owner = msg.body[2] or None
                    self._owner_known = True
                    self.on_owner_changed(self._owner)
            elif self._owner is not None and msg.sender == self._owner:
                self.on_signal(msg)
        except Exception:
            _LOG.exception("ignoring a message from %s that could not be handled", msg.sender)
