"""``sipprofilectl enable``: hold a profile, report its registration, let go.

A hold belongs to the bus connection that took it and the daemon drops it when that
connection goes, so ``enable`` keeps running while it holds. Without ``--wait`` it
holds until the profile settles (``registered``: status 0; ``failed``: status 1),
with ``--wait`` until SIGINT/SIGTERM; either way it releases the hold with
``Disable`` before it exits.

Progress arrives as ``PropertiesChanged`` (State, Expires, ...) and as
``ProfileEvent``/``ProfileError``. The daemon sends a failure as State, then
LastError, then ProfileError, and a registration as State, then Expires and
RegisteredContact, then ProfileEvent ``registered``; :class:`Tracker` reports each
once it is complete. To see every state in bus order rather than only the latest,
the command chains onto the connection's public ``on_signal`` hook (which runs
after the registry has updated its cache) and registers a registry observer; both
run in the bus reader, in message order, and feed one queue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from dbus_fast import Message

from sipprofile.client.cli_format import error_text, hold_line
from sipprofile.client.cli_settings import CliError
from sipprofile.client.connection import Connection
from sipprofile.client.errors import NotEnabled, SipProfileError
from sipprofile.client.events import ProfileErrorOccurred, ProfileEventOccurred
from sipprofile.client.profile import Profile
from sipprofile.client.registry import Registry
from sipprofile.proto.names import Event
from sipprofile.proto.schema import State

__all__ = ["Feed", "Line", "Lost", "Outcome", "Snapshot", "Stop", "Tracker", "run_enable"]

#: How long a failed (or retrying) state may go without its ProfileError before it
#: is reported from LastError alone. The daemon sends the error right after the
#: state; only a profile that had failed before we enabled it gets no new one.
FAILURE_GRACE: Final = 1.0
#: Waiting for the network is one too: it comes with NetworkUnavailable, which says
#: which interfaces are down, and is printed with it; the hold goes on meanwhile.
_FAILING: Final = frozenset({State.FAILED, State.RETRYING, State.WAITING_FOR_NETWORK})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The watched status of the profile right after one ``PropertiesChanged``."""

    state: str
    expires: int = 0
    contact: str = ""
    last_error: tuple[str, str] = ("", "")

    @classmethod
    def of(cls, profile: Profile) -> Snapshot:
        """Read the registry's cache (current as of the signal being handled)."""
        return cls(profile.state, profile.expires, profile.registered_contact, profile.last_error)


@dataclass(frozen=True, slots=True)
class Lost:
    """The hold went away without us: the daemon left the bus, or we lost the bus."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """SIGINT or SIGTERM arrived."""

    signum: int


Item = Snapshot | ProfileEventOccurred | ProfileErrorOccurred | Lost | Stop


@dataclass(frozen=True, slots=True)
class Line:
    """Something to print: a state the profile reached, or an event of the hold."""

    state: str | None = None
    event: str | None = None
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How ``enable`` ends: its exit status and, if it failed, the line for stderr."""

    status: int
    message: str | None = None


