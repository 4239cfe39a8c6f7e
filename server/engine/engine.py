"""The registration engine: a session per wanted profile, started and stopped by sharing.

``Sharing`` decides *whether* a profile should be registered (holders, always-on);
the engine makes it so, one ``Session`` per profile. Calls return at once; the work
runs as tasks whose progress reaches clients as status changes and events. At
shutdown every registration is deregistered together, bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sipprofile.proto.schema import State
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
        #: The newest settings waiting for a restart, and the restart under way.
        self._latest: dict[int, Profile] = {}
        self._transitions: dict[int, asyncio.Task[Any]] = {}
        #: Deregistrations under way, by profile: a new start waits for its own.
        self._stopping: dict[int, asyncio.Task[Any]] = {}
        self._tasks = TaskSet("a registration task")
        self._sink = StatusSink(
            set_status=registry.set_status,
            raise_event=registry.raise_event,
            raise_error=registry.raise_error,
            save_sqn=lambda pid, sqn: self._spawn(registry.save_sqn(pid, sqn)),
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
        await self._stopped(profile.id)
        session = await self._make(profile)
        if session is not None:
            await session.start()

    async def _make(self, profile: Profile) -> Session | None:
        """A new session for ``profile``, its passwords read (None if one appeared)."""
        passwords = (await self.registry.passwords([profile.id])).get(profile.id, {})
        usim = await self._usim(profile)
        if profile.id in self._sessions:
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
        )
        self._sessions[profile.id] = session
        return session

    # -------------------------------------------------------------- network

    def _path_of(self, profile: Profile) -> tuple[NetworkPath | None, str]:
        """The way ``profile`` registers now, or None and why it has to wait."""
        try:
            names = interface_names(profile.settings.access_point)
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
        self.flows.prune({address for i in state.interfaces() for address in i.addresses})

    def stop(self, profile_id: int) -> None:
        """Deregister the profile and forget its session."""
        self._latest.pop(profile_id, None)
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

    def restart(self, profile: Profile) -> None:
        """Deregister with the old settings, then register with the new ones.

        In that order: an un-REGISTER arriving after the new REGISTER would remove
        the fresh binding (same Contact). Changes that arrive while one restart is
        under way are queued; only the latest is applied.
        """
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
        session = self._sessions.get(profile.id)
        if session is not None:
            session.update(profile)

    def update_credentials(self, profile: Profile) -> None:
        """New user name, realm or password: kept for the next challenge."""
        session = self._sessions.get(profile.id)
        if session is None:
            return

        async def load() -> None:
            found = (await self.registry.passwords([profile.id])).get(profile.id, {})
            usim = await self._usim(profile)
            session.set_credentials(profile, found.get(REGISTRAR), found.get(PROXY), usim)

        self._spawn(load())

    def refresh(self, profile: Profile) -> None:
        """REGISTER again now; start over where none runs (force-disabled, failed)."""
        session = self._sessions.get(profile.id)
        if session is None or self.registry.status(profile.id).state == State.FAILED:
            self.restart(profile)
        else:
            session.refresh()

    # -------------------------------------------------------------- life cycle

    async def autostart(self, profiles: list[Profile]) -> None:
        """Register the always-on profiles, spread and paced (``pacing``).

        Each gets a random moment in the start window and a slot of the pacer; they
        start in batches (``AUTOSTART_TICK``), so the daemon wakes once per batch
        and handles each batch's datagrams together. The passwords of all of them
        are read in one job. A next hop that is an IP address over UDP needs no
        waiting, so those sessions start right here, without a task each; the others
        connect first and then take a slot of their own.
        """
        passwords = await self.registry.passwords(p.id for p in profiles)
        usims = {p.id: await self._usim(p) for p in profiles if p.settings.aka.has_keys}
        loop = asyncio.get_running_loop()
        times = start_times(len(profiles), loop.time(), self.pacer)
        for at, batch in due_batches(times, AUTOSTART_TICK, self.pacer.settings.burst):
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            for index in batch:
                profile = profiles[index]
                if profile.id not in self._sessions:
                    self._start_paced(profile, passwords.get(profile.id, {}), usims.get(profile.id))

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
        """Deregister everything in parallel, in at most ``grace`` seconds."""
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
