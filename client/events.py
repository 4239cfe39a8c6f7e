"""Registry events: small frozen values, a queue-fed async iterator, and observers.

Two ways to listen, because clients come in two shapes: asyncio code wants
``async for event in registry.events()``; code ported from Symbian (or any
callback-style UI toolkit) wants ``MSIPProfileRegistryObserver``-like callbacks.
Both see the same signals, in the order the daemon sent them, after the registry's
cache has been updated by everything that arrived before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "EventStream",
    "ProfileErrorOccurred",
    "ProfileEventOccurred",
    "RegistryEvent",
    "RegistryObserver",
]


@dataclass(frozen=True, slots=True)
class ProfileEventOccurred:
    """``ProfileEvent(id, event)``: ``event`` is one of :data:`proto.names.ALL_EVENTS`."""

    profile_id: int
    event: str


@dataclass(frozen=True, slots=True)
class ProfileErrorOccurred:
    """``ProfileError(id, error, message)``: a registration of the profile failed.

    ``error`` is a D-Bus error name; :func:`sipprofile.client.errors.error_class`
    gives the matching exception class.
    """

    profile_id: int
    error: str
    message: str


RegistryEvent = ProfileEventOccurred | ProfileErrorOccurred


@runtime_checkable
class RegistryObserver(Protocol):
    """Callbacks in the spirit of Symbian's ``MSIPProfileRegistryObserver``.

    Called synchronously from the bus reader, so they must not block; an
    exception raised by an observer is logged and does not reach other observers.
    """

    def profile_registry_event_occurred(self, profile_id: int, event: str) -> None:
        """A profile was created, updated, (de)registered, destroyed or forcibly disabled."""

    def profile_registry_error_occurred(self, profile_id: int, error: str, message: str) -> None:
        """A registration of the profile failed with the D-Bus error name ``error``."""


class EventStream:
    """An async iterator of :data:`RegistryEvent`, fed by its own queue.

    The queue exists from the moment :meth:`Registry.events` returns (not from the
    first ``__anext__``), so nothing sent in between is lost. The queue is
    unbounded: dropping events silently would be worse than memory use, and the
    registry holds streams weakly, so an abandoned stream is collected with its
    queue. Iteration ends when the stream or the registry is closed.
    """

    __slots__ = ("__weakref__", "_closed", "_on_close", "_queue")

    def __init__(self, on_close: Callable[[EventStream], None]) -> None:
        self._queue: asyncio.Queue[RegistryEvent | None] = asyncio.Queue()
        self._on_close = on_close
        self._closed = False

    def push(self, event: RegistryEvent) -> None:
        """Queue an event (called by the registry)."""
        if not self._closed:
            self._queue.put_nowait(event)

    def end(self) -> None:
        """Let iteration finish once the queued events are consumed."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> RegistryEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop listening; pending events are discarded."""
        self._on_close(self)
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