class Tracker:
    """Turns what happens to one hold into lines and, when it is over, an outcome.

    Pure (no bus, no clock of its own), so the ordering rules are unit-tested.
    """

    def __init__(self, profile_id: int, *, wait: bool, timeout: float) -> None:
        """Follow ``profile_id``; ``wait`` is ``--wait``, ``timeout`` ``--timeout``."""
        self.profile_id = profile_id
        self.wait = wait
        self.timeout = timeout
        self.current = Snapshot(State.UNREGISTERED)
        #: The hold is gone already (forcibly disabled, daemon gone): nothing to release.
        self.hold_lost = False
        #: The last ProfileError of this hold, for the timeout message.
        self._error: tuple[str, str] | None = None
        #: What was printed last for the state, so nothing is printed twice. A
        #: profile is assumed unregistered until told otherwise: not worth a line.
        self._printed: tuple[object, ...] = (State.UNREGISTERED,)
        #: When a failing state began that has not been reported yet.
        self._failing_since: float | None = None

    @property
    def grace_due(self) -> float | None:
        """When :meth:`tick` should be called if nothing arrives before."""
        return None if self._failing_since is None else self._failing_since + FAILURE_GRACE

    def feed(self, item: Item, now: float) -> tuple[list[Line], Outcome | None]:
        """Account for one item, in bus order."""
        if isinstance(item, Snapshot):
            return self._snapshot(item, now)
        if isinstance(item, ProfileErrorOccurred):
            return self._failure(item.error, item.message)
        if isinstance(item, ProfileEventOccurred):
            if item.event == Event.FORCIBLY_DISABLED:
                self.hold_lost = True
                message = f"profile {self.profile_id} was forcibly disabled; the hold is gone"
                return [Line(event=item.event)], Outcome(1, message)
            if item.event == Event.DESTROYED:
                self.hold_lost = True
                message = f"profile {self.profile_id} was deleted"
                return [Line(event=item.event)], Outcome(1, message)
            return [], None
        if isinstance(item, Lost):
            self.hold_lost = True
            return [], Outcome(1, f"{item.reason}; the hold on profile {self.profile_id} is gone")
        if self.wait:
            return [], Outcome(0)
        state = self.current.state
        message = f"interrupted while profile {self.profile_id} was {state}"
        return [], Outcome(128 + item.signum, message)

    def tick(self, now: float) -> tuple[list[Line], Outcome | None]:
        """Report a failing state whose ProfileError did not come in time."""
        due = self.grace_due
        if due is None or now < due:
            return [], None
        return self._failure(*self.current.last_error, stale=True)

    def timed_out(self) -> Outcome:
        """The outcome once ``--timeout`` has passed without the profile settling."""
        message = (
            f"profile {self.profile_id} did not register within {self.timeout:g} s: "
            f"it is still {self.current.state}"
        )
        if self._error is not None:
            message += f" (last error: {error_text(*self._error)})"
        return Outcome(1, message)

    def _snapshot(self, snap: Snapshot, now: float) -> tuple[list[Line], Outcome | None]:
        self.current = snap
        if snap.state in _FAILING:
            # Reported with its error when the ProfileError arrives (see FAILURE_GRACE).
            if self._printed[0] != snap.state and self._failing_since is None:
                self._failing_since = now
            return [], None
        self._failing_since = None
        if snap.state != State.REGISTERED:
            return self._print((snap.state,), Line(state=snap.state)), None
        if snap.expires <= 0:
            return [], None  # Expires and RegisteredContact follow at once
        details: dict[str, object] = {"expires": snap.expires, "contact": snap.contact}
        key = (snap.state, snap.expires, snap.contact)
        return self._print(key, Line(state=snap.state, details=details)), self._settled(0)

    def _failure(
        self, error: str, message: str, *, stale: bool = False
    ) -> tuple[list[Line], Outcome | None]:
        self._failing_since = None
        state = self.current.state
        if error or message:
            self._error = (error, message)
        details: dict[str, object] = {}
        if error or message:
            details = {"error": error, "message": message}
        if state not in _FAILING:
            return [Line(event="error", details=details)], None
        self._printed = (state, error, message)
        if state != State.FAILED:
            return [Line(state=state, details=details)], None
        reason = error_text(error, message)
        text = f"profile {self.profile_id} failed to register" + (
            f": {reason}" if reason else " (the daemon gave no reason)"
        )
        if stale:
            # e.g. another client holds it failed: the daemon does not try again
            text += " (an earlier attempt; the daemon made no new one)"
        return [Line(state=state, details=details)], self._settled(1, text)

    def _print(self, key: tuple[object, ...], line: Line) -> list[Line]:
        if key == self._printed:
            return []
        self._printed = key
        return [line]

    def _settled(self, status: int, message: str | None = None) -> Outcome | None:
        return None if self.wait else Outcome(status, message)


