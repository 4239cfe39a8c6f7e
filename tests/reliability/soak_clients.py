"""The soak test's parts (``test_soak.py``): profiles, clients, observers, memory.

The clients are the point of it. Each is one bus connection of its own, as an
application is, and sends one call at a time: so the contract decides every reply in
advance (Enable of a profile the client holds is AlreadyEnabled, Disable of one it
does not hold is NotEnabled, anything else succeeds), and the client knows what it
holds from the replies alone. What it believes changes only when a success reply
has arrived; an error reply changes nothing. (With one call at a time, recording a
hold as the call leaves would come to the same; what must never be recorded are the
calls a vanishing client sends and never sees answered.) A reply other than the one the contract
predicts is a *surprise* and fails the test; a call without a reply within
``CALL_TIMEOUT`` is a timeout and fails it too. The AlreadyEnabled and NotEnabled
replies are asked for on purpose now and then (``PROBE``): they are part of the
protocol, counted, never failures when predicted.

A few clients (``flaky``) now and then vanish: they send some Enables and close the
connection without waiting for the replies, as a crashing application does, then
connect again as a new client holding nothing. The daemon must release everything
the vanished connection held, whether or not it handled those last calls.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, Final

from busutil import plain
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from interop.test_kamailio_registration import settings as registration_settings
from kamailio.registrar import Binding, Registrar

from sipprofile.proto import names
from sipprofile.proto.busfix import harden

#: Seconds a call may take before it counts as unanswered (the daemon answers Enable
#: and Disable at once; under this load a reply takes milliseconds).
CALL_TIMEOUT: Final = 10.0
#: Upper bound of the random pause between a client's calls, in seconds.
MAX_PAUSE: Final = 0.05
#: Share of steps that ask for a protocol error on purpose (AlreadyEnabled/NotEnabled).
PROBE: Final = 0.06
#: Share of steps that ask IsEnabled and compare it with what the client believes.
ASK: Final = 0.04
#: Holds a client keeps on average: it lets go with probability n / (n + TARGET_HOLDS).
TARGET_HOLDS: Final = 1.0
#: A flaky client vanishes after a random pause of up to this many seconds.
MAX_VANISH_GAP: Final = 4.0

ALREADY_ENABLED: Final = names.Error.ALREADY_ENABLED
NOT_ENABLED: Final = names.Error.NOT_ENABLED
OK: Final = ""


# ------------------------------------------------------------------ profiles


@dataclass(frozen=True)
class Spec:
    """One profile of the soak: its registrar user, transport, kind and expiry.

    ``expires`` is the ``RegisterExpires`` asked for; None leaves the type's default
    (3600 s), long enough that a binding the daemon forgot to deregister is still
    at the registrar when the run ends, whenever it was forgotten.
    """

    user: str
    transport: str
    always_on: bool
    expires: int | None

    def settings(self, registrar: Registrar) -> dict[str, Any]:
        """CreateProfile's settings: digest credentials of ``user`` at ``registrar``."""
        created = registration_settings(registrar, self.transport, self.user)
        created["ProviderName"] = f"soak {self.user}"
        created["AutoRegistration"] = self.always_on
        if self.expires is not None:
            created["Extensions"] = {"RegisterExpires": Variant("u", self.expires)}
        return created


def soak_specs(when_needed: int, always_on: int, short: Sequence[int], steady: int) -> list[Spec]:
    """The profiles: users ``soak00``..., every third over TCP, every fifth long-lived.

    The when-needed profiles come first, their expiries cycling through ``short``
    (every fifth keeps the default hour). Always-on profiles 1 and 2 (one over UDP,
    one over TCP) ask for ``steady`` seconds, the others for ``short`` ones: see
    ``RegistrarWatch`` for why the watched ones cannot be as short.
    """
    specs = []
    for index in range(when_needed + always_on):
        on = index >= when_needed
        expires: int | None = short[index % len(short)]
        if on and index - when_needed in (1, 2):
            expires = steady
        elif not on and index % 5 == 4:
            expires = None
        transport = "tcp" if index % 3 == 2 else "udp"
        specs.append(Spec(f"soak{index:02d}", transport, on, expires))
    return specs


def popularity(count: int, rng: Random) -> list[float]:
    """Weights for picking profiles: Zipf-like (1/rank), ranks shuffled by ``rng``.

    With a hundred clients holding about one profile each, the popular profiles are
    always held (their holds come and go but the registration is shared) and the
    unpopular ones are held only now and then, so they register and deregister
    again and again; the shuffle gives either fate to every kind of profile.
    """
    ranks = list(range(1, count + 1))
    rng.shuffle(ranks)
    return [1.0 / rank for rank in ranks]


