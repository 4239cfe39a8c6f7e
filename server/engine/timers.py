"""Every session's next deadline behind one asyncio timer.

A registration moves its deadline at every step (timer E of each request, then the
refresh), so with one ``loop.call_at`` per session each step cancels a
``TimerHandle`` and pushes a new one onto asyncio's heap, whose ordering runs a
Python ``__lt__`` per comparison: with thousands of sessions that was a tenth of the
daemon's CPU while registering. Here the deadlines live in one heap of plain
``(deadline, ticket, callback)`` tuples, compared in C, and one asyncio timer is set
to the earliest. Replacing a deadline only forgets its ticket; the stale entry is
dropped when it reaches the top, or when stale entries outnumber live ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Final

#: As asyncio does, a deadline within the clock's resolution of now is due.
_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
#: Rebuild the heap when it holds this many more entries than live deadlines.
_COMPACT_SLACK: Final = 256


class Timers:
    """Deadlines on the loop's clock, each calling back once unless cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        #: The loop the deadlines are kept on; sessions take theirs from here (asking
        #: asyncio costs a ``getpid`` each, thousands of times at start-up).
        self.loop = loop or asyncio.get_running_loop()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        #: Tickets of the deadlines not yet called back or cancelled.
        self._live: set[int] = set()
        self._tickets = itertools.count(1)
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0

    def __len__(self) -> int:
        return len(self._live)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` at ``deadline`` (loop time); returns a ticket to cancel it."""
        ticket = next(self._tickets)
        self._live.add(ticket)
        heapq.heappush(self._heap, (deadline, ticket, callback))
        if self._handle is None or deadline < self._armed_at:
            self._arm(deadline)
        elif len(self._heap) > 2 * len(self._live) + _COMPACT_SLACK:
            self._compact()
        return ticket

    def cancel(self, ticket: int) -> None:
        """Forget the deadline of ``ticket`` (one already called or cancelled is fine)."""
        self._live.discard(ticket)

    def close(self) -> None:
        """Drop every deadline and the asyncio timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()
        self._live.clear()

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = deadline
        self._handle = self.loop.call_at(deadline, self._fire)

    def _compact(self) -> None:
        """Keep only live entries: many deadlines were replaced far from their time."""
        live = self._live
        self._heap = [entry for entry in self._heap if entry[1] in live]
        heapq.heapify(self._heap)

    def _fire(self) -> None:
        """Call back every deadline that is due, then wait for the next live one.

        A callback may set new deadlines; one due already runs in this same pass. A
        callback that raises is reported as asyncio reports a failed callback, and
        the others still run.
        """
        self._handle = None
        heap, live = self._heap, self._live
        now = self.loop.time() + _RESOLUTION
        while heap and heap[0][0] <= now:
            _, ticket, callback = heapq.heappop(heap)
            if ticket in live:
                live.remove(ticket)
                try:
                    callback()
                except Exception as exc:
                    self.loop.call_exception_handler(
                        {"message": "timer callback failed", "exception": exc}
                    )
        while heap and heap[0][1] not in live:  # stale tops: no wake-up for them
            heapq.heappop(heap)
        self._arm_for_top()

    def _arm_for_top(self) -> None:
        """Wake up for the earliest deadline, unless a callback armed for it already.

        A method of its own for a reason: within ``_fire``, after ``_handle = None``,
        mypy takes the handle to stay None although the callbacks may have armed
        it, and the compiled build checks that belief at run time (a TypeError that
        left older deadlines waiting for the newer one).
        """
        heap = self._heap
        if heap and (self._handle is None or heap[0][0] < self._armed_at):
            self._arm(heap[0][0])
