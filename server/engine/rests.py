"""The registrations at rest, and what wakes them: the engine's second table.

``Engine`` keeps a ``Session`` per registration that is doing something and, here, a
``RestingSession`` per registration that waits for its refresh (``resting.py`` says
why). This table knows when a record must become a session again: its refresh is
due, the network changed under it, or the keep-alive of the flow it is on failed or
saw a new NAT mapping. It then reads the profiles of every record due at that moment
in one job and hands each record and profile to the engine to resume. A call for one
profile takes its record out at once (``take``): the caller has the profile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sipprofile.server.registry.model import Profile
from sipprofile.server.tasks import TaskSet
from sipprofile.server.transport.flow import Flow

from .access_point import NetworkPath
from .resting import RestingSession
from .timers import Timers

_log = logging.getLogger(__name__)

Load = Callable[[Iterable[int]], Awaitable[dict[int, Profile]]]
Resume = Callable[[RestingSession, Profile], object]


class Rests:
    """Resting records by profile id, their alarms and their flows' keep-alives."""

    def __init__(self, timers: Timers, tasks: TaskSet, load: Load, resume: Resume) -> None:
        """``load``: profiles by id from the database; ``resume``: make a session."""
        self._timers = timers
        self._tasks = tasks
        self._load = load
        self._resume = resume
        self._resting: dict[int, RestingSession] = {}
        #: Taken off rest, their profiles being read (``_load_waking``).
        self._waking: dict[int, RestingSession] = {}
        self._loading: asyncio.Task[Any] | None = None
        #: The flows records are on: how many each, and the one subscription to it.
        self._flow_watches: dict[Flow, tuple[int, Callable[[], None]]] = {}
        #: One bound method for every record to call when due (not one per record).
        self.due: Callable[[int], None] = self._due

    def __len__(self) -> int:
        """Registrations at rest (not those being woken)."""
        return len(self._resting)

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self._resting or profile_id in self._waking

    def get(self, profile_id: int) -> RestingSession | None:
        """The profile's record while it rests (it stays in the table)."""
        return self._resting.get(profile_id)

    def keep(self, record: RestingSession) -> None:
        """Keep ``record`` until it is due; its alarm is set already."""
        self._resting[record.profile_id] = record
        self._watch_flow(record.flow)

    def take(self, profile_id: int) -> RestingSession | None:
        """The profile's record, out of the table (resting or being woken), or None."""
        record = self._resting.pop(profile_id, None) or self._waking.pop(profile_id, None)
        if record is not None:
            self._unwatch_flow(record.flow)
        return record

    def take_all(self) -> dict[int, RestingSession]:
        """Every record, out of the table (shutdown)."""
        records = {**self._resting, **self._waking}
        self._resting.clear()
        self._waking.clear()
        for record in records.values():
            self._unwatch_flow(record.flow)
        return records

    def network_changed(self, path_for: Callable[[str], NetworkPath | None], moved: bool) -> None:
        """Wake what must move now that the network changed.

        That is a record whose AccessPoint now gives another path, or one following
        the default route when it moved (``moved``). Those being woken are told.
        """
        for record in self._waking.values():
            record.rerouted |= moved
        for profile_id, record in list(self._resting.items()):
            if path_for(record.access_point) != record.path or (
                moved and not record.path.interface
            ):
                record.rerouted |= moved
                self._due(profile_id)

    # -------------------------------------------------------------- waking

    def _due(self, profile_id: int) -> None:
        """Make a session of this record again (refresh due, network, keep-alive news).

        Its profile is read first, in one job with the others due at the same time.
        """
        record = self._resting.pop(profile_id, None)
        if record is None:
            return
        if record.alarm is not None:
            self._timers.cancel(record.alarm)
            record.alarm = None
        self._waking[profile_id] = record
        if self._loading is None or self._loading.done():
            self._loading = self._tasks.spawn(self._load_waking())

    async def _load_waking(self) -> None:
        while self._waking:
            ids = list(self._waking)
            profiles = await self._load(ids)
            for profile_id in ids:
                record = self.take(profile_id) if profile_id in self._waking else None
                if record is None:
                    continue  # a call for the profile woke it meanwhile, with the profile
                profile = profiles.get(profile_id)
                if profile is None:  # deletion stops registrations first: not expected
                    _log.warning("profile %d: gone while registered at rest", profile_id)
                    continue
                self._resume(record, profile)

    # -------------------------------------------------------------- flows

    def _watch_flow(self, flow: Flow) -> None:
        count, stop = self._flow_watches.get(flow, (0, None))
        if stop is None:
            stop = flow.watch(
                lambda why: self._flow_said(flow, ("closed", why)),
                lambda mapped: self._flow_said(flow, ("mapped", mapped)),
            )
        self._flow_watches[flow] = (count + 1, stop)

    def _unwatch_flow(self, flow: Flow) -> None:
        count, stop = self._flow_watches.pop(flow, (0, None))
        if count > 1 and stop is not None:
            self._flow_watches[flow] = (count - 1, stop)
        elif stop is not None:
            stop()

    def _flow_said(self, flow: Flow, event: tuple[str, str]) -> None:
        """A flow's keep-alive failed or saw a new mapping: wake who rests on it."""
        for record in self._waking.values():
            if record.flow is flow:
                record.flow_event = event
        for profile_id, record in list(self._resting.items()):
            if record.flow is flow:
                record.flow_event = event
                self._due(profile_id)