# ------------------------------------------------------------------ clients


@dataclass
class Tally:
    """What all clients did and saw; ``problems`` fail the test."""

    replies: Counter[str] = field(default_factory=Counter)
    vanished: int = 0
    sent_before_vanishing: int = 0
    timeouts: int = 0
    problems: list[str] = field(default_factory=list)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    @property
    def calls(self) -> int:
        """Enable, Disable and IsEnabled calls answered (vanishing ones not counted)."""
        return sum(self.replies.values())

    def problem(self, text: str) -> None:
        """Keep a failure; the first few hundred are plenty to read."""
        if len(self.problems) < 500:
            self.problems.append(text)

    def latency_summary(self) -> str:
        """Median, 99th percentile and maximum reply time, in milliseconds."""
        if len(self.latencies) < 2:
            return "no calls"
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"reply time median {statistics.median(ordered) * 1e3:.1f} ms, "
            f"p99 {p99 * 1e3:.1f} ms, max {ordered[-1] * 1e3:.1f} ms"
        )


class SoakClient:
    """One application: a bus connection of its own, Enable/Disable in a random loop.

    ``believed`` is the set of profile paths this connection holds as far as the
    replies it received say; ``connections`` counts the bus connections it used
    (each reconnection is a new client to the daemon).
    """

    def __init__(
        self,
        index: int,
        address: str,
        paths: Sequence[str],
        weights: Sequence[float],
        seed: int,
        tally: Tally,
        *,
        flaky: bool,
    ) -> None:
        self.index = index
        self.address = address
        self.paths = list(paths)
        self.weights = list(weights)
        self.rng = Random(seed)
        self.tally = tally
        self.flaky = flaky
        self.believed: set[str] = set()
        self.bus: MessageBus | None = None
        self.connections = 0
        self._next_vanish = 0.0

    async def connect(self) -> None:
        """A new bus connection: to the daemon a new client, holding nothing."""
        bus = await MessageBus(bus_address=self.address).connect()
        harden(bus)
        self.bus = bus
        self.connections += 1
        self.believed = set()
        if self.flaky:
            loop = asyncio.get_running_loop()
            self._next_vanish = loop.time() + self.rng.uniform(0.5, MAX_VANISH_GAP)

    def close(self) -> None:
        """Leave the bus (the daemon then releases whatever this client held)."""
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None

    @property
    def name(self) -> str:
        """The connection's unique bus name, for failure messages."""
        if self.bus is None:
            return "(disconnected)"
        return self.bus.unique_name or "?"

    async def run(self, until: float) -> None:
        """Steps with random pauses until loop time ``until``; the last call completes.

        No call is cut short at the end: every one either gets its reply or counts
        as a timeout, so what the client believes stays exact.
        """
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            await asyncio.sleep(self.rng.uniform(0.0, MAX_PAUSE))  # think time, not a wait
            if loop.time() >= until:
                break
            if self.flaky and loop.time() >= self._next_vanish:
                await self.vanish()
            else:
                await self.step()

    async def step(self) -> None:
        """One call: mostly Enable or Disable as the holds suggest, now and then a probe."""
        rng = self.rng
        held = sorted(self.believed)
        roll = rng.random()
        if roll < ASK:
            path = rng.choice(self.paths)
            enabled = await self.call(path, "IsEnabled")
            if enabled is not None and enabled != (path in self.believed):
                self.tally.problem(
                    f"client {self.index} ({self.name}): IsEnabled {path} is {enabled}, "
                    f"but it holds {sorted(self.believed)}"
                )
        elif roll < ASK + PROBE:
            free = [p for p in self.paths if p not in self.believed]
            if held and (not free or rng.random() < 0.5):
                await self.change(rng.choice(held), "Enable")  # AlreadyEnabled
            else:
                await self.change(rng.choice(free), "Disable")  # NotEnabled
        elif held and rng.random() < len(held) / (len(held) + TARGET_HOLDS):
            await self.change(rng.choice(held), "Disable")
        else:
            # may pick a held one: then AlreadyEnabled, a probe by chance
            await self.change(rng.choices(self.paths, self.weights)[0], "Enable")

    async def change(self, path: str, member: str) -> None:
        """Enable or Disable ``path``; what the client believes follows the reply only."""
        holds = path in self.believed
        if member == "Enable":
            expected = ALREADY_ENABLED if holds else OK
        else:
            expected = OK if holds else NOT_ENABLED
        outcome = await self.call(path, member)
        if outcome is None:
            return  # a timeout, already counted as a problem
        assert isinstance(outcome, str)
        if outcome != expected:
            self.tally.problem(
                f"client {self.index} ({self.name}): {member} {path} answered "
                f"{outcome or 'success'!r}, the contract says {expected or 'success'!r} "
                f"(it held it: {holds})"
            )
        if outcome == OK:  # acknowledged: now the client may believe it
            if member == "Enable":
                self.believed.add(path)
            else:
                self.believed.discard(path)

    async def call(self, path: str, member: str, *, counted: bool = True) -> str | bool | None:
        """Call ``member`` on the profile at ``path``, and count its reply.

        Returns IsEnabled's answer, OK or the error name of Enable and Disable, or
        None when no reply came within ``CALL_TIMEOUT`` (a problem, always counted).
        Not ``counted``: the reply and its time stay out of the run's statistics
        (the checks after the run).
        """
        assert self.bus is not None
        message = Message(
            destination=names.BUS_NAME,
            path=path,
            interface=names.PROFILE_INTERFACE,
            member=member,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            reply = await asyncio.wait_for(self.bus.call(message), CALL_TIMEOUT)
        except TimeoutError:
            self.tally.timeouts += 1
            self.tally.problem(
                f"client {self.index} ({self.name}): {member} {path} unanswered "
                f"after {CALL_TIMEOUT:g} s"
            )
            return None
        assert reply is not None
        if counted:
            self.tally.latencies.append(loop.time() - started)
        if reply.message_type is MessageType.ERROR:
            outcome = reply.error_name or "?"
            if counted:
                self.tally.replies[f"{member} {outcome.rsplit('.', 1)[-1]}"] += 1
            if outcome not in (ALREADY_ENABLED, NOT_ENABLED):
                detail = reply.body[0] if reply.body else ""
                self.tally.problem(f"client {self.index}: {member} {path}: {outcome}: {detail}")
            return outcome
        if counted:
            self.tally.replies[f"{member} ok"] += 1
        if member == "IsEnabled":
            return bool(reply.body[0])
        return OK

    async def vanish(self) -> None:
        """Crash like an application: Enables sent, connection closed, no replies read.

        The Enables are written to the socket before it is closed (so dbus-daemon has
        them); whether the daemon handled them before it saw the client go is down
        to timing, and either way the client's holds must all be released. Then the
        client comes back as a new connection.
        """
        assert self.bus is not None
        rng = self.rng
        burst = [rng.choices(self.paths, self.weights)[0] for _ in range(rng.randint(1, 3))]
        written = [
            self.bus.send(
                Message(
                    destination=names.BUS_NAME,
                    path=path,
                    interface=names.PROFILE_INTERFACE,
                    member="Enable",
                )
            )
            for path in burst
        ]
        await asyncio.gather(*written)
        if rng.random() < 0.5:  # sometimes the replies are on their way by now
            await asyncio.sleep(rng.uniform(0.0, 0.01))
        self.close()
        self.tally.vanished += 1
        self.tally.sent_before_vanishing += len(burst)
        await self.connect()

    async def enabled_by_daemon(self) -> set[str]:
        """The profiles the daemon says this connection holds (IsEnabled on each)."""
        answers = await asyncio.gather(
            *(self.call(path, "IsEnabled", counted=False) for path in self.paths)
        )
        return {path for path, enabled in zip(self.paths, answers, strict=True) if enabled}


# ------------------------------------------------------------------ observing


class Observer:
    """A bus connection that watches the daemon's signals during the run.

    Counts registrations and deregistrations (ProfileEvent), ProfileError signals by
    error name, and every profile that was ever reported in State "failed". Nothing
    is kept per signal, so a long run costs no memory here.
    """

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.events: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.failed: set[str] = set()
        bus.add_message_handler(self._on_message)

    @classmethod
    async def connect(cls, address: str) -> Observer:
        """Connect and subscribe to every signal under the registry's path."""
        bus = await MessageBus(bus_address=address).connect()
        harden(bus)
        observer = cls(bus)
        rule = f"type='signal',sender='{names.BUS_NAME}',path_namespace='{names.REGISTRY_PATH}'"
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=[rule],
            )
        )
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
        return observer

    def _on_message(self, msg: Message) -> None:
        if msg.message_type is not MessageType.SIGNAL:
            return
        if msg.member == "ProfileEvent":
            self.events[str(msg.body[1])] += 1
        elif msg.member == "ProfileError":
            self.errors[str(msg.body[1]).rsplit(".", 1)[-1]] += 1
        elif msg.member == "PropertiesChanged" and msg.path:
            state = msg.body[1].get("State")
            if state is not None and state.value == "failed":
                self.failed.add(msg.path)

    def close(self) -> None:
        """Leave the bus."""
        self.bus.disconnect()


