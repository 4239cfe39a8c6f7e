"""Domain events to D-Bus signals, sent after the change they report is committed.

One function per kind of event, all in one place, so that what a client can observe
(ProfileEvent, ProfileError, PropertiesChanged, InterfacesAdded/Removed) is easy to
check against the introspection documents.
"""

from __future__ import annotations

from typing import Any

from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.server.registry.events import (
    DomainEvent,
    ProfileChanged,
    ProfileCreated,
    ProfileDestroyed,
    ProfileErrorRaised,
    ProfileEventRaised,
    StatusChanged,
)
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.store import profiles as store

from .introspection import STANDARD_INTERFACE_NAMES
from .managed_objects import encode_settings, interfaces_added_body
from .values import profile_properties, status_properties
from .wire import Premarshalled


class Announcer:
    """Turns each domain event into its signals on ``bus``."""

    def __init__(self, bus: MessageBus, registry: ProfileRegistry) -> None:
        self.bus = bus
        self.registry = registry

    def _signal(self, path: str, interface: str, member: str, sig: str, body: list[Any]) -> None:
        self.bus.send(Message.new_signal(path, interface, member, sig, body))

    def _profile_event(self, profile_id: int, event: str) -> None:
        self._signal(
            names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "ProfileEvent", "ts", [profile_id, event]
        )

    def _properties_changed(self, profile_id: int, changed: dict[str, Variant]) -> None:
        self._signal(
            names.profile_path(profile_id),
            names.PROPERTIES_INTERFACE,
            "PropertiesChanged",
            "sa{sv}as",
            [names.PROFILE_INTERFACE, changed, []],
        )

    def __call__(self, event: DomainEvent) -> None:
        """Send the signals of one event."""
        if isinstance(event, ProfileCreated):
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
        elif isinstance(event, StatusChanged):
            props = status_properties(self.registry.status(event.profile_id))
            self._properties_changed(event.profile_id, {n: props[n] for n in event.properties})
        elif isinstance(event, ProfileEventRaised):
            self._profile_event(event.profile_id, event.event)
        elif isinstance(event, ProfileErrorRaised):
            self._signal(
                names.REGISTRY_PATH,
                names.REGISTRY_INTERFACE,
                "ProfileError",
                "tss",
                [event.profile_id, event.error, event.message],
            )
        elif isinstance(event, ProfileDestroyed):
            path = names.profile_path(event.profile_id)
            interfaces = [names.PROFILE_INTERFACE, *STANDARD_INTERFACE_NAMES]
            self._signal(
                names.REGISTRY_PATH,
                names.OBJECT_MANAGER_INTERFACE,
                "InterfacesRemoved",
                "oas",
                [path, interfaces],
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
        self.bus.send(
            Premarshalled.signal(
                names.REGISTRY_PATH,
                names.OBJECT_MANAGER_INTERFACE,
                "InterfacesAdded",
                "oa{sa{sv}}",
                body,
            )
        )
        self._profile_event(profile.id, names.Event.CREATED)
