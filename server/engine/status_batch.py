"""A session's status changes, handed to the registry once per burst of events.

A 200 OK changes State, Contact, AORs, Expires and LastError at once, and a burst of
machine events would otherwise mean one ``set_status`` (and one merged signal's worth
of work) per event. Changes are noted here and applied together; an event or error
that reports them applies them first, so a client never hears of a registration
before its status says so.

It is also where a registration's state changes are logged, one INFO line each, with
the reason when an error came with it: every change a session makes to its status
passes through here, with the ``LastError`` it reports, so one place logs them all and
the line says what the bus says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from sipprofile.proto.names import ERROR_PREFIX
from sipprofile.proto.schema import State
from sipprofile.server.registry.model import NO_FLOW

_log = logging.getLogger(__name__)

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

    __slots__ = ("_changes", "_profile_id", "_sink", "_state")

    def __init__(
        self, sink: StatusSink, profile_id: int, state: object = State.UNREGISTERED
    ) -> None:
        """``state``: the profile's state now (a session resumed from rest: registered)."""
        self._sink = sink
        self._profile_id = profile_id
        #: None while nothing is noted: most of the time, for thousands of sessions.
        self._changes: dict[str, object] | None = None
        #: The state this session last gave the profile, for the log's "old -> new". A
        #: session starts on a profile with none running, which is unregistered: the
        #: session before it, if any, ended by setting that.
        self._state: object = state

    def set(self, **changes: object) -> None:
        """Note changes; the latest value of a field wins."""
        noted = self._changes
        if noted is None:
            self._changes = changes  # a new dict of this call's own
        else:
            noted.update(changes)

    def apply(self) -> None:
        """Hand the noted changes to the registry (and log a change of state)."""
        changes = self._changes
        if changes:
            self._changes = None
            self._sink.set_status(self._profile_id, **changes)
            if "state" in changes or "last_error" in changes:
                self._log_change(changes)

    def _log_change(self, changes: dict[str, object]) -> None:
        """One line per change of state, and per error reported without one.

        ``profile 3: registering -> registered (expires 3600 s)``, ``profile 3:
        registered -> retrying: Timeout: ...``; an error that leaves the state as it
        was (a connection refused again while retrying) is ``still retrying: ...``.
        Nothing is formatted unless INFO is logged: a thousand registrations at
        start-up pay two dictionary lookups each here.
        """
        old = self._state
        state = self._state = changes.get("state", old)
        error = changes.get("last_error")
        failure = error if isinstance(error, tuple) and len(error) == 2 and error[0] else None
        if (state == old and failure is None) or not _log.isEnabledFor(logging.INFO):
            return
        change = f"{old} -> {state}" if state != old else f"still {state}"
        if failure is not None:
            name = str(failure[0]).removeprefix(ERROR_PREFIX)
            _log.info("profile %d: %s: %s: %s", self._profile_id, change, name, failure[1])
        elif state == State.REGISTERED and "expires" in changes:
            _log.info("profile %d: %s (expires %s s)", self._profile_id, change, changes["expires"])
        else:
            _log.info("profile %d: %s", self._profile_id, change)

    def now(self, **changes: object) -> None:
        """Apply ``changes`` (and whatever was noted) at once."""
        self.set(**changes)
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