@dataclass(frozen=True)
class Lapse:
    """An always-on binding the registrar did not hold as live at one look."""

    at: float
    user: str
    seen: str


class RegistrarWatch:
    """Looks at the registrar's location table now and then during the run.

    An always-on profile is wanted all the time, so from its first registration on
    its binding must be at the registrar and valid at every look: a refresh that
    came too late shows as a lapse. Kamailio counts time in whole seconds and holds
    a binding valid while its expiry is *after* the current second, so it shows
    ``Expires: 0`` (already invalid, deleted by the next usrloc timer run) in the
    last second, and a binding is valid for between E-1 and E seconds. The daemon
    refreshes at 75-90 % of E: that comes before Kamailio's end only when 10 % of E
    exceeds that second plus the daemon's delays, so the watched profiles ask for
    15 s (measured with 3 s: ``Expires: 0`` at 5 % of looks, and a binding deleted
    now and then before its refresh, however prompt). Each look is one ``kamcmd
    ul.dump``, run in a thread.
    """

    def __init__(self, registrar: Registrar, users: Sequence[str], interval: float) -> None:
        self.registrar = registrar
        self.users = list(users)
        self.interval = interval
        self.looks = 0
        self.lapses: list[Lapse] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Look every ``interval`` seconds until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            dump = await asyncio.to_thread(self.registrar.ul_dump)
            self.looks += 1
            by_user = bindings_by_user(dump)
            for user in self.users:
                live = [b for b in by_user.get(user, []) if b.expires]
                if len(live) != 1:
                    seen = [(b.contact, b.raw.get("Expires")) for b in by_user.get(user, [])]
                    self.lapses.append(Lapse(loop.time(), user, repr(seen)))
            with suppress(TimeoutError):  # pacing between looks; ``stop`` ends it early
                await asyncio.wait_for(stop.wait(), self.interval)


