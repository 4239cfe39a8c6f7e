"""Crash safety (issue 8, point 3): sipprofiled killed with SIGKILL at random points.

The first test kills the daemon while a dozen clients create, import, update and
delete profiles at once, then restarts it on the same database file, again and again,
so damage would pile up as it does on a real machine. After every restart the file
passes ``PRAGMA integrity_check`` and ``foreign_key_check``, every acknowledged change
is there exactly, every call that was in flight is there whole or not at all, secrets
are in step with their profiles, the default profile is where it was, the Contact
users have not changed, and the files are still 0600. The crash image itself (the
files as the killed process left them, copied before the restart) passes the same
file checks, and the restart serves exactly what it holds.

The second test kills a daemon whose always-on profiles are registered at a real
Kamailio: once registered, and at start-up right after its first or k-th REGISTER
left. After each restart every profile registers again with the Contact user and
instance it always had (over UDP the very Contact URI, the daemon asking for the same
port at every start; over TCP the local port is the kernel's choice), and the
registrar ends with exactly one binding per profile: the new run's, nothing stale.

How many kill points: ``SIPPROFILED_CRASH_POINTS``; otherwise 100 when the run
selects ``-m reliability``, else 25 (5 on the compiled build, as ``make test`` runs
the suite twice). The seed of every random choice is in each failure message;
``SIPPROFILED_CRASH_SEED`` replays it (the choices, not the exact timing).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from busutil import Raw, plain, variants
from dbus_fast.aio import MessageBus
from kamailio.registrar import Binding, Registrar
from privatebus import daemon_command

from reliability.crash_workload import (
    FileState,
    Ledger,
    Stored,
    Workload,
    read_back,
    read_file,
)
from sipprofile.proto import names
from sipprofile.proto.busfix import harden
from sipprofile.server.engine.profile_config import instance_id
from sipprofile.server.registry.model import Profile, ProfileSettings
from sipprofile.server.sip import compiled

POINTS_VARIABLE = "SIPPROFILED_CRASH_POINTS"
SEED_VARIABLE = "SIPPROFILED_CRASH_SEED"
DEFAULT_POINTS = 25
#: ``make test`` runs everything twice; the full count once is enough.
COMPILED_POINTS = 5
LONG_POINTS = 100
#: From this many kill points on, a run must have acknowledged every kind of call.
COVERAGE_POINTS = 5
#: Clients changing profiles at once: each keeps one call in flight.
WORKERS = 12
#: The kill comes this many seconds (at most) after the workload started.
MAX_KILL_DELAY = 0.5
#: Bounds on every wait, in seconds.
START_TIMEOUT = 15.0
EXIT_TIMEOUT = 10.0
REGISTER_TIMEOUT = 20.0
FILE_MODE = 0o600


def kill_points(config: pytest.Config) -> int:
    """The number of kill points of this run (see the module docstring)."""
    given = os.environ.get(POINTS_VARIABLE)
    if given:
        return int(given)
    if "reliability" in (config.getoption("markexpr", "") or ""):
        return LONG_POINTS
    return COMPILED_POINTS if compiled() else DEFAULT_POINTS


def _timeout() -> float:
    """pytest-timeout's guard: generous, since every wait inside is bounded itself."""
    points = int(os.environ.get(POINTS_VARIABLE) or LONG_POINTS)
    return 60.0 + 3.0 * points


def new_seed() -> int:
    """``SIPPROFILED_CRASH_SEED`` to replay a run, else a fresh one."""
    given = os.environ.get(SEED_VARIABLE)
    return int(given) if given else random.SystemRandom().randrange(2**32)


# ------------------------------------------------------------------ the daemon


