"""The registration engine: a session per wanted profile, started and stopped by sharing.

``Sharing`` decides *whether* a profile should be registered (holders, always-on);
the engine makes it so, one ``Session`` per profile. Calls return at once; the work
runs as tasks whose progress reaches clients as status changes and events. At
shutdown every registration is deregistered together, bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine
from typing import Any

from sipprofile.server.registry.model import PROXY, REGISTRAR, Profile
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.tasks import TaskSet
from sipprofile.server.transport.flows import Flows

from .session import Session, StatusSink

_log = logging.getLogger(__name__)

#: Start-up pacing of always-on profiles: this many per second, with jitter, so a
#: restart does not storm the registrar (DESIGN.md §5).
AUTOSTART_RATE = 200.0


class Engine:
    """Owns every live registration."""

    def __init__(self, registry: ProfileRegistry) -> None:
        self.registry = registry
        self.flows = Flows()
        self._sessions: dict[int, Session] = {}
        self._tasks = TaskSet("a registration task")
        self._sink = StatusSink(
            set_status=registry.set_status,
            raise_event=registry.raise_event,
            raise_error=registry.raise_error,
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)

    # -------------------------------------------------------------- RegistrationEngine

    def start(self, profile: Profile) -> None:
        """Register ``profile`` unless a session already exists for it."""
        if profile.id in self._sessions:
            return
        self._spawn(self._start(profile))

    async def _start(self, profile: Profile) -> None:
        password = await self.registry.password(profile.id, REGISTRAR)
        proxy_password = await self.registry.password(profile.id, PROXY)
        if profile.id in self._sessions:
            return
        session = Session(profile, password, proxy_password, self.flows, self._sink)
        self._sessions[profile.id] = session
        await session.start()

    def stop(self, profile_id: int) -> None:
        """Deregister the profile and forget its session."""
        session = self._sessions.pop(profile_id, None)
        if session is not None:
            self._spawn(session.stop())

    def restart(self, profile: Profile) -> None:
        """Deregister with the old settings, then register with the new ones.

        In that order: an un-REGISTER arriving after the new REGISTER would remove
        the fresh binding (same Contact).
        """
        old = self._sessions.pop(profile.id, None)

        async def sequence() -> None:
            if old is not None:
                await old.stop()
            if profile.id not in self._sessions:
                await self._start(profile)

        self._spawn(sequence())

    def refresh(self, profile: Profile) -> None:
        """REGISTER again now; start over where none runs (force-disabled, failed)."""
        session = self._sessions.get(profile.id)
        if session is None or self.registry.status(profile.id).state == "failed":
            self.restart(profile)
        else:
            session.refresh()

    # -------------------------------------------------------------- life cycle

    async def autostart(self, profiles: list[Profile]) -> None:
        """Register always-on profiles, paced with jitter."""
        for profile in profiles:
            self.start(profile)
            await asyncio.sleep(random.uniform(0.5, 1.5) / AUTOSTART_RATE)

    async def shutdown(self, grace: float = 4.0) -> None:
        """Deregister everything in parallel, in at most ``grace`` seconds."""
        sessions = list(self._sessions.values())
        self._sessions.clear()
        if sessions:
            await asyncio.wait(
                [asyncio.ensure_future(s.stop(grace)) for s in sessions], timeout=grace + 0.5
            )
        self._tasks.cancel()
        self.flows.close()
