"""Waiting on the bus for a profile's state, shared by the interop tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from busutil import Raw


async def wait_state(raw: Raw, path: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
    """The profile's properties once ``State`` is one of ``states``; fails after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        props = await raw.get_all(path)
        if props["State"] in states:
            return props
        assert loop.time() < deadline, f"state stayed {props['State']!r}: {props['LastError']}"
        await asyncio.sleep(0.02)


async def wait_for(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Return once ``check()`` is true; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