def bindings_by_user(dump: Sequence[Binding]) -> dict[str, list[Binding]]:
    """Bindings grouped by the user part of their AOR (``use_domain`` is off)."""
    grouped: dict[str, list[Binding]] = {}
    for binding in dump:
        grouped.setdefault(binding.aor.split("@", 1)[0], []).append(binding)
    return grouped


# ------------------------------------------------------------------ memory


@dataclass(frozen=True)
class Sample:
    """One look at the daemon: loop time, VmRSS (KiB), open descriptors, calls so far."""

    at: float
    rss_kib: int
    fds: int
    calls: int


def proc_status_kib(pid: int, field_name: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (VmRSS, VmHWM...)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field_name} in /proc/{pid}/status")


class MemorySampler:
    """Samples the daemon's VmRSS and descriptor count every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float, calls: Callable[[], int]) -> None:
        self.pid = pid
        self.interval = interval
        self.calls = calls
        self.samples: list[Sample] = []

    def sample(self) -> Sample:
        """Take one sample now (a few microseconds: two small reads of /proc)."""
        taken = Sample(
            asyncio.get_running_loop().time(),
            proc_status_kib(self.pid, "VmRSS"),
            len(os.listdir(f"/proc/{self.pid}/fd")),
            self.calls(),
        )
        self.samples.append(taken)
        return taken

    def write_csv(self, path: Path) -> None:
        """The samples as CSV (seconds from the first, KiB, descriptors, calls)."""
        start = self.samples[0].at if self.samples else 0.0
        lines = ["seconds,rss_kib,fds,calls"]
        lines += [f"{s.at - start:.2f},{s.rss_kib},{s.fds},{s.calls}" for s in self.samples]
        path.write_text("\n".join(lines) + "\n")

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until ``stop`` is set, and once more then."""
        while not stop.is_set():
            self.sample()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        self.sample()


