"""When registrations may start: a rate limit with bursts, and a start-up window.

A gateway holds thousands of registrations, and several things make all of them
want to send at once: the daemon starting, a shared TCP flow to the registrar
closing, the network coming back. Sent together they overflow a registrar's UDP
receive buffer (Kamailio's default is 256 KB: about 350 REGISTERs) and, over UDP,
ours with their answers; whatever is dropped is only retransmitted 500 ms later,
when the storm has grown. So every first REGISTER of a session (and every one after
it moved to a new flow) takes a slot from one ``Pacer`` first.

The pacer is the generic cell rate algorithm (GCRA, the token bucket as arithmetic):
at most ``burst`` back to back, then one every ``1/rate`` seconds. Pure arithmetic on
times passed in: no clock and no asyncio inside, so tests drive it with numbers.
``start_times`` adds the start-up spread: each always-on profile gets a random
moment in a window (so that boxes restarted together, or a registrar's whole
customer base after an outage, do not arrive in step), and the pacer's slots are
laid over those moments.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

#: Registrations started per second by default: 10,000 always-on profiles in 5 s.
#: On the 2-core development machine the daemon registers about 4,000 a second
#: with digest on loopback, so this leaves it room for everything else.
DEFAULT_RATE: Final = 2000.0
#: Started back to back at most: 200 REGISTERs (about 140 KB) fit the smallest
#: receive buffer a registrar is likely to have (Linux's default 208 KB), and their
#: 200 answers fit ours.
DEFAULT_BURST: Final = 200
#: Spread of the always-on starts by default: none beyond what the rate imposes.
#: A phone's one profile registers at once; a fleet of gateways restarted together
#: is given a window with ``--start-window``.
DEFAULT_WINDOW: Final = 0.0


#: Sums of intervals are inexact: a slot this close to the time asked is that time.
_ROUNDING: Final = 1e-9


class PacingError(ValueError):
    """A rate, burst or window that cannot work (the message says which)."""


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """How fast registrations may start, and over how long the always-on spread."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    window: float = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.rate == float("inf"):
            raise PacingError(f"the start rate must be a positive number, not {self.rate}")
        if self.burst < 1:
            raise PacingError(f"the start burst must be at least 1, not {self.burst}")
        if not 0 <= self.window < float("inf"):
            raise PacingError(f"the start window must be 0 or more seconds, not {self.window}")


class Pacer:
    """Hands out start times: ``burst`` at once, then ``rate`` a second."""

    def __init__(self, settings: PacingSettings) -> None:
        self.settings = settings
        self._interval = 1.0 / settings.rate
        #: How far ahead of its theoretical time a slot may be taken (the burst).
        self._tolerance = (settings.burst - 1) * self._interval
        #: The theoretical arrival time of the next slot (GCRA's TAT).
        self._next = float("-inf")

    def reserve(self, at: float) -> float:
        """Take the first slot at or after ``at``; returns its time.

        Callers reserve in any order; a slot is never given twice, and no
        ``interval`` of time ever holds more than ``burst`` slots plus one.
        """
        earliest = self._next - self._tolerance
        start = earliest if earliest > at + _ROUNDING else at
        self._next = max(self._next, start) + self._interval
        return start

    def delay(self, now: float) -> float:
        """Take the first free slot from ``now``; returns the seconds to wait for it."""
        return self.reserve(now) - now


def start_times(
    count: int,
    now: float,
    pacer: Pacer,
    random: Callable[[], float] = _random.random,
) -> list[float]:
    """When each of ``count`` always-on profiles starts, in the order given.

    Each gets a random moment in ``[now, now + window)``; the moments are then
    served in time order through ``pacer``, so a short window with many profiles
    stretches to what the rate allows and no burst exceeds the pacer's.
    """
    window = pacer.settings.window
    wanted = [now + window * random() if window else now for _ in range(count)]
    times = [0.0] * count
    for index in sorted(range(count), key=wanted.__getitem__):
        times[index] = pacer.reserve(wanted[index])
    return times


def due_batches(times: Sequence[float], tick: float, most: int) -> list[tuple[float, list[int]]]:
    """Group start times into batches: ``(when, indexes)``, in time order.

    The engine wakes once per batch rather than once per profile: the datagrams of
    a batch go out, and their answers are read, together, which costs the daemon
    about a third less CPU per registration than starting them one by one. A batch
    spans at most ``tick`` seconds and ``most`` profiles, and starts at its last
    member's time: members start late rather than early, so the pacer's limits
    hold with batching too.
    """
    batches: list[tuple[float, list[int]]] = []
    first = 0.0
    for index in sorted(range(len(times)), key=times.__getitem__):
        at = times[index]
        if batches and at < first + tick and len(batches[-1][1]) < most:
            batches[-1] = (at, batches[-1][1])
            batches[-1][1].append(index)
        else:
            first = at
            batches.append((at, [index]))
    return batches
