"""Wiring and lifetime: open the store, serve the bus, stop cleanly on a signal.

The bus name is requested only after the handler is installed and the database is
open, so a client that sees the name appear can call at once (clients and D-Bus
activation rely on that). SIGTERM and SIGINT finish the calls under way, close the
database with a checkpoint and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dbus_fast import BusType, DBusError, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus

from sipprofile.proto.busfix import drain, harden
from sipprofile.proto.names import BUS_NAME
from sipprofile.proto.paths import default_database

from .bus.authorization import PolkitAuthorizer
from .bus.managed_objects import WIRE_FORMAT, encode_settings
from .bus.service import BusService
from .engine.engine import Engine
from .engine.pacing import PacingSettings
from .errors import StoreError
from .network.monitor import NetworkMonitor
from .registry.service import ProfileRegistry
from .registry.sharing import Sharing
from .sip import compiled as sip_core_compiled
from .store.database import Database
from .transport.udp import preferred_port
from .types import load_types

_log = logging.getLogger("sipprofiled")

#: How long to wait for the bus to accept us before giving up with a message.
CONNECT_TIMEOUT = 10.0


#: Allocations between two collections of the youngest generation (CPython: 700).
GC_YOUNG_THRESHOLD: Final = 10_000


def settle_garbage_collector() -> None:
    """Tune the cyclic garbage collector for a long-running daemon, once started.

    Everything made until now (modules, classes, the bus connection) lives as long
    as the process, so it is moved out of the collector's sight (``gc.freeze``), and
    young collections run every 10,000 allocations instead of 700: each
    registration allocates a few hundred short-lived objects, and the collections
    that followed them, tracing the live sessions again and again, cost about 7 % of
    the CPU of a start-up registering a thousand profiles (``bench.registrations``).
    Garbage in cycles is still collected, a little later; reference counting frees
    everything else at once.
    """
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class DaemonError(Exception):
    """The daemon cannot start; the message is for the person who started it."""


@dataclass(frozen=True, slots=True)
class Options:
    """Parsed command line: which bus, which database, whether polkit decides."""

    bus: str = "system"  # "session", "system" or "address"
    address: str | None = None
    database: Path | None = None
    #: Ask polkit about every call; None: on the system bus only. The session bus is
    #: one user's own already, and an --address bus may have no polkit at all.
    polkit: bool | None = None
    #: How fast registrations may start, and the always-on profiles' start window.
    pacing: PacingSettings = field(default_factory=PacingSettings)

    @property
    def uses_polkit(self) -> bool:
        """Whether calls are authorized with polkit (``--polkit``, or the system bus)."""
        return self.bus == "system" if self.polkit is None else self.polkit


class Daemon:
    """One running sipprofiled: store, registry, bus service."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.database_path = options.database or default_database(options.bus)
        self.db: Database | None = None
        self.bus: MessageBus | None = None
        self.service: BusService | None = None
        self.registry: ProfileRegistry | None = None
        self.sharing: Sharing | None = None
        self._stopping = asyncio.Event()
        self._owns_name = False
        self.engine: Engine | None = None
        self.network: NetworkMonitor | None = None
        self._autostart: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Open everything and take the bus name; raises DaemonError on failure.

        Whatever fails, what was opened is closed again and the reason is one
        sentence: the caller prints it and exits 1 rather than showing a traceback.
        """
        try:
            await self._start()
        except DaemonError:
            await self.close()
            raise
        except Exception as exc:
            await self.close()
            _log.debug("start-up failed", exc_info=True)
            raise DaemonError(f"cannot start: {exc or type(exc).__name__}") from None

    async def _start(self) -> None:
        # The database and its WAL files hold passwords: nothing we create is for others.
        os.umask(0o077)
        try:
            self.db = await Database.open(self.database_path)
        except StoreError as exc:
            raise DaemonError(str(exc)) from None
        except OSError as exc:
            raise DaemonError(f"cannot open {self.database_path}: {exc.strerror}") from None
        self.registry = ProfileRegistry(self.db, load_types(), encode_settings)
        await self.registry.prepare_aor_keys()
        encoded = await self.registry.prepare_wire(str(WIRE_FORMAT))
        if encoded:
            _log.info("encoded the bus form of %d profiles", encoded)
        try:
            if self.options.address:
                bus = MessageBus(bus_address=self.options.address)
            else:
                kind = BusType.SYSTEM if self.options.bus == "system" else BusType.SESSION
                bus = MessageBus(bus_type=kind)
            self.bus = await asyncio.wait_for(bus.connect(), CONNECT_TIMEOUT)
            harden(self.bus)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise DaemonError(f"cannot connect to the {self.options.bus} bus: {reason}") from None
        self.network = await open_network_monitor()
        # one port per database, the same at every start: the Contacts stay the same
        udp_port = preferred_port(str(self.database_path.resolve()))
        self.engine = Engine(self.registry, self.network, self.options.pacing, udp_port)
        self.sharing = Sharing(self.registry, engine=self.engine)
        authorizer = PolkitAuthorizer(self.bus) if self.options.uses_polkit else None
        self.service = BusService(self.bus, self.registry, self.sharing, authorizer)
        await self.service.start()
        try:
            reply = await self.bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        except DBusError as exc:
            raise DaemonError(
                f"the bus does not let this user own {BUS_NAME} ({exc.text}); "
                "check the bus policy (systemd/org.sipprofile.SipProfile1.conf)"
            ) from None
        if reply is not RequestNameReply.PRIMARY_OWNER:
            raise DaemonError(
                f"another sipprofiled already owns {BUS_NAME} on this bus; not starting a second"
            )
        self._owns_name = True
        _log.info(
            "serving %s with database %s (SIP core: %s)",
            BUS_NAME,
            self.database_path,
            "compiled" if sip_core_compiled() else "pure Python",
        )
        if authorizer is None:
            _log.info("calls are not authorized: every client of this bus may do everything")
        else:
            _log.info("calls are authorized by polkit (actions org.sipprofile.SipProfile1.*)")
        self._autostart = asyncio.ensure_future(
            self.engine.autostart(await self.registry.always_on_ids())
        )

    def request_stop(self) -> None:
        """Ask ``run_until_stopped`` to return (signal handlers call this)."""
        self._stopping.set()

    async def wait_stop_requested(self) -> None:
        """Return once a stop was requested."""
        await self._stopping.wait()

    async def run_until_stopped(self) -> None:
        """Serve until asked to stop or the bus goes away."""
        assert self.bus is not None
        disconnected = asyncio.ensure_future(
            self.bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait({disconnected, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if disconnected in done:
            disconnected.exception()  # retrieved: the reason is the message below
            self.bus = None
            raise DaemonError("lost the connection to the bus")
        disconnected.cancel()

    async def close(self) -> None:
        """Release the name, finish calls under way, close bus and database.

        The name goes first, so new callers get "no such service" (or activation)
        instead of half-answered calls; calls already taken are finished.
        """
        if self.bus is not None and self._owns_name:
            self._owns_name = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bus.release_name(BUS_NAME), 2.0)
        if self.service is not None:
            await self.service.drain()
            self.service = None
        if self._autostart is not None:
            self._autostart.cancel()
        if self.engine is not None:
            await self.engine.shutdown()
            self.engine = None
        if self.network is not None:
            self.network.close()
            self.network = None
        if self.bus is not None:
            # signals of the last changes (deregistrations) may still be held for the
            # end of the loop turn, or queued behind a full socket: send them first
            await drain(self.bus)
            self.bus.disconnect()
            self.bus = None
        if self.db is not None:
            await self.db.close()
            self.db = None


async def open_network_monitor() -> NetworkMonitor | None:
    """Watch links, addresses and routes; None (and a warning) where netlink is refused.

    Without it the daemon still serves every profile whose AccessPoint is empty (the
    kernel routes them); those naming interfaces wait, saying why.
    """
    try:
        return await NetworkMonitor.open()
    except OSError as exc:
        _log.warning(
            "cannot watch network interfaces (%s): profiles with an AccessPoint will wait", exc
        )
        return None


async def run(options: Options) -> int:
    """The daemon's whole life; returns the exit status."""
    daemon = Daemon(options)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.request_stop)
    try:
        starting = asyncio.ensure_future(daemon.start())
        stopping = asyncio.ensure_future(daemon.wait_stop_requested())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # SIGTERM while starting: stop starting
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, DaemonError):
                await starting
            await daemon.close()
            return 0
        stopping.cancel()
        starting.result()
        settle_garbage_collector()  # the process is the daemon's: tune it, once started
        await daemon.run_until_stopped()
    except DaemonError as exc:
        _log.error("%s", exc)
        await daemon.close()
        return 1
    _log.info("stopping")
    await daemon.close()
    return 0
