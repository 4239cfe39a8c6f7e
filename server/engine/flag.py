"""A set-or-clear flag to wait on: ``asyncio.Event`` in 56 bytes instead of 800.

Every session has two (stopped; woken by a change of network), and a gateway has ten
thousand sessions. ``asyncio.Event`` carries a ``__dict__`` and a ``deque`` of waiters
from its creation, about 800 bytes, although almost no session ever waits on either:
here the waiters' list exists only while someone waits.
"""

from __future__ import annotations

import asyncio


class Flag:
    """``set``, ``clear``, ``is_set`` and ``wait``, as ``asyncio.Event`` has them."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._set

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """Clear the flag: later ``wait`` calls wait again."""
        self._set = False

    async def wait(self) -> None:
        """Return once the flag is set (at once if it is)."""
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            waiters = self._pending()
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)

    def _pending(self) -> list[asyncio.Future[None]] | None:
        """The waiters, as the attribute's declared type.

        mypy keeps ``self._waiters`` narrowed to the list assigned before an ``await``
        although ``set`` may have emptied it meanwhile, and mypyc (this module is
        compiled) turns that narrowing into a type check that fails on None.
        """
        return self._waiters