class DaemonUnderTest:
    """sipprofiled as a subprocess on one database, started again after each kill.

    Its stderr is appended to ``log`` (every start, for the failure message) by a
    reader task, which also counts the REGISTER requests that each start sends
    when ``--trace-sip`` is among ``extra``: the Kamailio test kills right after one.
    """

    def __init__(self, raw: Raw, address: str, database: Path, log: Path, *extra: str) -> None:
        self.raw = raw
        self.address = address
        self.database = database
        self.log = log
        self.extra = extra
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._reader: asyncio.Task[None] | None = None
        self._registers = 0
        self._register_seen = asyncio.Event()

    async def start(self) -> None:
        """Start it and return once it owns its bus name (so it is serving)."""
        await self._wait_name(owned=False)  # the killed one's name must be released first
        self.starts += 1
        self._registers = 0
        self.process = await asyncio.create_subprocess_exec(
            *daemon_command(self.address, self.database, *self.extra),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = asyncio.ensure_future(self._read(self.process, self.starts))
        await self._wait_name(owned=True)

    async def _read(self, process: asyncio.subprocess.Process, start: int) -> None:
        assert process.stderr is not None
        previous = b""
        with self.log.open("ab") as log:
            log.write(f"=== start {start}\n".encode())
            while line := await process.stderr.readline():
                log.write(line)
                # a trace: "... sent udp a -> b, N bytes" then the request line
                if line.startswith(b"REGISTER ") and b" sent " in previous:
                    self._registers += 1
                    self._register_seen.set()
                previous = line

    async def _wait_name(self, *, owned: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            (has,) = await self.raw.call_bus("NameHasOwner", "s", [names.BUS_NAME])
            if has == owned:
                return
            if owned and self.process is not None and self.process.returncode is not None:
                raise AssertionError(
                    f"sipprofiled exited with {self.process.returncode} while starting:\n"
                    f"{self.log_tail()}"
                )
            if loop.time() > deadline:
                state = "appear" if owned else "go away"
                raise AssertionError(f"{names.BUS_NAME} did not {state}:\n{self.log_tail()}")
            await asyncio.sleep(0.01)

    async def wait_registers_sent(self, count: int) -> None:
        """Return once this start has sent ``count`` REGISTER requests."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REGISTER_TIMEOUT
        while self._registers < count:
            self._register_seen.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"only {self._registers} of {count} REGISTERs were sent:\n{self.log_tail()}"
                )
            with suppress(TimeoutError):
                await asyncio.wait_for(self._register_seen.wait(), left)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, closed or deregistered."""
        assert self.process is not None
        self.process.kill()

    async def wait_exit(self) -> int:
        """The exit status, once the process and its stderr are done."""
        assert self.process is not None and self._reader is not None
        status = await asyncio.wait_for(self.process.wait(), EXIT_TIMEOUT)
        await asyncio.wait_for(self._reader, EXIT_TIMEOUT)
        return status

    async def stop(self) -> None:
        """SIGTERM if still running (a clean exit), SIGKILL if that does not end it."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), EXIT_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._reader, EXIT_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the daemon's stderr over all starts."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@asynccontextmanager
async def client(address: str) -> AsyncIterator[Raw]:
    """A bus connection without a signal subscription: a long run must not keep every
    signal of thousands of changes."""
    bus = await MessageBus(bus_address=address).connect()
    harden(bus)
    try:
        yield Raw(bus)
    finally:
        bus.disconnect()


def file_modes(database: Path) -> list[str]:
    """The database and its WAL companions whose mode is not 0600."""
    wrong = []
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        with suppress(FileNotFoundError):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode != FILE_MODE:
                wrong.append(f"{path.name} has mode {mode:o}, not {FILE_MODE:o}")
    return wrong


def crash_image(database: Path, copy_dir: Path) -> FileState:
    """The files as the killed process left them, copied, then opened and checked.

    The copy is opened normally, so SQLite recovers its WAL as the restarted daemon
    will; the real files stay untouched for the daemon to do that itself.
    """
    shutil.rmtree(copy_dir, ignore_errors=True)
    copy_dir.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            shutil.copy2(source, copy_dir / source.name)
    return read_file(copy_dir / database.name, read_only=False)


# ------------------------------------------------------------------ the kill loop


class KillLoop:
    """The state a run keeps between kill points, and the checks after each restart."""

    def __init__(self, seed: int, points: int, daemon: DaemonUnderTest) -> None:
        self.seed = seed
        self.points = points
        self.daemon = daemon
        self.ledger = Ledger()
        self.point = 0
        self.default: int | None = None
        self.contact_users: dict[int, str] = {}
        self.image: FileState | None = None
        self.in_flight: list[int] = []

    def fail(self, what: str, problems: list[str]) -> None:
        """Fail with everything needed to understand and replay the run."""
        shown = "\n  ".join(problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        pytest.fail(
            f"{what} after kill point {self.point} of {self.points}, seed {self.seed} "
            f"(replay: {SEED_VARIABLE}={self.seed} {POINTS_VARIABLE}={self.points})\n"
            f"  {shown}{more}\n{self.summary()}\n--- daemon log ---\n{self.daemon.log_tail()}",
            pytrace=False,
        )

    def summary(self) -> str:
        """What the run did so far: counts of acknowledged and in-doubt calls."""
        ledger = self.ledger
        return (
            f"acknowledged {ledger.acknowledged}, in doubt {ledger.doubted} "
            f"(found applied {ledger.found_applied}, not applied {ledger.found_absent}), "
            f"calls in flight at the kills {_spread(self.in_flight)}"
        )

    def check(self, stored: Stored) -> None:
        """Every check after a restart; fails the test with all problems found."""
        problems = list(stored.problems)
        problems += self.ledger.settle(stored.profiles)
        present = sorted(stored.profiles)
        if present:
            if stored.defaults != [stored.default]:
                problems.append(
                    f"defaults by property {stored.defaults}, GetDefaultProfile {stored.default}"
                )
            # nothing here sets Default: it moves only when the default is deleted
            if self.default in stored.profiles and stored.default != self.default:
                problems.append(f"the default moved from {self.default} to {stored.default}")
        elif stored.defaults or stored.default is not None:
            problems.append(f"no profiles, yet a default: {stored.defaults}, {stored.default}")
        self.default = stored.default
        for profile_id, user in stored.contact_users.items():
            known = self.contact_users.setdefault(profile_id, user)
            if known != user:
                problems.append(f"profile {profile_id}: Contact user {known!r} became {user!r}")
            elif len(user) != 16:
                problems.append(f"profile {profile_id}: Contact user {user!r} is not 8 bytes")
        if len(set(stored.contact_users.values())) != len(stored.contact_users):
            problems.append("two profiles share a Contact user")
        if self.image is not None:  # what the restart serves is what the crash left
            if sorted(self.image.contact_users) != present:
                problems.append(
                    f"the crash image holds {sorted(self.image.contact_users)}, "
                    f"the restarted daemon {present}"
                )
            secrets = {i: dict(s.secrets) for i, s in stored.profiles.items() if s.secrets}
            if self.image.secrets != secrets:
                problems.append("the restarted daemon's secrets differ from the crash image's")
        problems += file_modes(self.daemon.database)
        if problems:
            self.fail("wrong state", problems)

    async def run_point(self, raw: Raw, rng: random.Random, scratch: Path) -> None:
        """One workload, killed at a random moment; then the crash image is checked."""
        process = self.daemon.process
        assert process is not None
        workload = Workload(raw, self.ledger, prefix=f"k{self.point}")
        workers = [
            asyncio.ensure_future(workload.worker(rng.randrange(2**32))) for _ in range(WORKERS)
        ]
        # The kill point: a random moment in the workload (a timing, not a wait for
        # anything to happen; all waits below poll with bounds).
        await asyncio.sleep(rng.uniform(0.0, MAX_KILL_DELAY))
        workload.kill(process)
        self.in_flight.append(workload.in_flight_at_kill)
        status = await self.daemon.wait_exit()
        results = await asyncio.wait_for(
            asyncio.gather(*workers, return_exceptions=True), EXIT_TIMEOUT
        )
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        if status != -signal.SIGKILL or errors:
            self.fail(
                "the workload failed",
                [f"exit status {status}", *errors]
                + [" (an UnexpectedReply is the daemon refusing a valid call)"] * bool(errors),
            )
        self.image = await asyncio.to_thread(crash_image, self.daemon.database, scratch)
        if self.image.problems:
            self.fail("a damaged crash image", self.image.problems)


def _spread(values: list[int]) -> str:
    if not values:
        return "(none yet)"
    return f"min {min(values)}, mean {sum(values) / len(values):.1f}, max {max(values)}"


@pytest.mark.reliability
@pytest.mark.timeout(_timeout())
async def test_acknowledged_changes_survive_kill_9(
    dbus_address: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    points = kill_points(request.config)
    seed = new_seed()
    rng = random.Random(seed)
    database = tmp_path / "state" / "profiles.db"
    async with client(dbus_address) as raw:
        daemon = DaemonUnderTest(raw, dbus_address, database, tmp_path / "daemon.log")
        loop = KillLoop(seed, points, daemon)
        try:
            for point in range(1, points + 1):
                loop.point = point - 1
                await daemon.start()
                loop.check(await read_back(raw, database))
                loop.point = point
                await loop.run_point(raw, rng, tmp_path / "image")
            await daemon.start()  # the last kill's restart is checked too
            loop.check(await read_back(raw, database))
        finally:
            await daemon.stop()
    ledger = loop.ledger
    assert daemon.process is not None and daemon.process.returncode == 0, daemon.log_tail()
    # The run did what it claims: calls in flight at every kill (else nothing was in
    # doubt and all-or-nothing went untested), and every kind of call acknowledged;
    # the latter only from a few points on, as a run of one or two very early kills
    # may end before the first delete.
    assert sum(ledger.doubted.values()) >= points, loop.summary()
    if points >= COVERAGE_POINTS:
        kinds = {"create", "import", "update", "delete"}
        assert kinds <= set(ledger.acknowledged), loop.summary()
    print(f"\nseed {seed}, {points} kill points: {loop.summary()}")


# ------------------------------------------------------------------ registrations

#: The users the ``kamailio`` fixture knows, and the transport each registers over.
USERS = (("alice", "udp"), ("bob", "tcp"), ("carol", "udp"))


def always_on(registrar: Registrar, user: str, transport: str) -> dict[str, Any]:
    """An always-on profile registering ``user`` with its password at ``registrar``."""
    uri = f"sip:{registrar.host}:{registrar.port}"
    if transport != "udp":
        uri += f";transport={transport}"
    return {
        "Aor": f"sip:{user}@{registrar.domain}",
        "Registrar": {"Uri": uri, "Username": user, "Password": f"{user}-secret"},
        "AutoRegistration": True,
    }


async def poll(check: Callable[[], Awaitable[tuple[bool, Any]]], timeout: float, what: str) -> Any:
    """``await check()`` until it returns something true; fail with its last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ok, detail = await check()
        if ok:
            return detail
        if loop.time() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s; last seen: {detail}")
        await asyncio.sleep(0.05)


class Settling:
    """What the registrar must hold once a (re)started daemon has registered.

    Each profile registered, with exactly one binding at the registrar: its own
    Contact user and ``+sip.instance`` (from the database, never changing), the
    Contact the daemon reports as registered, and a Call-ID the previous run did not
    use (so it is this run's REGISTER, not the dead run's binding still standing).
    Over UDP the daemon asks for the same port at every start, so the Contact URI
    is the very one registered before; a TCP connection's local port is the
    kernel's choice, so there only its user part and instance are the same.
    """

    def __init__(self, raw: Raw, registrar: Registrar, paths: dict[str, str]) -> None:
        self.raw = raw
        self.registrar = registrar
        self.paths = paths
        self.contact_users: dict[str, str] = {}
        self.first_contacts: dict[str, str] = {}
        self.call_ids: dict[str, str] = {}

    async def check(self) -> tuple[bool, Any]:
        """(whether settled, what was seen): a poll's condition."""
        seen: dict[str, Any] = {}
        ok = True
        dump = await asyncio.to_thread(self.registrar.ul_dump)
        for user, transport in USERS:
            (props,) = await self.raw.call(
                self.paths[user], names.PROPERTIES_INTERFACE, "GetAll", "s",
                [names.PROFILE_INTERFACE],
            )  # fmt: skip
            state, contact = plain(props["State"]), plain(props["RegisteredContact"])
            bindings = [b for b in dump if b.aor == user or b.aor.startswith(f"{user}@")]
            seen[user] = (state, contact, [(b.contact, b.call_id) for b in bindings])
            if state != "registered" or len(bindings) != 1:
                ok = False
                continue
            [binding] = bindings
            ours = _is_ours(binding, self.contact_users[user], contact)
            first = self.first_contacts.get(user, binding.contact)
            same = transport != "udp" or binding.contact == first
            new = binding.call_id != self.call_ids.get(user)
            ok = ok and ours and same and new
        return ok, seen

    async def wait(self, what: str) -> dict[str, Any]:
        """Poll until settled; then remember the Contacts and Call-IDs."""
        seen: dict[str, Any] = await poll(self.check, REGISTER_TIMEOUT, what)
        for user, (_, _, [(contact, call_id)]) in seen.items():
            self.first_contacts.setdefault(user, contact)
            self.call_ids[user] = call_id
        return seen


@pytest.mark.reliability
@pytest.mark.timeout(180)
async def test_always_on_profiles_register_again_without_stale_bindings(
    kamailio: Registrar, dbus_address: str, tmp_path: Path
) -> None:
    seed = new_seed()
    rng = random.Random(seed)
    database = tmp_path / "state" / "profiles.db"
    async with client(dbus_address) as raw:
        daemon = DaemonUnderTest(
            raw, dbus_address, database, tmp_path / "daemon.log", "--trace-sip"
        )
        try:
            await daemon.start()
            paths = {
                user: await raw.create(**variants(always_on(kamailio, user, transport)))
                for user, transport in USERS
            }
            ids = {user: _profile_id(path) for user, path in paths.items()}
            settling = Settling(raw, kamailio, paths)
            stored = (await asyncio.to_thread(read_file, database)).contact_users
            settling.contact_users = {user: stored[i] for user, i in ids.items()}
            # Killed once registered, and at start-up right after the first or the
            # k-th REGISTER left (k random: before or after a challenge was answered,
            # so the dead run may or may not have a binding of its own).
            schedule = ["registered", "first REGISTER", "registered"]
            schedule += ["k-th REGISTER"] * 3 + ["registered", "first REGISTER", "registered"]
            for step, where in enumerate(schedule):
                context = f"step {step} ({where}), seed {seed}"
                if where == "registered":
                    before = await settling.wait(f"not registered as before ({context})")
                else:
                    k = 1 if where == "first REGISTER" else rng.randint(2, 2 * len(USERS))
                    await daemon.wait_registers_sent(k)
                daemon.kill()
                assert await daemon.wait_exit() == -signal.SIGKILL, context
                if where == "registered":  # left behind, for the restart to replace
                    dump = await asyncio.to_thread(kamailio.ul_dump)
                    left = sorted((b.contact, b.call_id) for b in dump)
                    assert left == sorted(b for _, _, [b] in before.values()), context
                await daemon.start()
                again = (await asyncio.to_thread(read_file, database)).contact_users
                assert {u: again[i] for u, i in ids.items()} == settling.contact_users, context
            await settling.wait(f"not registered as before at the end (seed {seed})")
            await daemon.stop()
            assert daemon.process is not None and daemon.process.returncode == 0
            # a clean stop deregisters: nothing at all is left at the registrar
            await poll(_empty(kamailio), 5.0, "bindings left after a clean stop")
        finally:
            await daemon.stop()


def _profile_id(path: str) -> int:
    found = names.profile_id_from_path(path)
    assert found is not None, path
    return found


def _is_ours(binding: Binding, contact_user: str, registered: str) -> bool:
    """The binding has the profile's own Contact user and instance, and is the current one."""
    instance = instance_id(Profile(0, ProfileSettings("IETF", "sip:x@y"), contact_user))
    return (
        binding.contact.startswith(f"sip:{contact_user}@")
        and binding.instance is not None
        and instance in binding.instance
        and bool(registered)
        and registered in binding.contact
    )


def _empty(registrar: Registrar) -> Callable[[], Awaitable[tuple[bool, Any]]]:
    async def check() -> tuple[bool, Any]:
        dump = await asyncio.to_thread(registrar.ul_dump)
        return not dump, [b.contact for b in dump]

    return check
