"""The engine's shared deadlines, on a real asyncio loop and its clock."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref

from sipprofile.server.engine.timers import Timers


async def _settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_deadlines_fire_in_order_once() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers()
    fired: list[str] = []
    now = loop.time()
    timers.call_at(now + 0.06, lambda: fired.append("c"))
    timers.call_at(now + 0.02, lambda: fired.append("a"))
    timers.call_at(now + 0.04, lambda: fired.append("b"))
    await _settle(0.15)
    assert fired == ["a", "b", "c"]
    assert len(timers) == 0


async def test_a_cancelled_deadline_never_fires() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers()
    fired: list[str] = []
    ticket = timers.call_at(loop.time() + 0.02, lambda: fired.append("gone"))
    timers.call_at(loop.time() + 0.04, lambda: fired.append("kept"))
    timers.cancel(ticket)
    timers.cancel(ticket)  # twice is harmless
    await _settle(0.1)
    assert fired == ["kept"]


class _Owner:
    """Something a deadline calls back into, as a session is."""

    def fire(self) -> None:
        raise AssertionError("cancelled")


async def test_a_cancelled_deadline_lets_go_of_its_callback_at_once() -> None:
    """A session laid to rest cancels its refresh deadline minutes before it is due:
    the heap must not keep the session alive until then."""
    loop = asyncio.get_running_loop()
    timers = Timers()
    owner = _Owner()
    gone = weakref.ref(owner)
    alarm = timers.call_at(loop.time() + 600, owner.fire)
    timers.call_at(loop.time() + 900, lambda: None)
    timers.cancel(alarm)
    del owner
    gc.collect()
    assert gone() is None
    assert len(timers) == 1
    timers.close()


async def test_an_earlier_deadline_rearms_the_timer() -> None:
    """A deadline earlier than the armed one must not wait for the later one."""
    loop = asyncio.get_running_loop()
    timers = Timers()
    fired: list[tuple[str, float]] = []
    start = loop.time()
    timers.call_at(start + 5.0, lambda: fired.append(("late", loop.time())))
    timers.call_at(start + 0.02, lambda: fired.append(("early", loop.time())))
    await _settle(0.1)
    assert [name for name, _ in fired] == ["early"]
    assert fired[0][1] < start + 1.0
    timers.close()


async def test_a_callback_may_set_a_deadline_later_than_the_next_one() -> None:
    """Set while firing, after an older deadline still in the heap: that one is not
    held back to the new one's time, and the pass ends without an error (the compiled
    build once trusted the ``None`` the handle had before the callbacks ran)."""
    loop = asyncio.get_running_loop()
    reported: list[object] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx.get("exception")))
    try:
        timers = Timers()
        fired: dict[str, float] = {}
        start = loop.time()

        def first() -> None:
            fired["first"] = loop.time()
            timers.call_at(start + 1.0, lambda: fired.setdefault("third", loop.time()))

        timers.call_at(start + 0.01, first)
        timers.call_at(start + 0.05, lambda: fired.setdefault("second", loop.time()))
        await _settle(1.1)
        assert list(fired) == ["first", "second", "third"]
        assert fired["second"] < start + 0.5  # at its own time, not at the third's
        assert reported == []
    finally:
        loop.set_exception_handler(None)


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx["message"]))
    try:
        timers = Timers()
        fired: list[str] = []
        now = loop.time()

        def broken() -> None:
            raise RuntimeError("boom")

        timers.call_at(now + 0.01, broken)
        timers.call_at(now + 0.01, lambda: fired.append("after"))
        await _settle(0.08)
        assert fired == ["after"]
        assert reported == ["timer callback failed"]
    finally:
        loop.set_exception_handler(None)


async def test_replaced_deadlines_do_not_pile_up() -> None:
    """Sessions replace far deadlines all the time: stale entries are compacted away."""
    loop = asyncio.get_running_loop()
    timers = Timers()
    fired: list[int] = []
    tickets: dict[int, int] = {}
    rng = random.Random(7)
    for round_ in range(50):
        for owner in range(100):
            old = tickets.get(owner)
            if old is not None:
                timers.cancel(old)
            when = loop.time() + 1000 + rng.random() * 1000
            tickets[owner] = timers.call_at(when, lambda o=owner, r=round_: fired.append(o))
    assert len(timers) == 100
    assert len(timers._heap) <= 2 * 100 + 256 + 1
    timers.close()
    assert len(timers) == 0 and not fired


async def test_many_random_deadlines_fire_at_or_after_their_time_in_order() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers()
    rng = random.Random(3)
    start = loop.time()
    fired: list[tuple[float, float]] = []
    wanted: list[float] = []
    cancelled = 0
    for _ in range(300):
        when = start + rng.random() * 0.2
        ticket = timers.call_at(when, lambda w=when: fired.append((w, loop.time())))
        if rng.random() < 0.3:
            timers.cancel(ticket)
            cancelled += 1
        else:
            wanted.append(when)
    await _settle(0.4)
    assert sorted(wanted) == [w for w, _ in fired]
    assert all(at >= w - 1e-6 for w, at in fired)  # due within the clock's resolution
    assert len(fired) == 300 - cancelled