class Feed:
    """One queue, filled in bus order, with everything that matters to one hold.

    It is also a registry observer (``ProfileEvent``/``ProfileError`` of the profile).
    """

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        #: The profile being held; until it is set, nothing is queued but losses and stops.
        self.profile: Profile | None = None

    def put(self, item: Item) -> None:
        """Queue an item (from the bus reader or a signal handler)."""
        self.queue.put_nowait(item)

    def attach(self, connection: Connection, registry: Registry) -> None:
        """Chain onto the connection's hooks; call after ``Registry(connection)``."""
        on_signal = connection.on_signal
        on_owner_changed = connection.on_owner_changed
        on_closed = connection.on_closed

        def signal_hook(msg: Message) -> None:
            on_signal(msg)  # the registry updates its cache first
            profile = self.profile
            changed = msg.member == "PropertiesChanged"
            if profile is not None and changed and msg.path == profile.path:
                self.put(Snapshot.of(profile))

        def owner_hook(owner: str | None) -> None:
            on_owner_changed(owner)
            self.put(Lost("sipprofiled left the bus" if owner is None else "sipprofiled restarted"))

        def closed_hook() -> None:
            on_closed()
            self.put(Lost("lost the connection to the bus"))

        connection.on_signal = signal_hook
        connection.on_owner_changed = owner_hook
        connection.on_closed = closed_hook
        registry.add_observer(self)

    def _ours(self, profile_id: int) -> bool:
        return self.profile is not None and self.profile.id == profile_id

    def profile_registry_event_occurred(self, profile_id: int, event: str) -> None:
        """Registry observer: events of the held profile."""
        if self._ours(profile_id):
            self.put(ProfileEventOccurred(profile_id, event))

    def profile_registry_error_occurred(self, profile_id: int, error: str, message: str) -> None:
        """Registry observer: registration failures of the held profile."""
        if self._ours(profile_id):
            self.put(ProfileErrorOccurred(profile_id, error, message))


# -- running it --------------------------------------------------------------------


def _out(text: str) -> None:
    print(text, flush=True)


async def run_enable(args: argparse.Namespace) -> int:
    """Connect, hold ``args.id``, report, release; returns the exit status."""
    loop = asyncio.get_running_loop()
    feed = Feed()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, feed.put, Stop(signum))
    try:
        # Registry.connect() without the shortcut: the hooks must be in place
        # before the connection starts reading.
        connection = await Connection.open(bus=args.bus, address=args.address)
        connection.interactive = sys.stdin.isatty()  # polkit may ask for a password
        registry = Registry(connection)
        feed.attach(connection, registry)
        try:
            await connection.start()
        except BaseException:
            await connection.close()
            raise
        async with registry:
            return await _hold(registry, feed, args)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _hold(registry: Registry, feed: Feed, args: argparse.Namespace) -> int:
    profile = await registry.get(args.id)
    feed.profile = profile
    baseline = Snapshot.of(profile)
    await profile.enable()
    tracker = Tracker(profile.id, wait=args.wait, timeout=args.timeout)

    def show(line: Line) -> None:
        when = datetime.now().astimezone()
        _out(hold_line(when, profile.id, state=line.state, event=line.event,
                       details=line.details, as_json=args.json))  # fmt: skip

    try:
        show(Line(event="enabled", details={"holders": profile.holders}))
        if args.wait:
            print(f"Holding profile {profile.id}; press Ctrl-C to release it.",
                  file=sys.stderr, flush=True)  # fmt: skip
        outcome = await _follow(feed, tracker, baseline, show, None if args.wait else args.timeout)
    except BaseException:
        if not tracker.hold_lost:
            with contextlib.suppress(SipProfileError):
                await profile.disable()
        raise
    if not tracker.hold_lost and await _release(profile):
        show(Line(event="released"))
    if outcome.message is not None:
        raise CliError(outcome.message, status=outcome.status)
    return outcome.status


async def _follow(
    feed: Feed,
    tracker: Tracker,
    baseline: Snapshot,
    show: Callable[[Line], None],
    limit: float | None,
) -> Outcome:
    """Feed the tracker until it has an outcome (or ``limit`` seconds pass)."""
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    lines, outcome = tracker.feed(baseline, loop.time())
    while True:
        for line in lines:
            show(line)
        if outcome is not None:
            return outcome
        wake = [t for t in (deadline, tracker.grace_due) if t is not None]
        try:
            async with asyncio.timeout_at(min(wake) if wake else None):
                item: Item | None = await feed.queue.get()
        except TimeoutError:
            item = None
        now = loop.time()
        if item is not None:
            lines, outcome = tracker.feed(item, now)
            continue
        lines, outcome = tracker.tick(now)
        if outcome is None and deadline is not None and now >= deadline:
            outcome = tracker.timed_out()


async def _release(profile: Profile) -> bool:
    """Disable; False if there was nothing left to release or the bus is gone.

    Either way the hold ends: the daemon drops it when this process leaves the bus.
    """
    try:
        await profile.disable()
    except NotEnabled:
        return False  # forcibly disabled meanwhile
    except SipProfileError:
        return False
    return True
