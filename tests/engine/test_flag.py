"""The sessions' small flag behaves as the asyncio.Event it replaces."""

from __future__ import annotations

import asyncio

from sipprofile.server.engine.flag import Flag


async def test_waiters_wake_when_set_and_not_before() -> None:
    flag = Flag()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    await asyncio.wait_for(asyncio.gather(*waiters), 1.0)
    assert flag.is_set()
    await asyncio.wait_for(flag.wait(), 1.0)  # set: returns at once


async def test_clear_makes_wait_wait_again_and_a_cancelled_waiter_is_forgotten() -> None:
    flag = Flag()
    flag.set()
    flag.clear()
    assert not flag.is_set()
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert flag._waiters == []
    waiter = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    flag.set()
    await asyncio.wait_for(waiter, 1.0)


def test_a_flag_is_small() -> None:
    import sys

    assert not hasattr(Flag(), "__dict__")
    assert sys.getsizeof(Flag()) < 100
