"""Live status in the registry: exactly what changed, with the status before and after."""

from __future__ import annotations

from sipprofile.server.registry.events import DomainEvent, ProfileDestroyed, StatusChanged
from sipprofile.server.registry.model import IDLE, ProfileStatus
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.types import load_types


def registry_with_log() -> tuple[ProfileRegistry, list[DomainEvent]]:
    registry = ProfileRegistry(None, load_types())  # type: ignore[arg-type]  # no store needed
    events: list[DomainEvent] = []
    registry.subscribe(events.append)
    return registry, events


def test_set_status_reports_the_changed_properties_and_both_statuses() -> None:
    registry, events = registry_with_log()
    registry.set_status(1, state="registering", holders=0)
    registering = ProfileStatus(state="registering")
    assert events == [StatusChanged(1, ("State",), IDLE, registering)]
    registry.set_status(1, state="registered", expires=3600, last_error=("", ""))
    registered = ProfileStatus(state="registered", expires=3600)
    assert events[1] == StatusChanged(1, ("State", "Expires"), registering, registered)
    assert registry.status(1) == registered


def test_set_status_without_a_change_emits_nothing() -> None:
    registry, events = registry_with_log()
    registry.set_status(1, state="unregistered", expires=0)
    assert events == []
    registry.set_status(1, holders=1)
    registry.set_status(1, holders=1)
    assert len(events) == 1


def test_back_to_idle_keeps_no_status() -> None:
    registry, events = registry_with_log()
    registry.set_status(1, holders=2)
    registry.set_status(1, holders=0)
    assert registry.status(1) is IDLE
    assert len(registry.live) == 0  # nothing kept for an idle profile
    assert events[-1] == StatusChanged(1, ("Holders",), ProfileStatus(holders=2), IDLE)


def test_a_listener_of_stored_changes_only_hears_no_live_status() -> None:
    """``live=False`` (the sharing table): status, events and errors pass it by."""
    registry, everything = registry_with_log()
    stored: list[DomainEvent] = []
    registry.subscribe(stored.append, live=False)
    registry.set_status(1, state="registering")
    registry.raise_event(1, "registered")
    registry.raise_error(1, "org.example.Error.Timeout", "no answer")
    assert stored == []
    assert [type(e).__name__ for e in everything] == [
        "StatusChanged",
        "ProfileEventRaised",
        "ProfileErrorRaised",
    ]
    destroyed = ProfileDestroyed(7)
    registry.live.emit(destroyed)  # what the registry emits for stored changes
    assert stored == [destroyed]
    assert everything[-1] == destroyed
