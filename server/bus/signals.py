"""Domain events to D-Bus signals, sent after the change they report is committed.

One function per kind of event, all in one place, so that what a client can observe
(ProfileEvent, ProfileError, PropertiesChanged, InterfacesAdded/Removed) is easy to
check against the introspection documents.

Live status is the hot path: a registration changes it two or three times in one
loop turn (``registered``, then the binding's fields) and raises an event, and a
gateway registers thousands of profiles. So status changes are not sent one by one:

- the changes of one profile within a loop turn are merged into one
  ``PropertiesChanged`` carrying every property whose value changed, with its latest
  value (a value that changed back is left out, as nothing changed);
- the held status, and ``ProfileEvent`` / ``ProfileError`` queued behind it, go out at
  the end of the loop turn (``loop.call_soon``) in one write to the bus socket;
- they go out earlier, before anything else is queued on the connection (any other
  signal, a method reply, a call of dbus-fast's own: ``busfix.hold_back``), so what a
  client observes keeps the order in which things happened. The one freedom taken:
  merged signals of different profiles keep the order of their first change.

Signals are written whole by ``wire.signal_bytes`` (no ``Variant`` objects, no
dbus-fast marshalling): for these small messages that costs about half as much, and
held signals must be bytes anyway to be written as one. ``bench.signals`` measures it.
"""

from __future__ import annotations

import asyncio
import logging

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.proto.busfix import hold_back
from sipprofile.server.registry.events import (
    DomainEvent,
    ProfileChanged,
    ProfileCreated,
    ProfileDestroyed,
    ProfileErrorRaised,
    ProfileEventRaised,
    StatusChanged,
)
from sipprofile.server.registry.model import ProfileStatus
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.store import profiles as store

from .introspection import STANDARD_INTERFACE_NAMES
from .managed_objects import encode_settings, interfaces_added_body
from .messages import Premarshalled, Prewritten
from .values import profile_properties, status_changes, status_values
from .wire import event_body, properties_changed_body, signal_bytes

_log = logging.getLogger(__name__)


class Announcer:
    """Turns each domain event into its signals on ``bus``."""

    def __init__(self, bus: MessageBus, registry: ProfileRegistry) -> None:
        self.bus = bus
        self.registry = registry
        #: Profile id -> (status last announced, latest status, properties the
        #: events named, whether more than one event was merged), in order of first
        #: change.
        self._status: dict[int, tuple[ProfileStatus, ProfileStatus, tuple[str, ...], bool]] = {}
        #: Whole signals written but not sent yet, in order.
        self._outbox: list[bytearray] = []
        self._last_serial = 0
        self._flush_scheduled = False
        hold_back(bus, self.flush)

    # ----------------------------------------------------------------- held signals

    def _schedule(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop turn to wait for
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._flush_scheduled = False
        try:
            self.flush()
        except Exception:
            _log.exception("sending signals failed")

    def _status_changed(self, event: StatusChanged) -> None:
        held = self._status.get(event.profile_id)
        if held is None:
            self._status[event.profile_id] = (event.previous, event.status, event.properties, False)
        else:
            merged = (held[0], event.status, held[2] + event.properties, True)
            self._status[event.profile_id] = merged
        self._schedule()

    def _write_status(self) -> None:
        """Held status changes become whole signals in the outbox."""
        held, self._status = self._status, {}
        for profile_id, (before, after, named, merged) in held.items():
            # one event names exactly what changed; merged ones may have changed back
            if merged:
                changes = status_changes(before, after, dict.fromkeys(named))
            else:
                changes = status_values(after, named)
            if not changes:
                continue
            try:
                body = properties_changed_body(names.PROFILE_INTERFACE, changes)
            except (ValueError, UnicodeError):  # not sendable; the others still are
                _log.exception("profile %d: status not announced", profile_id)
                continue
            self._write(
                names.profile_path(profile_id),
                names.PROPERTIES_INTERFACE,
                "PropertiesChanged",
                "sa{sv}as",
                body,
            )

    def _write(self, path: str, interface: str, member: str, sig: str, body: bytearray) -> None:
        serial = self._last_serial = self.bus.next_serial()
        self._outbox.append(signal_bytes(serial, path, interface, member, sig, body))

    def _hold(self, member: str, sig: str, body: bytearray) -> None:
        """Queue a registry signal behind the status changes held before it."""
        if self._status:
            self._write_status()
        self._write(names.REGISTRY_PATH, names.REGISTRY_INTERFACE, member, sig, body)
        self._schedule()

    def flush(self) -> None:
        """Send every held signal now, in one write (also called before any other send)."""
        if self._status:
            self._write_status()
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        if not self.bus.connected:
            _log.debug("bus gone: %d signals not sent", len(outbox))
            return
        data = outbox[0] if len(outbox) == 1 else bytearray().join(outbox)
        self.bus.send(Prewritten(data, self._last_serial))

    # ----------------------------------------------------------------- events

    def _send(self, msg: Message) -> None:
        """Send a signal that is not held: whatever is held goes first."""
        self.flush()
        self.bus.send(msg)

    def _profile_event(self, profile_id: int, event: str) -> None:
        self._hold("ProfileEvent", "ts", event_body(profile_id, event))

    def _properties_changed(self, profile_id: int, changed: dict[str, Variant]) -> None:
        self._send(
            Message.new_signal(
                names.profile_path(profile_id),
                names.PROPERTIES_INTERFACE,
                "PropertiesChanged",
                "sa{sv}as",
                [names.PROFILE_INTERFACE, changed, []],
            )
        )

    def __call__(self, event: DomainEvent) -> None:
        """Send, or hold until the end of the loop turn, the signals of one event."""
        if isinstance(event, StatusChanged):
            self._status_changed(event)
        elif isinstance(event, ProfileEventRaised):
            self._profile_event(event.profile_id, event.event)
        elif isinstance(event, ProfileErrorRaised):
            self._hold(
                "ProfileError", "tss", event_body(event.profile_id, event.error, event.message)
            )
        elif isinstance(event, ProfileCreated):
            self._created(event)
        elif isinstance(event, ProfileChanged):
            profile = event.profile
            if event.properties:
                props = profile_properties(
                    profile,
                    self.registry.status(profile.id),
                    self.registry.type_class(profile.settings.type),
                )
                self._properties_changed(profile.id, {n: props[n] for n in event.properties})
            self._profile_event(profile.id, names.Event.UPDATED)
        elif isinstance(event, ProfileDestroyed):
            path = names.profile_path(event.profile_id)
            interfaces = [names.PROFILE_INTERFACE, *STANDARD_INTERFACE_NAMES]
            self._send(
                Message.new_signal(
                    names.REGISTRY_PATH,
                    names.OBJECT_MANAGER_INTERFACE,
                    "InterfacesRemoved",
                    "oas",
                    [path, interfaces],
                )
            )
            self._profile_event(event.profile_id, names.Event.DESTROYED)

    def _created(self, event: ProfileCreated) -> None:
        """InterfacesAdded from the stored wire fragment, then ``created``."""
        profile = event.profile
        wire = event.wire or encode_settings(store.settings_row(profile.settings))
        body = interfaces_added_body(
            profile.id,
            wire,
            self.registry.status(profile.id),
            self.registry.type_class(profile.settings.type),
        )
        self._send(
            Premarshalled.signal(
                names.REGISTRY_PATH,
                names.OBJECT_MANAGER_INTERFACE,
                "InterfacesAdded",
                "oa{sa{sv}}",
                body,
            )
        )
        self._profile_event(profile.id, names.Event.CREATED)
