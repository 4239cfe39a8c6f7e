"""Fire-and-forget work that is still accounted for.

asyncio keeps only weak references to tasks, and an exception in a task nobody awaits
is reported late or never. Background work is kept here until it ends, its failure is
logged at once, and shutdown can wait for it or cancel it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

_log = logging.getLogger(__name__)


class TaskSet:
    """The background tasks of one component."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` in the background; a failure is logged, never lost."""

        async def guarded() -> Any:
            try:
                return await work
            except Exception:
                _log.exception("%s failed", self._what)
                return None

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self, grace: float) -> None:
        """Let the running tasks finish, for at most ``grace`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace)

    def cancel(self) -> None:
        """Cancel whatever is still running."""
        for task in list(self._tasks):
            task.cancel()
