"""A session's status changes, handed to the registry once per burst of events.

A 200 OK changes State, Contact, AORs, Expires and LastError at once, and a burst of
machine events would otherwise mean one ``set_status`` (and one merged signal's worth
of work) per event. Changes are noted here and applied together; an event or error
that reports them applies them first, so a client never hears of a registration
before its status says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sipprofile.server.registry.model import NO_FLOW

#: The status of a profile with no binding and no flow: after a deregistration, a
#: stop, or when the network went away.
UNBOUND: Final = MappingProxyType(
    {
        "flow": NO_FLOW,
        "registered_aors": (),
        "registered_contact": "",
        "service_route": (),
        "expires": 0,
        "negotiated_security": "",
    }
)


@dataclass(frozen=True, slots=True)
class StatusSink:
    """Where a session reports: the registry's status and event functions."""

    set_status: Callable[..., None]
    raise_event: Callable[[int, str], None]
    raise_error: Callable[[int, str, str], None]
    #: Store a software USIM's new highest SQN (profile id, SQN): not a status, but
    #: the one thing a registration writes back to the profile.
    save_sqn: Callable[[int, int], None] = lambda _profile_id, _sqn: None


class StatusBatch:
    """The noted, not yet applied, status changes of one profile."""

    __slots__ = ("_changes", "_profile_id", "_sink")

    def __init__(self, sink: StatusSink, profile_id: int) -> None:
        self._sink = sink
        self._profile_id = profile_id
        self._changes: dict[str, object] = {}

    def set(self, **changes: object) -> None:
        """Note changes; the latest value of a field wins."""
        self._changes.update(changes)

    def apply(self) -> None:
        """Hand the noted changes to the registry."""
        if self._changes:
            changes, self._changes = self._changes, {}
            self._sink.set_status(self._profile_id, **changes)

    def now(self, **changes: object) -> None:
        """Apply ``changes`` (and whatever was noted) at once."""
        self._changes.update(changes)
        self.apply()

    def event(self, name: str) -> None:
        """Raise a ``ProfileEvent`` after the changes it reports."""
        self.apply()
        self._sink.raise_event(self._profile_id, name)

    def save_sqn(self, sqn: int) -> None:
        """Have the USIM's new highest SQN stored."""
        self._sink.save_sqn(self._profile_id, sqn)

    def error(self, name: str, message: str) -> None:
        """Raise a ``ProfileError`` after the changes it reports."""
        self.apply()
        self._sink.raise_error(self._profile_id, name, message)
