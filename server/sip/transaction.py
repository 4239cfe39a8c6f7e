"""RFC 3261 §17.1.2 non-INVITE client transaction, sans I/O.

The transaction is told the time (``now``) and what arrived; it answers with events
(bytes to send, a response for the transaction user, a timeout) and the next instant
it needs to be woken (``next_deadline``). The asyncio layer keeps one timer per
transaction and never sleeps on its own; tests drive it with a fake clock.

Retransmission (Timer E) happens only on unreliable transports; Timer F bounds the
whole transaction; Timer K lets late retransmitted finals be absorbed on UDP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Protocol

#: RFC 3261 §17.1.2.2 defaults: RTT estimate, maximum retransmit interval, and how
#: long the network may hold a message.
T1: Final = 0.5
T2: Final = 4.0
T4: Final = 5.0


class HasStatus(Protocol):
    """What the transaction needs of a response: its status code."""

    @property
    def status(self) -> int: ...


class State(enum.Enum):
    """Transaction states of RFC 3261 figure 6."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


# The event classes write out their ``__init__`` (``init=False``): mypyc (setup.py)
# compiles a written-out ``__init__``, while the one ``@dataclass`` generates stays
# interpreted, about 10x slower to construct. ``Final`` keeps the fields read-only for
# mypy, as ``frozen=True`` did; ``unsafe_hash`` keeps the hash a frozen class had.
@dataclass(slots=True, init=False, unsafe_hash=True)
class Send:
    """Write these bytes to the transport (the request, or a retransmission)."""

    data: Final[bytes]

    def __init__(self, data: bytes) -> None:
        self.data = data


@dataclass(slots=True, init=False, unsafe_hash=True)
class ResponseReceived:
    """A response for the transaction user; ``final`` for 200-699."""

    response: Final[HasStatus]
    final: Final[bool]

    def __init__(self, response: HasStatus, final: bool) -> None:
        self.response = response
        self.final = final


@dataclass(slots=True, init=False, unsafe_hash=True)
class TimedOut:
    """Timer F fired: no final response in 64*T1 (the user sees a 408)."""

    def __init__(self) -> None:
        pass


@dataclass(slots=True, init=False, unsafe_hash=True)
class TransportFailed:
    """The transport reported an error; the transaction is over."""

    reason: Final[str]

    def __init__(self, reason: str) -> None:
        self.reason = reason


Event = Send | ResponseReceived | TimedOut | TransportFailed


class ClientTransaction:
    """One non-INVITE request (REGISTER) and its responses."""

    def __init__(
        self,
        request: bytes,
        *,
        reliable: bool,
        t1: float = T1,
        t2: float = T2,
        t4: float = T4,
    ) -> None:
        self.request = request
        self.reliable = reliable
        self.state = State.TRYING
        self._t1, self._t2, self._t4 = t1, t2, t4
        self._interval = t1
        self._timer_e: float | None = None
        self._timer_f: float | None = None
        self._timer_k: float | None = None
        self._started = False

    @property
    def terminated(self) -> bool:
        """Whether the transaction is over (and can be forgotten)."""
        return self.state is State.TERMINATED

    def start(self, now: float) -> list[Event]:
        """Send the request and arm Timers E (unreliable only) and F."""
        if self._started:
            raise RuntimeError("transaction already started")
        self._started = True
        if not self.reliable:
            self._timer_e = now + self._interval
        self._timer_f = now + 64 * self._t1
        return [Send(self.request)]

    def next_deadline(self) -> float | None:
        """The earliest armed timer, or None when nothing is pending (no list built)."""
        best = self._timer_e
        for timer in (self._timer_f, self._timer_k):
            if timer is not None and (best is None or timer < best):
                best = timer
        return best

    def receive(self, response: HasStatus, now: float) -> list[Event]:
        """A response matched to this transaction arrived."""
        if self.state in (State.COMPLETED, State.TERMINATED):
            return []  # a retransmitted final: absorbed
        if 100 <= response.status < 200:
            if self.state is State.TRYING:
                self.state = State.PROCEEDING
            return [ResponseReceived(response, final=False)]
        self._timer_e = None
        self._timer_f = None
        if self.reliable:
            self.state = State.TERMINATED
        else:
            # Timer K: stay to absorb retransmitted finals for as long as the
            # network may hold them.
            self.state = State.COMPLETED
            self._timer_k = now + self._t4
        return [ResponseReceived(response, final=True)]

    def timer(self, now: float) -> list[Event]:
        """Handle every timer due at ``now``."""
        events: list[Event] = []
        if self._timer_k is not None:
            if now >= self._timer_k:
                self._timer_k = None
                self.state = State.TERMINATED
            return events
        if self._timer_f is not None and now >= self._timer_f:
            self._timer_e = self._timer_f = None
            self.state = State.TERMINATED
            return [TimedOut()]
        if self._timer_e is not None and now >= self._timer_e:
            if self.state is State.TRYING:
                self._interval = min(2 * self._interval, self._t2)
            else:  # Proceeding: retransmit every T2
                self._interval = self._t2
            self._timer_e = now + self._interval
            events.append(Send(self.request))
        return events

    def transport_error(self, reason: str) -> list[Event]:
        """The transport failed to send or lost the connection (RFC 3261 §17.1.4)."""
        if self.state is State.TERMINATED:
            return []
        self._timer_e = self._timer_f = self._timer_k = None
        self.state = State.TERMINATED
        return [TransportFailed(reason)]