@dataclass(frozen=True)
class MemoryVerdict:
    """The 2nd and 4th quarters of a run compared; sizes in KiB.

    ``growth`` is the 4th quarter's median VmRSS minus the 2nd's; ``calls_between``
    the calls answered between the middles of the two quarters, so ``growth`` over
    ``calls_between`` is what a leak would cost per call; ``tolerance`` the growth
    allowed. ``warming_calls`` of those fell in the daemon's warm-up (see
    ``memory_verdict``).
    """

    medians: tuple[float, float, float, float]
    q4_max: int
    peak: int
    growth: float
    calls_between: int
    warming_calls: int
    tolerance: float
    samples: int

    @property
    def ok(self) -> bool:
        """No growth beyond the tolerance."""
        return self.growth <= self.tolerance

    @property
    def detectable(self) -> float:
        """Bytes per call a leak must cost to exceed the tolerance in this run."""
        return self.tolerance * 1024 / max(1, self.calls_between)

    def describe(self) -> str:
        """The numbers, for the report and for failure messages."""
        medians = ", ".join(f"{m:.0f}" for m in self.medians)
        return (
            f"VmRSS medians by quarter {medians} KiB (4th quarter max {self.q4_max}, "
            f"run's peak {self.peak}): growth {self.growth:+.0f} KiB from the 2nd to the "
            f"4th, tolerance {self.tolerance:.0f} KiB; {self.calls_between} calls between "
            f"the quarters' middles ({self.warming_calls} of them in the warm-up), so a "
            f"leak of {self.detectable:.0f} bytes per call or more fails "
            f"({self.samples} samples)"
        )


def quarters(samples: Sequence[Sample]) -> list[list[Sample]]:
    """The samples in four quarters of the run's time span (by time, not by count)."""
    start, end = samples[0].at, samples[-1].at
    span = (end - start) or 1.0
    out: list[list[Sample]] = [[], [], [], []]
    for sample in samples:
        out[min(3, int(4 * (sample.at - start) / span))].append(sample)
    return out


def memory_verdict(
    samples: Sequence[Sample],
    *,
    tolerance_kib: float,
    warmup_calls: int,
    warmup_bytes_per_call: float,
) -> MemoryVerdict:
    """Compare the 2nd and 4th quarters' median VmRSS.

    Medians, not single samples: a collection or a burst of calls moves one sample,
    not the middle of a quarter. The 1st quarter is left out as the warm-up. But
    the daemon's warm-up is long: each finished registration is garbage in a
    reference cycle, freed only by a full collection, and CPython runs those rarely
    (after the old generation grew by a quarter), so the resident size climbs by
    ~40 bytes per call until ``warmup_calls`` and is flat from then on. The calls
    between the quarters' middles that fall before ``warmup_calls`` are allowed
    ``warmup_bytes_per_call`` each on top of ``tolerance_kib``: a short run, all
    warm-up, sees only larger leaks; a run whose 2nd quarter's middle comes after
    the warm-up is allowed ``tolerance_kib`` alone.
    """
    parts = quarters(samples)
    if any(len(part) < 3 for part in parts):
        raise ValueError(f"too few samples per quarter: {[len(p) for p in parts]}")
    q2, q4 = parts[1], parts[3]
    medians = tuple(statistics.median(s.rss_kib for s in part) for part in parts)
    assert len(medians) == 4
    middle_q2, middle_q4 = q2[len(q2) // 2].calls, q4[len(q4) // 2].calls
    warming_calls = max(0, min(warmup_calls, middle_q4) - middle_q2)
    return MemoryVerdict(
        medians=medians,
        q4_max=max(s.rss_kib for s in q4),
        peak=max(s.rss_kib for s in samples),
        growth=medians[3] - medians[1],
        calls_between=middle_q4 - middle_q2,
        warming_calls=warming_calls,
        tolerance=tolerance_kib + warmup_bytes_per_call * warming_calls / 1024,
        samples=len(samples),
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ reading the daemon


async def profile_states(bus: MessageBus) -> dict[str, dict[str, Any]]:
    """Every profile's properties, by path, in one GetManagedObjects call."""
    reply = await asyncio.wait_for(
        bus.call(
            Message(
                destination=names.BUS_NAME,
                path=names.REGISTRY_PATH,
                interface=names.OBJECT_MANAGER_INTERFACE,
                member="GetManagedObjects",
            )
        ),
        CALL_TIMEOUT,
    )
    assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
    return {
        path: plain(interfaces[names.PROFILE_INTERFACE])
        for path, interfaces in reply.body[0].items()
        if names.PROFILE_INTERFACE in interfaces
    }


def believed_holders(clients: Sequence[SoakClient]) -> Counter[str]:
    """How many connected clients believe they hold each profile."""
    return Counter(path for client in clients for path in client.believed)


def describe_counts(counts: Mapping[str, int]) -> str:
    """``a 3, b 5`` in name order; ``none`` when empty."""
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"
