"""Soak (issue 8, point 5): a hundred clients enabling and disabling for a long while.

sipprofiled runs as a subprocess (its memory is its own, read from /proc) on a
private bus, against a real Kamailio whose ``min_expires`` is 2 s. It serves 35
profiles, each a registrar user of its own with digest credentials, over UDP and TCP:
30 registered when needed and 5 always on. Most ask for a ``RegisterExpires`` of 3 or
4 s (time compressed about a thousandfold against the usual hour: a binding held
throughout is refreshed every 2-3 s), some keep the default hour (a binding the
daemon forgot to deregister is then still there at the end, whenever it was
forgotten), and two always-on ones 15 s (watched for lapses: see
``soak_clients.RegistrarWatch``).

A hundred clients, each its own bus connection (``soak_clients.SoakClient``), Enable
and Disable random profiles with short random pauses; popular profiles stay held and
shared, unpopular ones register and deregister again and again. A few clients vanish
now and then with calls in flight and come back as new connections. Every reply must
be the one the contract predicts (each client has one call at a time, so the contract
decides every reply) and come within 10 s.

Meanwhile the daemon's VmRSS and descriptors are sampled, every signal is watched
(no ProfileError, no State "failed"), and the registrar's table is looked at every
second (the watched always-on bindings valid at every look). At the end, once the
last calls are answered:

* what each client believes it holds is what the daemon says (IsEnabled, per client
  and profile) and each profile's Holders is the number of clients holding it;
* every held or always-on profile is registered, with exactly one valid binding at
  the registrar, carrying the daemon's Contact; no other profile has any binding;
  always-on profiles kept their Call-ID and were refreshed often enough never to
  have lapsed;
* memory is flat: the 4th quarter's median VmRSS is within the tolerance of the
  2nd's (see the constants below), and the descriptors did not grow;
* once every client has left, only the always-on profiles stay registered, and
  SIGTERM ends the daemon with status 0 leaving the registrar empty.

How long: ``SIPPROFILED_SOAK_SECONDS``; otherwise 600 when the run selects
``-m reliability``, else 20 (12 on the compiled build, as ``make test`` runs the suite
twice). The long run is the leak detector; the short one catches large leaks and
everything else. ``SIPPROFILED_SOAK_SEED`` replays a run's random choices (not its
timing); the seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from busutil import Raw, variants
from dbus_fast.aio import MessageBus
from kamailio.fixtures import RegistrarFactory
from kamailio.registrar import Binding, Registrar

from reliability.crash_workload import read_file
from reliability.soak_clients import (
    Lapse,
    MemorySampler,
    MemoryVerdict,
    Observer,
    RegistrarWatch,
    Sample,
    SoakClient,
    Spec,
    Tally,
    believed_holders,
    bindings_by_user,
    cpu_seconds,
    describe_counts,
    memory_verdict,
    popularity,
    proc_status_kib,
    profile_states,
    quarters,
    soak_specs,
)
from reliability.test_crash_safety import DaemonUnderTest, client, poll
from sipprofile.proto import names
from sipprofile.server.sip import compiled

SECONDS_VARIABLE = "SIPPROFILED_SOAK_SECONDS"
SEED_VARIABLE = "SIPPROFILED_SOAK_SEED"
DEFAULT_SECONDS = 20.0
#: ``make test`` runs everything twice; the compiled build gets the shorter run.
COMPILED_SECONDS = 12.0
LONG_SECONDS = 600.0

CLIENTS = 100
#: Clients that vanish now and then (crash with calls in flight) and reconnect.
FLAKY = 5
WHEN_NEEDED = 30
ALWAYS_ON = 5
#: The registrar's min_expires, the expiries of the short-lived profiles, and that
#: of the always-on profiles watched for lapses.
MIN_EXPIRES = 2
SHORT_EXPIRES = (3, 4)
STEADY_EXPIRES = 15

#: Bounds on every wait, in seconds.
REGISTER_TIMEOUT = 20.0
#: After the run: long enough for every deregistration and a few refresh cycles.
SETTLE_TIMEOUT = 20.0
#: How often the registrar's table is looked at during the run.
WATCH_INTERVAL = 1.0

# ---- memory ------------------------------------------------------------------------
# Measured on the 2-core development machine (about 3,700 calls a second, pure and
# compiled builds alike: the clients and dbus-daemon set the pace, the daemon uses
# 70 % of a core): the daemon's VmRSS climbs by ~7 MiB over its first ~185,000
# calls (~50 s), ~40 bytes per call, the level of its uncollected cyclic garbage
# (finished registrations; see ``memory_verdict``), and is then flat to within a
# few KiB: from 60 s to 120 s +4 KiB pure, +316 KiB compiled.
#
# The tolerance is MEMORY_TOLERANCE_KIB, 4 MiB, ten times what the flat part moved,
# plus WARMUP_BYTES_PER_CALL (2.5 times the climb measured) for each call between
# the middles of the 2nd and 4th quarters that comes before WARMUP_CALLS (the
# warm-up, with a third of margin). A 600 s run has its 2nd quarter's middle at
# ~800,000 calls, past the warm-up, and ~1.1 million calls between the middles:
# a leak of 4 bytes per call fails it, and 1 KB per call would have grown by a
# gigabyte. A 20 s run is all warm-up, ~37,000 calls between the middles: it fails
# at ~210 bytes per call (measured growth 0.5-1.8 MiB against ~7.7 MiB allowed),
# the compiled 12 s run (~22,000) at ~290, a 120 s run (~218,000, 85,000 of them
# in the warm-up) at ~60. The short runs catch a leaked object per call, not a
# leaked pointer; per registration, refresh or reconnection (~1,500, ~300 and ~40
# in 20 s) only the long run sees leaks of a few KB: the long run is the leak
# detector. A run too short to see LEAK_PER_CALL fails rather than pass without
# meaning.
MEMORY_TOLERANCE_KIB = 4096.0
WARMUP_CALLS = 250_000
WARMUP_BYTES_PER_CALL = 100.0
#: The leak per call (bytes) every run must be able to see.
LEAK_PER_CALL = 1024
#: Descriptors may differ by this many between the 2nd and 4th quarters' maxima
#: (TCP connections of profiles registering at that moment, the database journal).
FD_SLACK = 8


def soak_seconds(config: pytest.Config) -> float:
    """The length of the run (see the module docstring)."""
    given = os.environ.get(SECONDS_VARIABLE)
    if given:
        return float(given)
    if "reliability" in (config.getoption("markexpr", "") or ""):
        return LONG_SECONDS
    return COMPILED_SECONDS if compiled() else DEFAULT_SECONDS


def _timeout() -> float:
    """pytest-timeout's guard: the run plus generous room for set-up and checks."""
    seconds = float(os.environ.get(SECONDS_VARIABLE) or LONG_SECONDS)
    return 120.0 + 1.5 * seconds


