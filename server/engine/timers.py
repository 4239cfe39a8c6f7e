"""Every session's next deadline behind one asyncio timer.

A registration moves its deadline at every step (timer E of each request, then the
refresh), so with one ``loop.call_at`` per session each step cancels a
``TimerHandle`` and pushes a new one onto asyncio's heap, whose ordering runs a
Python ``__lt__`` per comparison: with thousands of sessions that was a tenth of the
daemon's CPU while registering. Here the deadlines live in one heap of plain
``(deadline, ticket, callback)`` tuples, compared in C, and one asyncio timer is set
to the earliest. Replacing a deadline only disarms its ``Alarm``; the stale entry is
dropped when it reaches the top, or when stale entries outnumber live ones.

A cancelled alarm lets go of its callback at once: the heap keeps only the empty
alarm (40 bytes) until then. Holding the callback would keep its owner alive until
the old deadline, and a session laid to rest is cancelled minutes before its
refresh (issue 7: that kept every resting session's 3 KB graph alive).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Final

#: As asyncio does, a deadline within the clock's resolution of now is due.
_RESOLUTION: Final = time.get_clock_info("monotonic").resolution
#: Rebuild the heap when it holds this many more entries than live deadlines.
_COMPACT_SLACK: Final = 256


class Alarm:
    """One deadline's callback, None once it was called back or cancelled."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback: Callable[[], None] | None = callback

    def __lt__(self, other: Alarm) -> bool:
        """Equal deadlines fire in any order: the heap compares alarms only then."""
        return False


class Timers:
    """Deadlines on the loop's clock, each calling back once unless cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        #: The loop the deadlines are kept on; sessions take theirs from here (asking
        #: asyncio costs a ``getpid`` each, thousands of times at start-up).
        self.loop = loop or asyncio.get_running_loop()
        #: (deadline, alarm): two items, not three with a counter to break ties (the
        #: alarms' ``__lt__`` does): a resting registration's entry is 40 bytes less.
        self._heap: list[tuple[float, Alarm]] = []
        #: How many alarms are armed: not yet called back or cancelled.
        self._live = 0
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0

    def __len__(self) -> int:
        return self._live

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Alarm:
        """Call ``callback`` at ``deadline`` (loop time); returns the alarm to cancel."""
        alarm = Alarm(callback)
        self._live += 1
        heapq.heappush(self._heap, (deadline, alarm))
        if self._handle is None or deadline < self._armed_at:
            self._arm(deadline)
        elif len(self._heap) > 2 * self._live + _COMPACT_SLACK:
            self._compact()
        return alarm

    def cancel(self, alarm: Alarm) -> None:
        """Disarm ``alarm`` (one already called back or cancelled is fine)."""
        if alarm.callback is not None:
            alarm.callback = None
            self._live -= 1

    def hand_over(self, alarm: Alarm, callback: Callable[[], None]) -> bool:
        """Have an armed ``alarm`` call ``callback`` instead; False if it is not armed.

        The same deadline for a new owner, without a second heap entry: a session
        laid to rest hands its refresh deadline to its record, and back.
        """
        if alarm.callback is None:
            return False
        alarm.callback = callback
        return True

    def close(self) -> None:
        """Drop every deadline and the asyncio timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        for _, alarm in self._heap:
            alarm.callback = None
        self._heap.clear()
        self._live = 0

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = deadline
        self._handle = self.loop.call_at(deadline, self._fire)

    def _compact(self) -> None:
        """Keep only live entries: many deadlines were replaced far from their time."""
        self._heap = [entry for entry in self._heap if entry[1].callback is not None]
        heapq.heapify(self._heap)

    def _fire(self) -> None:
        """Call back every deadline that is due, then wait for the next live one.

        A callback may set new deadlines; one due already runs in this same pass. A
        callback that raises is reported as asyncio reports a failed callback, and
        the others still run.
        """
        self._handle = None
        heap = self._heap
        now = self.loop.time() + _RESOLUTION
        while heap and heap[0][0] <= now:
            alarm = heapq.heappop(heap)[1]
            callback = alarm.callback
            if callback is not None:
                alarm.callback = None
                self._live -= 1
                try:
                    callback()
                except Exception as exc:
                    self.loop.call_exception_handler(
                        {"message": "timer callback failed", "exception": exc}
                    )
        while heap and heap[0][1].callback is None:  # stale tops: no wake-up for them
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
