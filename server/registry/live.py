"""The live status of the profiles, and the listeners every domain event goes to.

Split from ``service.ProfileRegistry`` because a registration runs through it several
times (its status changes, its events): this module is compiled (setup.py's
``HOT_GLUE``), so a session's status reaches the bus's ``Announcer`` through compiled
code only. The registry keeps its methods of the same names, which delegate here; the
engine hands its sessions this table's own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .events import DomainEvent, ProfileErrorRaised, ProfileEventRaised, StatusChanged
from .model import IDLE, ProfileStatus

_log = logging.getLogger(__name__)

Listener = Callable[[DomainEvent], None]


class LiveStatus:
    """Status of the profiles that are not idle, and who hears of every change."""

    __slots__ = ("_listeners", "_live_listeners", "_status")

    def __init__(self) -> None:
        #: Status of profiles that are not idle; absent means ``IDLE``. Keeping only
        #: live ones is what lets 10,000 stored profiles cost almost no memory.
        self._status: dict[int, ProfileStatus] = {}
        self._listeners: list[Listener] = []
        #: Those of them that hear live status, events and errors too.
        self._live_listeners: list[Listener] = []

    def __len__(self) -> int:
        """Profiles with a status of their own (the others are idle)."""
        return len(self._status)

    def subscribe(self, listener: Listener, *, live: bool = True) -> None:
        """Call ``listener`` with every domain event from now on.

        ``live=False``: only with the stored profiles' changes (created, changed,
        destroyed), not with live status, events and errors. Those come several
        times per registration, thousands a second at a gateway's start, and a
        listener that ignores them (``Sharing``) is then not called at all.
        """
        self._listeners.append(listener)
        if live:
            self._live_listeners.append(listener)

    def emit(self, event: DomainEvent) -> None:
        """Tell every listener; one that fails is logged and the others still hear."""
        _tell(self._listeners, event)

    def status(self, profile_id: int) -> ProfileStatus:
        """Live status; every idle profile shares one value."""
        return self._status.get(profile_id, IDLE)

    def forget(self, profile_id: int) -> None:
        """The profile is gone: nothing of its status is kept."""
        self._status.pop(profile_id, None)

    def set_status(self, profile_id: int, **changes: Any) -> None:
        """Change live status fields and announce exactly the properties that changed.

        Called several times per registration by the engine, so it compares the
        given fields only and builds the new status once.
        """
        current = self._status.get(profile_id, IDLE)
        changed = current.changed_by(changes)
        if not changed:
            return
        updated = current.but(changes)
        if updated.is_idle():
            self._status.pop(profile_id, None)
        else:
            self._status[profile_id] = updated
        _tell(self._live_listeners, StatusChanged(profile_id, changed, current, updated))

    def raise_event(self, profile_id: int, event: str) -> None:
        """Announce a ``ProfileEvent`` that no stored change stands behind."""
        _tell(self._live_listeners, ProfileEventRaised(profile_id, event))

    def raise_error(self, profile_id: int, error: str, message: str) -> None:
        """Announce a registration failure (full error name, message for a person)."""
        _tell(self._live_listeners, ProfileErrorRaised(profile_id, error, message))


def _tell(listeners: list[Listener], event: DomainEvent) -> None:
    """Call each listener; one that fails is logged and the others still hear."""
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            _log.exception("listener failed on %s", type(event).__name__)