def new_seed() -> int:
    """``SIPPROFILED_SOAK_SEED`` to replay a run's choices, else a fresh one."""
    given = os.environ.get(SEED_VARIABLE)
    return int(given) if given else random.SystemRandom().randrange(2**32)


def sample_interval(seconds: float) -> float:
    """About a hundred samples in a short run, one every 0.5 s in a long one."""
    return min(0.5, max(0.1, seconds / 100))


class SoakFailure(Exception):
    """A check failed; the test stops the daemon (flushing its log) and fails."""


class Soak:
    """One soak run: set-up, the run, and the checks; every failure names the seed."""

    def __init__(
        self, seed: int, seconds: float, registrar: Registrar, daemon: DaemonUnderTest
    ) -> None:
        self.seed = seed
        self.seconds = seconds
        self.registrar = registrar
        self.daemon = daemon
        self.rng = random.Random(seed)
        self.specs = soak_specs(WHEN_NEEDED, ALWAYS_ON, SHORT_EXPIRES, STEADY_EXPIRES)
        self.paths: dict[str, str] = {}  # user -> object path
        self.users: dict[str, str] = {}  # object path -> user
        self.contact_users: dict[str, str] = {}  # user -> the profile's Contact user
        self.tally = Tally()
        self.clients: list[SoakClient] = []
        self.observer: Observer | None = None
        self.always_on_call_ids: dict[str, str] = {}
        self.registered_at = 0.0
        self.ran = 0.0
        self.cpu = 0.0

    @property
    def always_on(self) -> list[str]:
        """Users of the always-on profiles."""
        return [s.user for s in self.specs if s.always_on]

    # ---- reporting

    def fail(self, what: str, problems: Sequence[str]) -> None:
        """Raise ``SoakFailure`` with the seed, the problems and what the run did."""
        shown = "\n  ".join(problems[:30])
        more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
        raise SoakFailure(
            f"{what} (seed {self.seed}; replay the choices: {SEED_VARIABLE}={self.seed} "
            f"{SECONDS_VARIABLE}={self.seconds:g})\n  {shown}{more}\n{self.summary()}"
        )

    def summary(self) -> str:
        """What the run did: calls by reply, vanishings, signals, the daemon's CPU."""
        tally = self.tally
        observer = self.observer
        events = describe_counts(observer.events) if observer else "-"
        errors = describe_counts(observer.errors) if observer else "-"
        share = self.cpu / self.ran if self.ran else 0.0
        return (
            f"{self.ran:.1f} s, {CLIENTS} clients, {tally.calls} calls "
            f"({describe_counts(tally.replies)}); vanished {tally.vanished} times with "
            f"{tally.sent_before_vanishing} Enables unanswered; {tally.latency_summary()}; "
            f"ProfileEvents {events}; ProfileErrors {errors}; daemon CPU {self.cpu:.1f} s "
            f"({share:.0%} of a core)"
        )

    # ---- set-up

    async def create_profiles(self, bus: MessageBus) -> None:
        """Create every profile; wait until the always-on ones are registered."""
        raw = Raw(bus)
        for spec in self.specs:
            path = await raw.create(**variants(spec.settings(self.registrar)))
            self.paths[spec.user] = path
            self.users[path] = spec.user
        stored = await asyncio.to_thread(read_file, self.daemon.database)
        for user, path in self.paths.items():
            profile_id = names.profile_id_from_path(path)
            assert profile_id is not None, path
            self.contact_users[user] = stored.contact_users[profile_id]
        try:
            self.always_on_call_ids = await poll(
                self._always_on_bound(bus), REGISTER_TIMEOUT, "always-on profiles not registered"
            )
        except AssertionError as exc:
            self.fail("no start", [str(exc)])
        self.registered_at = asyncio.get_running_loop().time()

    def _always_on_bound(self, bus: MessageBus) -> Callable[[], Awaitable[tuple[bool, Any]]]:
        async def check() -> tuple[bool, Any]:
            states = await profile_states(bus)
            by_user = bindings_by_user(await asyncio.to_thread(self.registrar.ul_dump))
            call_ids = {}
            for user in self.always_on:
                bindings = by_user.get(user, [])
                if states[self.paths[user]]["State"] != "registered" or len(bindings) != 1:
                    return False, {u: states[self.paths[u]]["State"] for u in self.always_on}
                call_ids[user] = bindings[0].call_id
            return True, call_ids

        return check

    async def connect_clients(self, address: str) -> None:
        """A hundred connections, each with its own seed drawn from the run's."""
        paths = [self.paths[spec.user] for spec in self.specs]
        weights = popularity(len(paths), self.rng)
        self.clients = [
            SoakClient(
                index,
                address,
                paths,
                weights,
                self.rng.randrange(2**32),
                self.tally,
                flaky=index < FLAKY,
            )
            for index in range(CLIENTS)
        ]
        await asyncio.gather(*(c.connect() for c in self.clients))

    # ---- the run

    async def run(self, sampler: MemorySampler, watch: RegistrarWatch) -> None:
        """The clients' loops for ``seconds``, memory sampled and the registrar
        watched; returns once every client's last call is answered."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        background = [
            asyncio.ensure_future(sampler.run(stop)),
            asyncio.ensure_future(watch.run(stop)),
        ]
        started, cpu = loop.time(), cpu_seconds(sampler.pid)
        until = started + self.seconds
        try:
            results = await asyncio.gather(
                *(c.run(until) for c in self.clients), return_exceptions=True
            )
        finally:
            stop.set()
            await asyncio.gather(*background)
        self.ran = loop.time() - started
        self.cpu = cpu_seconds(sampler.pid) - cpu
        crashed = [f"client {i}: {r!r}" for i, r in enumerate(results) if isinstance(r, Exception)]
        if crashed:
            self.fail("clients crashed", crashed)

    # ---- the checks

    def wanted(self) -> set[str]:
        """Users whose profile must be registered now: held, or always-on."""
        held = believed_holders(self.clients)
        return {s.user for s in self.specs if s.always_on or held[self.paths[s.user]] > 0}

    async def check_holds(self, bus: MessageBus, *, connected: bool = True) -> None:
        """Beliefs against the daemon: Holders per profile, IsEnabled per client.

        Polled (bounded): a client that vanished just before the end is released
        when the daemon handles its departure, which may be a moment later. Once
        the clients have left (not ``connected``) only Holders is compared.
        """

        async def holders_match() -> tuple[bool, Any]:
            states = await profile_states(bus)
            believed = believed_holders(self.clients)
            wrong = {
                self.users[path]: (props["Holders"], believed[path])
                for path, props in states.items()
                if props["Holders"] != believed[path]
            }
            return not wrong, wrong

        try:
            await poll(holders_match, SETTLE_TIMEOUT, "Holders (daemon's, clients') differ")
        except AssertionError as exc:
            self.fail("the daemon's Holders are not what the clients hold", [str(exc)])
        if not connected:
            return
        answers = await asyncio.gather(*(c.enabled_by_daemon() for c in self.clients))
        problems = [
            f"client {c.index} ({c.name}): the daemon says it holds "
            f"{sorted(self.users[p] for p in daemon_says)}, it believes "
            f"{sorted(self.users[p] for p in c.believed)}"
            for c, daemon_says in zip(self.clients, answers, strict=True)
            if daemon_says != c.believed
        ]
        if problems:
            self.fail("what clients hold differs from the daemon", problems)

    def check_replies(self) -> None:
        """Every call answered within the bound, each with the reply the contract says."""
        if self.tally.problems:
            self.fail(
                f"unexpected replies ({self.tally.timeouts} calls unanswered)", self.tally.problems
            )

    def _registrations(
        self, wanted: set[str], states: dict[str, dict[str, Any]], dump: Sequence[Binding]
    ) -> list[str]:
        """What differs from: ``wanted`` registered, one valid binding each, no other."""
        by_user = bindings_by_user(dump)
        problems = []
        for spec in self.specs:
            user = spec.user
            props = states[self.paths[user]]
            bindings = by_user.pop(user, [])
            seen = [(b.contact, b.raw.get("Expires")) for b in bindings]
            if user not in wanted:
                if props["State"] != "unregistered" or bindings:
                    problems.append(f"{user}, held by nobody: {props['State']}, bindings {seen}")
                continue
            contact = props["RegisteredContact"]
            valid = [b for b in bindings if b.expires]  # 0: invalid already
            if (
                props["State"] != "registered"
                or len(bindings) != 1
                or len(valid) != 1
                or not valid[0].contact.startswith(f"sip:{self.contact_users[user]}@")
                or not contact
                or contact not in valid[0].contact
            ):
                kind = "always-on" if spec.always_on else "held"
                problems.append(f"{user} ({kind}): {props['State']} as {contact!r}, {seen}")
        problems += [f"a binding of a user with no profile: {user}" for user in by_user]
        return problems

    async def check_registrations(self, bus: MessageBus, wanted: set[str]) -> list[Binding]:
        """Poll (bounded) until registrations and bindings are exactly ``wanted``."""

        async def matched() -> tuple[bool, Any]:
            states = await profile_states(bus)
            dump = await asyncio.to_thread(self.registrar.ul_dump)
            problems = self._registrations(wanted, states, dump)
            return not problems, problems or dump

        try:
            dump: list[Binding] = await poll(matched, SETTLE_TIMEOUT, "not settled")
        except AssertionError as exc:
            self.fail("registrations do not match the holds", [str(exc)])
        return dump

    def check_always_on(self, dump: Sequence[Binding], lapses: Sequence[Lapse]) -> dict[str, int]:
        """Always-on bindings: none lapsed, same Call-ID, enough refreshes.

        A binding valid throughout ``elapsed`` seconds with an expiry of ``E`` took at
        least ``ceil(elapsed / E) - 1`` refreshes (each adds one to CSeq; the first
        registration took two, with the challenge). Returns the refreshes by user.
        """
        problems = [
            f"{lapse.user} at +{lapse.at - self.registered_at:.1f} s: {lapse.seen}"
            for lapse in lapses[:20]
        ]
        elapsed = asyncio.get_running_loop().time() - self.registered_at
        by_user = bindings_by_user(dump)
        refreshes = {}
        for spec in self.specs:
            if not spec.always_on:
                continue
            [binding] = by_user[spec.user]
            if binding.call_id != self.always_on_call_ids[spec.user]:
                problems.append(f"{spec.user}: the Call-ID changed: registered anew")
            assert spec.expires is not None
            refreshes[spec.user] = binding.cseq - 2
            needed = math.ceil(elapsed / spec.expires) - 1
            if refreshes[spec.user] < needed:
                problems.append(
                    f"{spec.user}: {refreshes[spec.user]} refreshes in {elapsed:.1f} s with an "
                    f"expiry of {spec.expires} s: it lapsed ({needed} needed)"
                )
        if problems:
            self.fail("an always-on registration lapsed", problems)
        return refreshes

    def check_signals(self) -> None:
        """No registration failed or reported an error during the run."""
        observer = self.observer
        assert observer is not None
        if observer.failed or observer.errors:
            self.fail(
                "registrations failed during the run",
                [
                    f"State failed: {sorted(self.users[p] for p in observer.failed)}",
                    f"ProfileErrors: {describe_counts(observer.errors)}",
                ],
            )

    def check_memory(self, samples: Sequence[Sample]) -> MemoryVerdict:
        """No growth from the 2nd quarter to the 4th (VmRSS and descriptors)."""
        verdict = memory_verdict(
            samples,
            tolerance_kib=MEMORY_TOLERANCE_KIB,
            warmup_calls=WARMUP_CALLS,
            warmup_bytes_per_call=WARMUP_BYTES_PER_CALL,
        )
        parts = quarters(samples)
        fds_q2 = max(s.fds for s in parts[1])
        fds_q4 = max(s.fds for s in parts[3])
        problems = []
        if not verdict.ok:
            problems.append(f"VmRSS grew: {verdict.describe()}")
        if fds_q4 > fds_q2 + FD_SLACK:
            problems.append(
                f"descriptors grew: at most {fds_q2} in the 2nd quarter, {fds_q4} in the 4th"
            )
        if verdict.calls_between * LEAK_PER_CALL < verdict.tolerance * 1024:
            problems.append(
                f"too few calls to see a leak of {LEAK_PER_CALL} bytes per call: "
                f"{verdict.describe()}"
            )
        if problems:
            self.fail("memory is not flat", problems)
        return verdict


async def empty_registrar(registrar: Registrar) -> tuple[bool, Any]:
    """A poll condition: no binding at all."""
    dump = await asyncio.to_thread(registrar.ul_dump)
    return not dump, [(b.aor, b.contact) for b in dump]


async def soak_run(soak: Soak, admin: Raw, address: str, samples_csv: Path) -> str:
    """The run and every check; returns the report to print."""
    daemon = soak.daemon
    await daemon.start()
    assert daemon.process is not None
    pid = daemon.process.pid
    await soak.create_profiles(admin.bus)
    soak.observer = await Observer.connect(address)
    await soak.connect_clients(address)
    sampler = MemorySampler(pid, sample_interval(soak.seconds), lambda: soak.tally.calls)
    watched = [s.user for s in soak.specs if s.always_on and s.expires == STEADY_EXPIRES]
    watch = RegistrarWatch(soak.registrar, watched, WATCH_INTERVAL)
    await soak.run(sampler, watch)
    sampler.write_csv(samples_csv)

    soak.check_replies()
    await soak.check_holds(admin.bus)
    wanted = soak.wanted()
    dump = await soak.check_registrations(admin.bus, wanted)
    refreshes = soak.check_always_on(dump, watch.lapses)
    soak.check_signals()
    verdict = soak.check_memory(sampler.samples)
    hwm = proc_status_kib(pid, "VmHWM")

    # Every client leaves: the when-needed profiles deregister, always-on ones stay.
    released = sum(believed_holders(soak.clients).values())
    for c in soak.clients:
        c.close()
        c.believed.clear()
    await soak.check_holds(admin.bus, connected=False)
    await soak.check_registrations(admin.bus, set(soak.always_on))
    soak.check_signals()
    soak.check_replies()  # the IsEnabled of the check above

    await daemon.stop()
    if daemon.process.returncode != 0:
        soak.fail("no clean exit", [f"SIGTERM: exit status {daemon.process.returncode}"])
    try:
        await poll(lambda: empty_registrar(soak.registrar), 10.0, "bindings left")
    except AssertionError as exc:
        soak.fail("bindings left after SIGTERM", [str(exc)])

    tally, observer = soak.tally, soak.observer
    assert observer is not None
    # The run did what it claims: every kind of reply, vanishing clients, unpopular
    # profiles registering again and again, the registrar looked at.
    kinds = {"Enable ok", "Disable ok", "Enable AlreadyEnabled", "Disable NotEnabled"}
    coverage = {
        f"replies {sorted(kinds - set(tally.replies))} missing": kinds <= set(tally.replies),
        f"only {tally.vanished} vanishings": tally.vanished >= FLAKY,
        "no re-registrations": observer.events["registered"] > 2 * WHEN_NEEDED,
        f"only {watch.looks} looks at the registrar": watch.looks >= soak.seconds / 2,
    }
    missing = [what for what, ok in coverage.items() if not ok]
    if missing:
        soak.fail("the run did not do what it claims", missing)
    build = "compiled" if compiled() else "pure"
    return (
        f"soak seed {soak.seed}, {build} build: {soak.summary()}\n"
        f"held at the end {len(wanted) - ALWAYS_ON} of {WHEN_NEEDED} when-needed profiles; "
        f"{released} holds released by the clients leaving\n"
        f"always-on refreshes: {describe_counts(refreshes)}; registrar looked at "
        f"{watch.looks} times\nmemory: {verdict.describe()}; VmHWM {hwm} KiB"
    )


@pytest.mark.reliability
@pytest.mark.timeout(_timeout())
async def test_a_hundred_clients_enabling_and_disabling_leave_everything_exact(
    kamailio_factory: RegistrarFactory,
    dbus_address: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    seconds = soak_seconds(request.config)
    specs: list[Spec] = soak_specs(WHEN_NEEDED, ALWAYS_ON, SHORT_EXPIRES, STEADY_EXPIRES)
    registrar = kamailio_factory(
        min_expires=MIN_EXPIRES, users={s.user: f"{s.user}-secret" for s in specs}
    )
    database = tmp_path / "state" / "profiles.db"
    async with client(dbus_address) as admin:
        daemon = DaemonUnderTest(admin, dbus_address, database, tmp_path / "daemon.log")
        soak = Soak(new_seed(), seconds, registrar, daemon)
        failure: SoakFailure | None = None
        try:
            report = await soak_run(soak, admin, dbus_address, tmp_path / "memory.csv")
        except SoakFailure as exc:
            failure = exc
        finally:
            for c in soak.clients:
                c.close()
            if soak.observer is not None:
                soak.observer.close()
            await daemon.stop()  # the log is complete only once the daemon is gone
    if failure is not None:
        pytest.fail(f"{failure}\n--- daemon log ---\n{daemon.log_tail()}", pytrace=False)
    print(f"\n{report}")


def test_the_memory_verdict_sees_a_leak_of_a_hundred_bytes_per_call_after_the_warm_up() -> None:
    """The verdict itself, on made-up samples: flat passes, a small leak fails."""
    calls_per_sample = 1000

    def run(leak: float, noise: int, first_call: int) -> MemoryVerdict:
        rng = random.Random(1)
        samples = [
            Sample(
                at=i * 0.5,
                rss_kib=40_000 + int(leak * i * calls_per_sample / 1024) + rng.randrange(noise),
                fds=13,
                calls=first_call + i * calls_per_sample,
            )
            for i in range(200)
        ]
        return memory_verdict(
            samples,
            tolerance_kib=MEMORY_TOLERANCE_KIB,
            warmup_calls=WARMUP_CALLS,
            warmup_bytes_per_call=WARMUP_BYTES_PER_CALL,
        )

    # after the warm-up: 100,000 calls between the quarters' middles
    assert run(leak=0, noise=2048, first_call=WARMUP_CALLS).ok
    leaking = run(leak=100, noise=2048, first_call=WARMUP_CALLS)
    assert not leaking.ok and leaking.warming_calls == 0, leaking.describe()
    # still warming up: the climb of the warm-up passes, ten times that does not
    assert run(leak=40, noise=2048, first_call=0).ok
    assert not run(leak=400, noise=2048, first_call=0).ok
