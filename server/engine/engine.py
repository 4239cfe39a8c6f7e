"""The registration engine: a session per wanted profile, started and stopped by sharing.

``Sharing`` decides *whether* a profile should be registered (holders, always-on);
the engine makes it so, one ``Session`` per profile. Calls return at once; the work
runs as tasks whose progress reaches clients as status changes and events. At
shutdown every registration is deregistered together, bounded in time.

A registered session with nothing to do until its refresh is kept as a small
``RestingSession`` instead (``resting.py``: a gateway's ten thousand registrations);
every call for its profile, a change of network and the refresh itself make it a
session again first, so the rest of the engine only ever deals with sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sipprofile.proto.schema import State
from sipprofile.server.heap import release_free_memory
from sipprofile.server.network.monitor import NetworkMonitor
from sipprofile.server.network.state import DefaultRoute
from sipprofile.server.registry.access_point import AccessPointError, interface_names
from sipprofile.server.registry.model import PROXY, REGISTRAR, Profile
from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.sip.aka import UsimKeys
from sipprofile.server.tasks import TaskSet
from sipprofile.server.transport.flows import Flows

from .access_point import NetworkPath, choose, unavailable_reason
from .pacing import Pacer, PacingSettings, due_batches, start_times
from .profile_config import usim_keys
from .resting import RestingSession
from .rests import Rests
from .session import Session
from .status_batch import StatusSink
from .timers import Timers

_log = logging.getLogger(__name__)

#: Batches of starts are at least this far apart: the daemon wakes up ten times a
#: second at most while starting, and handles each batch's datagrams together with
#: its code and data still in the CPU caches (see ``pacing.due_batches``).
AUTOSTART_TICK = 0.1


class Engine:
    """Owns every live registration."""

    def __init__(
        self,
        registry: ProfileRegistry,
        network: NetworkMonitor | None = None,
        pacing: PacingSettings | None = None,
        udp_port: int = 0,
    ) -> None:
        """``udp_port``: the local port UDP registrations ask for first (0: any)."""
        self.registry = registry
        #: Every first REGISTER of a session, and every one after a move to a new
        #: flow, takes a slot here: no storm at start-up or when a shared flow fails.
        self.pacer = Pacer(pacing or PacingSettings())
        #: The links, addresses and default routes (None: netlink unavailable).
        self._network = network
        self._routes = network.state.default_routes() if network is not None else ()
        self._unwatch = (
            network.subscribe(self._network_changed) if network is not None else lambda: None
        )
        self.flows = Flows(udp_port)
        self.timers = Timers()
        self._sessions: dict[int, Session] = {}
        #: Shutting down: no session is laid to rest any more (each must be ended).
        self._closing = False
        #: The newest settings waiting for a restart, and the restart under way.
        self._latest: dict[int, Profile] = {}
        self._transitions: dict[int, asyncio.Task[Any]] = {}
        #: Deregistrations under way, by profile: a new start waits for its own.
        self._stopping: dict[int, asyncio.Task[Any]] = {}
        self._tasks = TaskSet("a registration task")
        self._sink = StatusSink(
            # the compiled table's own methods, not the registry's that delegate to them
            set_status=registry.live.set_status,
            raise_event=registry.live.raise_event,
            raise_error=registry.live.raise_error,
            save_sqn=lambda pid, sqn: self._spawn(registry.save_sqn(pid, sqn)),
        )
        #: Registrations at rest until their refresh (``rests.py``).
        self._rests = Rests(self.timers, self._tasks, registry.find_many, self._resume)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)

    # -------------------------------------------------------------- RegistrationEngine

    def _has(self, profile_id: int) -> bool:
        """Whether the profile has a registration here: a session, or one at rest."""
        return profile_id in self._sessions or profile_id in self._rests

    def start(self, profile: Profile) -> None:
        """Register ``profile`` unless a session already exists for it."""
        if self._has(profile.id):
            return
        self._spawn(self._start(profile))

    async def _start(self, profile: Profile) -> None:
        await self._stopped(profile.id)
        session = await self._make(profile)
        if session is not None:
            await session.start()

    async def _make(self, profile: Profile) -> Session | None:
        """A new session for ``profile``, its passwords read (None if one appeared)."""
        passwords = (await self.registry.passwords([profile.id])).get(profile.id, {})
        usim = await self._usim(profile)
        if self._has(profile.id):
            return None
        return self._new_session(profile, passwords, usim)

    async def _usim(self, profile: Profile) -> UsimKeys | None:
        """The profile's software USIM, read only for a profile that has AKA keys."""
        if not profile.settings.aka.has_keys:
            return None
        return usim_keys(await self.registry.usim_keys(profile.id))

    def _new_session(
        self, profile: Profile, passwords: dict[str, str], usim: UsimKeys | None = None
    ) -> Session:
        session = Session(
            profile,
            passwords.get(REGISTRAR),
            passwords.get(PROXY),
            self.flows,
            self._sink,
            self.timers,
            *self._path_of(profile),
            behaviour=self.registry.registration_behaviour(profile),
            usim=usim,
            pacer=self.pacer,
            on_rest=self._rest,
        )
        self._sessions[profile.id] = session
        return session

    # -------------------------------------------------------------- rest

    def _rest(self, session: Session) -> None:
        """Keep ``session`` as a ``RestingSession`` until its refresh, if it can rest.

        Offered after every response and timer. Not while a restart for its profile
        is waiting: that needs the session.
        """
        profile_id = session.profile.id
        if self._closing or self._sessions.get(profile_id) is not session:
            return
        if profile_id in self._latest:
            return
        transition = self._transitions.get(profile_id)
        if transition is not None and not transition.done():
            return
        record = session.lay_to_rest(self._rests.due)
        if record is None:
            return
        del self._sessions[profile_id]
        self._rests.keep(record)

    def _resume(self, record: RestingSession, profile: Profile) -> Session:
        """The session again, on the network as it is now."""
        session = Session.resumed(
            record,
            profile,
            self.flows,
            self._sink,
            self.timers,
            behaviour=self.registry.registration_behaviour(profile),
            pacer=self.pacer,
            on_rest=self._rest,
        )
        self._sessions[profile.id] = session
        session.network_changed(*self._path_of(profile))
        if record.rerouted:
            session.route_changed()
        if record.flow_event is not None:
            session.flow_said(record.flow_event)
        return session

    def _live(self, profile: Profile) -> Session | None:
        """The profile's session, made now from its record if it rests (None: none).

        ``profile``: the settings it registered with, as a call for it always has.
        """
        session = self._sessions.get(profile.id)
        if session is not None:
            return session
        record = self._rests.take(profile.id)
        if record is None:
            return None
        return self._resume(record, profile)  # which takes over its alarm

    @property
    def resting(self) -> int:
        """How many registrations are at rest (for tests and benchmarks)."""
        return len(self._rests)

    def resting_record(self, profile_id: int) -> RestingSession | None:
        """The profile's registration while at rest (for tests and diagnostics)."""
        return self._rests.get(profile_id)

    # -------------------------------------------------------------- network

    def _path_of(self, profile: Profile) -> tuple[NetworkPath | None, str]:
        """The way ``profile`` registers now, or None and why it has to wait."""
        return self._path_for(profile.settings.access_point)

    def _path_for(self, access_point: str) -> tuple[NetworkPath | None, str]:
        """The way a profile with this ``AccessPoint`` registers now (None: wait, why)."""
        try:
            names = interface_names(access_point)
        except AccessPointError as exc:  # stored before the rule existed: say so, wait
            return None, f"AccessPoint: {exc}"
        state = self._network.state if self._network is not None else None
        path = choose(names, state)
        return path, "" if path is not None else unavailable_reason(names, state is not None)

    def _network_changed(self) -> None:
        """Links, addresses or routes changed (settled): move whatever has to move.

        Sessions first, so that each knows its new way before the sockets bound to a
        vanished address are closed under it (``Flows.prune``).
        """
        if self._network is None:
            return
        state = self._network.state
        routes = state.default_routes()
        moved = bool(routes) and routes != self._routes  # a new default route to follow
        self._routes = routes
        if moved:
            _log.info("default route now %s", ", ".join(map(describe_route, routes)))
            self.flows.route_changed()
        for session in list(self._sessions.values()):
            session.network_changed(*self._path_of(session.profile))
            if moved:
                session.route_changed()
        self._rests.network_changed(lambda access_point: self._path_for(access_point)[0], moved)
        self.flows.prune({address for i in state.interfaces() for address in i.addresses})

    def stop(self, profile: Profile) -> None:
        """Deregister the profile and forget its session."""
        profile_id = profile.id
        self._latest.pop(profile_id, None)
        self._live(profile)
        session = self._sessions.pop(profile_id, None)
        if session is not None:
            task = self._tasks.spawn(session.stop())
            self._stopping[profile_id] = task

            def done(_: asyncio.Task[Any]) -> None:
                if self._stopping.get(profile_id) is task:
                    del self._stopping[profile_id]

            task.add_done_callback(done)

    async def _stopped(self, profile_id: int) -> None:
        """Wait for a deregistration of the profile that is still under way.

        A Disable quickly followed by an Enable: the old un-REGISTER (same Contact)
        must not reach the registrar after the new REGISTER and remove the fresh
        binding, and the old session's final "unregistered" must not be shown after
        the new one's "registering".
        """
        task = self._stopping.get(profile_id)
        if task is not None:
            await asyncio.wait([task])

    def restart(self, profile: Profile, previous: Profile | None = None) -> None:
        """Deregister with the old settings, then register with the new ones.

        In that order: an un-REGISTER arriving after the new REGISTER would remove
        the fresh binding (same Contact). Changes that arrive while one restart is
        under way are queued; only the latest is applied. ``previous``: the settings
        before the change, which a registration at rest is woken with to end it.
        """
        self._live(previous if previous is not None else profile)
        self._latest[profile.id] = profile
        running = self._transitions.get(profile.id)
        if running is None or running.done():
            self._transitions[profile.id] = self._tasks.spawn(self._settle(profile.id))

    async def _settle(self, profile_id: int) -> None:
        while (profile := self._latest.pop(profile_id, None)) is not None:
            await self._stopped(profile_id)
            old = self._sessions.pop(profile_id, None)
            if old is not None:
                await old.stop()
            session = await self._make(profile)
            if session is not None:
                self._spawn(session.start())

    def update_contact(self, profile: Profile) -> None:
        """New Contact parameters: the binding is updated by a new REGISTER, in place."""
        session = self._live(profile)
        if session is not None:
            session.update(profile)

    def update_credentials(self, profile: Profile) -> None:
        """New user name, realm or password: kept for the next challenge."""
        if self._live(profile) is None:
            return

        async def load() -> None:
            found = (await self.registry.passwords([profile.id])).get(profile.id, {})
            usim = await self._usim(profile)
            session = self._live(profile)  # at rest again meanwhile: woken
            if session is not None:
                session.set_credentials(profile, found.get(REGISTRAR), found.get(PROXY), usim)

        self._spawn(load())

    def refresh(self, profile: Profile) -> None:
        """REGISTER again now; start over where none runs (force-disabled, failed)."""
        session = self._live(profile)
        if session is None or self.registry.status(profile.id).state == State.FAILED:
            self.restart(profile)
        else:
            session.refresh()

    # -------------------------------------------------------------- life cycle

    async def autostart(self, profile_ids: list[int]) -> None:
        """Register the always-on profiles, spread and paced (``pacing``).

        Each gets a random moment in the start window and a slot of the pacer; they
        start in batches (``AUTOSTART_TICK``), so the daemon wakes once per batch
        and handles each batch's datagrams together. Each batch's profiles and
        passwords are read in one job when its moment has come, just before it
        starts: ten thousand profiles read at once would sit in memory for the whole
        window, and leave the heap full of holes once freed (issue 7's memory per
        registration). Read any earlier, the job would run on the database's thread
        while the previous batch's answers arrive, and the two threads would trade
        the interpreter's lock at every datagram: about a fifth more CPU per
        registration (``bench.registrations``). A next hop
        that is an IP address over UDP needs no waiting, so those sessions start
        right here, without a task each; the others connect first and then take a
        slot of their own.
        """
        loop = asyncio.get_running_loop()
        times = start_times(len(profile_ids), loop.time(), self.pacer)
        for at, batch in due_batches(times, AUTOSTART_TICK, self.pacer.settings.burst):
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            ids = [profile_ids[index] for index in batch]
            profiles, passwords = await self.registry.find_many_with_passwords(ids)
            for profile_id in ids:
                profile = profiles.get(profile_id)
                if profile is None or not profile.settings.auto_registration:
                    continue  # deleted, or switched off, since the start
                if self._has(profile_id):
                    continue  # started meanwhile (created, enabled)
                usim = await self._usim(profile) if profile.settings.aka.has_keys else None
                self._start_paced(profile, passwords.get(profile_id, {}), usim)
        if profile_ids:  # the bulk of start-up is over: hand back what it freed
            await self.registry.db.release_memory()
            release_free_memory()

    def _start_paced(
        self, profile: Profile, passwords: dict[str, str], usim: UsimKeys | None
    ) -> None:
        """Start ``profile`` in the slot it was given (``autostart``)."""
        session = self._new_session(profile, passwords, usim)
        try:
            started = session.start_now()
        except Exception:  # as a failed task would be: logged, the rest go on
            _log.exception("profile %d: registration failed to start", profile.id)
            return
        if not started:
            self._spawn(session.start(paced=True))

    async def shutdown(self, grace: float = 4.0) -> None:
        """Deregister everything in parallel, in at most ``grace`` seconds.

        Registrations at rest are made sessions first, their profiles read in one job.
        """
        self._closing = True
        records = self._rests.take_all()
        profiles: dict[int, Profile] = {}
        if records:
            try:
                profiles = await self.registry.find_many(records)
            except Exception:  # the database failing: end what can be ended
                _log.exception("cannot read the profiles registered at rest; not deregistered")
            for profile_id, record in records.items():
                profile = profiles.get(profile_id)
                if profile is not None and profile_id not in self._sessions:
                    self._resume(record, profile)
        sessions = list(self._sessions.values())
        self._sessions.clear()
        # with the deregistrations already under way (a hold released just before)
        pending = [asyncio.ensure_future(s.stop(grace)) for s in sessions]
        pending += self._stopping.values()
        if pending:
            await asyncio.wait(pending, timeout=grace + 0.5)
        self._unwatch()
        self._tasks.cancel()
        self.timers.close()
        self.flows.close()


def describe_route(route: DefaultRoute) -> str:
    """``via wlan0 (gateway 192.0.2.1)``, for the log."""
    gateway = f" (gateway {route.gateway})" if route.gateway else ""
    return f"via {route.interface}{gateway}"
