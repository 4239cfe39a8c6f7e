"""A random workload of profile changes over the bus, and what must survive a kill -9.

The driver (``Workload``) sends CreateProfile, ImportProfiles, Update and Delete calls
from many concurrent workers, and the ``Ledger`` keeps what their replies promise: a
change counts as acknowledged only once its reply has arrived, and only then is the
profile's expected state moved to the call's result. A call still waiting for its
reply when the daemon is killed is *in doubt*: after the restart its change must be
found either whole or not at all (``Ledger.settle``).

Each profile has at most one call in flight (workers take it out of the pool while
they change it), so in doubt means exactly two candidate states per profile, the
acknowledged one and the call's result; concurrency comes from many profiles being
changed at once, which is also what makes the daemon's writes queue up. Creates and
imports carry a unique token in ProviderName so that a profile nobody acknowledged
can be traced to the call that made it.

"Durable" state is what the daemon must have on disk for a profile: the settings a
client can read back (compared field by field, Default aside: it moves between
profiles, so the test checks it as an invariant) and the secrets rows, which the bus
never shows and the test reads from the database itself.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from busutil import CallFailed, Raw, plain
from dbus_fast import Variant

from sipprofile.proto import names
from sipprofile.proto.schema import SETTINGS

#: Settings compared per profile: every writable one but Default (checked apart).
COMPARED: Final = tuple(key for key in SETTINGS if key != "Default")

#: Server URIs: loopback only, and never used, since nothing here registers.
SERVER_URIS: Final = (
    "",
    "sip:127.0.0.1:5060",
    "sip:127.0.0.1:5070;transport=tcp",
    "sips:127.0.0.1:5061",
    "sip:[::1]:5080;transport=udp",
)
ACCESS_POINTS: Final = ("", "lo", "eth0,wlan0", "usb0")
IDENTITIES: Final = ("", "alice@ims.example.test", "b.c@ims.example.test")
#: Extension values, one per D-Bus type the daemon accepts there.
EXTENSION_TYPES: Final = ("s", "b", "i", "u", "x", "t", "as")
#: The TypeClass each built-in type must report.
TYPE_CLASSES: Final = {"IETF": "internet", "ims": "ims"}
#: The secrets rows of the software USIM's keys (``registry.model.AKA_ROWS``).
AKA_ROWS: Final = ("aka-k", "aka-op", "aka-opc", "aka-amf", "aka-sqn")


@dataclass(frozen=True)
class Durable:
    """What must be stored for one profile: readable settings and secrets rows.

    ``settings`` maps each of ``COMPARED`` to its value as ``readable`` makes it from
    a reply; ``secrets`` maps a secrets row (``registrar``, ``proxy``, ``aka-k``...)
    to its text. Two states are equal only if every field is.
    """

    settings: Mapping[str, Any]
    secrets: Mapping[str, str]

    def differences(self, other: Durable) -> list[str]:
        """What differs from ``other``, by field, for a failure message."""
        out = [
            f"{key}: {self.settings.get(key)!r} != {other.settings.get(key)!r}"
            for key in COMPARED
            if self.settings.get(key) != other.settings.get(key)
        ]
        if self.secrets != other.secrets:
            out.append(f"secrets rows {sorted(self.secrets)} != {sorted(other.secrets)}")
            out += [
                f"secret {row} differs"
                for row in sorted(set(self.secrets) & set(other.secrets))
                if self.secrets[row] != other.secrets[row]
            ]
        return out


def readable(props: Mapping[str, Variant]) -> tuple[dict[str, Any], bool]:
    """A profile's settings as compared (``COMPARED``), and its Default flag.

    Extensions keep their D-Bus signature: a value read back as another type than it
    was written (``u`` as ``x``) is a change too.
    """
    settings: dict[str, Any] = {}
    for key in COMPARED:
        value = props[key]
        if key == "Extensions":
            settings[key] = {k: (v.signature, plain(v.value)) for k, v in value.value.items()}
        else:
            settings[key] = plain(value)
    return settings, bool(props["Default"].value)


# ------------------------------------------------------------------ generator


class Generator:
    """Random valid settings: a write (variants) and the state it must lead to.

    Every value is one the daemon accepts, so any error reply is a failure; the
    expected state is computed here independently of the daemon's code, by the
    merge rules the interface XML documents (server dictionaries and Aka merge,
    a Password of "" removes it, K "" removes every AKA key).
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._serial = 0

    def _text(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial}-{self.rng.randrange(10**6)}"

    def _hex(self, digits: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(digits))

    def create(self, token: str) -> tuple[dict[str, Variant], Durable]:
        """A new profile's settings, with ``token`` in its ProviderName."""
        rng = self.rng
        sigcomp, negotiation = rng.random() < 0.5, rng.random() < 0.5
        write: dict[str, Variant] = {
            "Type": Variant("s", rng.choice(("IETF", "ims"))),
            "ProviderName": Variant("s", token),
            "Aor": Variant("s", f"sip:{token}@crash.example.test"),
            # given explicitly, so the types' defaults do not enter the expectation
            "SigComp": Variant("b", sigcomp),
            "SecurityNegotiation": Variant("b", negotiation),
        }
        empty_server = {"Uri": "", "Username": "", "Realm": "", "HasPassword": False}
        settings: dict[str, Any] = {
            "Type": write["Type"].value,
            "ProviderName": token,
            "Aor": write["Aor"].value,
            "AccessPoint": "",
            "Registrar": dict(empty_server),
            "OutboundProxy": dict(empty_server),
            "SigComp": sigcomp,
            "SecurityNegotiation": negotiation,
            "AutoRegistration": False,
            "PrivateIdentity": "",
            "Aka": {"HasKeys": False},
            "ContactParams": {},
            "Headers": [],
            "Extensions": {},
        }
        state = Durable(settings, {})
        extra, state = self._changes(state, creating=True)
        write.update(extra)
        return write, state

    def update(self, current: Durable) -> tuple[dict[str, Variant], Durable]:
        """Changes to several settings at once (secrets often among them)."""
        return self._changes(current, creating=False)

    def _changes(self, current: Durable, *, creating: bool) -> tuple[dict[str, Variant], Durable]:
        rng = self.rng
        settings = dict(current.settings)
        secrets = dict(current.secrets)
        write: dict[str, Variant] = {}
        choices = [
            "ProviderName", "Aor", "AccessPoint", "Registrar", "OutboundProxy", "SigComp",
            "SecurityNegotiation", "AutoRegistration", "PrivateIdentity", "Aka",
            "ContactParams", "Headers", "Extensions",
        ]  # fmt: skip
        if creating:  # fixed by the token, and given already
            choices = [c for c in choices if c not in ("ProviderName", "Aor")]
        # several at once: a half-applied write shows as a mix of old and new
        for key in rng.sample(choices, rng.randint(2 if creating else 3, 6)):
            if key == "ProviderName":
                value: Any = self._text("renamed")
                write[key] = Variant("s", value)
            elif key == "Aor":
                value = f"sip:{self._text('u')}@crash.example.test"
                write[key] = Variant("s", value)
            elif key == "AccessPoint":
                value = rng.choice(ACCESS_POINTS)
                write[key] = Variant("s", value)
            elif key in ("SigComp", "SecurityNegotiation"):
                value = rng.random() < 0.5
                write[key] = Variant("b", value)
            elif key == "AutoRegistration":
                value = False  # always-on would register: that is the other test's job
                write[key] = Variant("b", value)
            elif key == "PrivateIdentity":
                value = rng.choice(IDENTITIES)
                write[key] = Variant("s", value)
            elif key in ("Registrar", "OutboundProxy"):
                row = "registrar" if key == "Registrar" else "proxy"
                written, value, password = self._server(settings[key])
                write[key] = Variant("a{sv}", written)
                if password is not None:
                    if password:
                        secrets[row] = password
                    else:
                        secrets.pop(row, None)
            elif key == "Aka":
                written, value, rows = self._aka()
                write[key] = Variant("a{sv}", written)
                for name in AKA_ROWS:
                    secrets.pop(name, None)
                secrets.update(rows)
            elif key == "ContactParams":
                value = {
                    f"p{n}": rng.choice(("", "tok", '"quoted value"', "x.example.test"))
                    for n in range(rng.randint(0, 3))
                }
                write[key] = Variant("a{ss}", value)
            elif key == "Headers":
                value = [f"X-Crash-{n}: {self._text('h')}" for n in range(rng.randint(0, 3))]
                write[key] = Variant("as", value)
            else:
                value = dict(self._extension() for _ in range(rng.randint(0, 4)))
                write[key] = Variant("a{sv}", {k: Variant(s, v) for k, (s, v) in value.items()})
            settings[key] = value
        return write, Durable(settings, secrets)

    def _server(
        self, current: Mapping[str, Any]
    ) -> tuple[dict[str, Variant], dict[str, Any], str | None]:
        """A partial server dictionary, the merged readable value, the new password."""
        rng = self.rng
        written: dict[str, Variant] = {}
        merged = dict(current)
        password: str | None = None
        for key in rng.sample(("Uri", "Username", "Realm", "Password"), rng.randint(1, 4)):
            if key == "Uri":
                value = rng.choice(SERVER_URIS)
            elif key == "Password":
                value = "" if rng.random() < 0.2 else self._text("pw")
                password = value
                merged["HasPassword"] = bool(value)
            else:
                value = rng.choice(("", self._text(key.lower())))
            if key != "Password":
                merged[key] = value
            written[key] = Variant("s", value)
        return written, merged, password

    def _aka(self) -> tuple[dict[str, Variant], dict[str, Any], dict[str, str]]:
        """Either every key given (so the rows do not depend on the stored ones) or K ""."""
        if self.rng.random() < 0.25:
            return {"K": Variant("s", "")}, {"HasKeys": False}, {}
        k, opc, amf = self._hex(32), self._hex(32), self._hex(4)
        sqn = self.rng.randrange(2**48)
        written = {
            "K": Variant("s", k.upper() if self.rng.random() < 0.3 else k),
            "OPc": Variant("s", opc),
            "AMF": Variant("s", amf),
            "SQN": Variant("t", sqn),
        }
        rows = {"aka-k": k, "aka-opc": opc, "aka-amf": amf, "aka-sqn": str(sqn)}
        return written, {"HasKeys": True}, rows

    def _extension(self) -> tuple[str, tuple[str, Any]]:
        rng = self.rng
        signature = rng.choice(EXTENSION_TYPES)
        value: Any
        if signature == "s":
            value = self._text("ext")
        elif signature == "b":
            value = rng.random() < 0.5
        elif signature == "i":
            value = rng.randint(-(2**31), 2**31 - 1)
        elif signature == "u":
            value = rng.randrange(2**32)
        elif signature == "x":
            value = rng.randint(-(2**63), 2**63 - 1)
        elif signature == "t":
            value = rng.randrange(2**64)
        else:
            value = [self._text("item") for _ in range(rng.randint(0, 3))]
        return f"Ext{rng.randrange(8)}", (signature, value)


# ------------------------------------------------------------------ ledger


@dataclass
class InDoubt:
    """A call whose reply never came: its change may be stored whole, or not at all.

    ``kind`` is create, import, update or delete. Creates and imports list the new
    profiles' states (``group``: all of an import or none); updates and deletes name
    the profile, its acknowledged state (``before``) and, for an update, the result
    (``after``).
    """

    kind: str
    profile_id: int = 0
    before: Durable | None = None
    after: Durable | None = None
    group: tuple[Durable, ...] = ()


@dataclass
class Ledger:
    """The expected durable state: acknowledged changes, and the calls in doubt."""

    profiles: dict[int, Durable] = field(default_factory=dict)
    #: update/delete calls in doubt, by profile id (one at most per profile)
    in_doubt: dict[int, InDoubt] = field(default_factory=dict)
    #: create/import calls in doubt
    new_in_doubt: list[InDoubt] = field(default_factory=list)
    #: profiles a worker is changing: not to be picked by another
    busy: set[int] = field(default_factory=set)
    acknowledged: dict[str, int] = field(default_factory=dict)
    doubted: dict[str, int] = field(default_factory=dict)
    #: in-doubt calls found applied / not applied after restarts
    found_applied: int = 0
    found_absent: int = 0

    def idle_ids(self) -> list[int]:
        """Profiles no call is changing now, in id order (deterministic picks)."""
        return sorted(i for i in self.profiles if i not in self.busy)

    def acknowledge(self, kind: str) -> None:
        """Count an acknowledged call."""
        self.acknowledged[kind] = self.acknowledged.get(kind, 0) + 1

    def doubt(self, call: InDoubt) -> None:
        """Keep a call whose reply will never come."""
        self.doubted[call.kind] = self.doubted.get(call.kind, 0) + 1
        if call.kind in ("create", "import"):
            self.new_in_doubt.append(call)
        else:
            self.in_doubt[call.profile_id] = call

    def settle(self, stored: Mapping[int, Durable]) -> list[str]:
        """Compare with what the restarted daemon holds; resolve the calls in doubt.

        Returns every problem found (empty when all is well). Afterwards the ledger
        holds the stored state as the new acknowledged state, and nothing in doubt.
        """
        problems: list[str] = []
        for profile_id, expected in sorted(self.profiles.items()):
            found = stored.get(profile_id)
            call = self.in_doubt.get(profile_id)
            if call is None:
                if found is None:
                    problems.append(f"profile {profile_id}: acknowledged, but gone")
                elif found != expected:
                    problems.append(
                        f"profile {profile_id}: not as acknowledged: "
                        + "; ".join(found.differences(expected))
                    )
                continue
            if call.kind == "delete":
                if found is None:
                    self.found_applied += 1
                elif found == expected:
                    self.found_absent += 1
                else:
                    problems.append(
                        f"profile {profile_id}: delete in doubt, yet the profile changed: "
                        + "; ".join(found.differences(expected))
                    )
                continue
            assert call.after is not None
            if found is None:
                problems.append(f"profile {profile_id}: update in doubt, but the profile is gone")
            elif found == call.after:
                self.found_applied += 1
            elif found == expected:
                self.found_absent += 1
            else:  # neither: half of the update
                problems.append(
                    f"profile {profile_id}: update in doubt stored in part; against the "
                    f"old state: {'; '.join(found.differences(expected))}; against the "
                    f"new: {'; '.join(found.differences(call.after))}"
                )
        problems += self._settle_new(stored)
        self.profiles = {i: s for i, s in stored.items()}
        self.in_doubt.clear()
        self.new_in_doubt.clear()
        self.busy.clear()
        return problems

    def _settle_new(self, stored: Mapping[int, Durable]) -> list[str]:
        """Profiles nobody acknowledged must each be a whole in-doubt create."""
        problems: list[str] = []
        unknown = {i: s for i, s in stored.items() if i not in self.profiles}
        by_token: dict[str, tuple[InDoubt, Durable]] = {
            state.settings["ProviderName"]: (call, state)
            for call in self.new_in_doubt
            for state in call.group
        }
        found: dict[int, list[Durable]] = {}  # id(call) -> the members found
        for profile_id, state in sorted(unknown.items()):
            token = state.settings.get("ProviderName")
            match = by_token.get(token) if isinstance(token, str) else None
            if match is None:
                problems.append(
                    f"profile {profile_id} ({token!r}): stored, but no call in doubt made it"
                )
                continue
            call, intended = match
            if state != intended:
                problems.append(
                    f"profile {profile_id}: {call.kind} in doubt stored in part: "
                    + "; ".join(state.differences(intended))
                )
            found.setdefault(id(call), []).append(state)
        for call in self.new_in_doubt:
            members = len(found.get(id(call), []))
            if members == len(call.group):
                self.found_applied += 1
            elif members == 0:
                self.found_absent += 1
            else:
                problems.append(
                    f"{call.kind} in doubt of {len(call.group)} profiles: only "
                    f"{members} stored (an import is all or nothing)"
                )
        return problems


# ------------------------------------------------------------------ driver


class UnexpectedReply(Exception):
    """The daemon answered a valid call with an error: a failure, not a crash."""


class Workload:
    """Workers changing profiles over ``raw`` until ``kill()``; every reply recorded.

    ``ledger`` is updated only when a reply arrives; ``kill()`` stops new calls, and
    a call that then ends without a reply (the bus's NoReply) becomes in doubt.
    """

    def __init__(self, raw: Raw, ledger: Ledger, prefix: str) -> None:
        self.raw = raw
        self.ledger = ledger
        self.prefix = prefix
        self.killed = False
        self.in_flight = 0
        self.in_flight_at_kill = 0
        self.calls = 0
        self._tokens = 0

    def kill(self, process: asyncio.subprocess.Process) -> None:
        """SIGKILL the daemon; from now on no worker starts another call.

        The flag is set before the signal, with no await between them, so no call
        starts after the kill and is counted as one that might have been applied.
        """
        self.killed = True
        self.in_flight_at_kill = self.in_flight
        process.kill()

    async def worker(self, seed: int) -> None:
        """Random calls, one at a time, until the daemon is killed.

        Each worker draws from its own generator, seeded by the run's: a replay makes
        the same choices, though the interleaving (and so the ids) follow the timing.
        """
        rng = random.Random(seed)
        generator = Generator(rng)
        while not self.killed:
            await self._one(rng, generator)

    def _token(self) -> str:
        self._tokens += 1
        return f"{self.prefix}-c{self._tokens}"

    async def _one(self, rng: random.Random, generator: Generator) -> None:
        ledger = self.ledger
        idle = ledger.idle_ids()
        size = len(ledger.profiles)
        # keep the population between about 15 and 60 profiles
        if size < 15:
            weights = {"create": 6, "import": 2, "update": 2, "delete": 1}
        elif size > 60:
            weights = {"create": 1, "import": 0, "update": 4, "delete": 6}
        else:
            weights = {"create": 3, "import": 1, "update": 8, "delete": 3}
        if not idle:
            weights["update"] = weights["delete"] = 0
        kind = rng.choices(list(weights), list(weights.values()))[0]
        if kind in ("create", "import"):
            count = 1 if kind == "create" else rng.randint(2, 5)
            made = [generator.create(self._token()) for _ in range(count)]
            await self._new(kind, made)
        else:
            profile_id = rng.choice(idle)
            if kind == "update":
                write, after = generator.update(ledger.profiles[profile_id])
                await self._change(profile_id, "update", write, after)
            else:
                await self._change(profile_id, "delete", None, None)

    async def _call(
        self, path: str, interface: str, member: str, signature: str, body: list[Any]
    ) -> list[Any] | None:
        """The reply's body, or None when the daemon died before replying."""
        self.in_flight += 1
        self.calls += 1
        try:
            return await self.raw.call(path, interface, member, signature, body)
        except CallFailed as exc:
            if self.killed and not exc.name.startswith(names.ERROR_PREFIX):
                return None  # NoReply / ServiceUnknown: the daemon is gone
            raise UnexpectedReply(f"{member} on {path}: {exc}") from None
        finally:
            self.in_flight -= 1

    async def _new(self, kind: str, made: list[tuple[dict[str, Variant], Durable]]) -> None:
        if kind == "create":
            reply = await self._call(
                names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "CreateProfile", "a{sv}",
                [made[0][0]],
            )  # fmt: skip
            paths = [reply[0]] if reply is not None else None
        else:
            reply = await self._call(
                names.REGISTRY_PATH, names.REGISTRY_INTERFACE, "ImportProfiles", "aa{sv}",
                [[write for write, _ in made]],
            )  # fmt: skip
            paths = list(reply[0]) if reply is not None else None
        if paths is None:
            self.ledger.doubt(InDoubt(kind, group=tuple(state for _, state in made)))
            return
        assert len(paths) == len(made), (kind, paths)
        for path, (_, state) in zip(paths, made, strict=True):
            profile_id = names.profile_id_from_path(path)
            assert profile_id is not None and profile_id not in self.ledger.profiles, path
            self.ledger.profiles[profile_id] = state
        self.ledger.acknowledge(kind)

    async def _change(
        self, profile_id: int, kind: str, write: dict[str, Variant] | None, after: Durable | None
    ) -> None:
        ledger = self.ledger
        ledger.busy.add(profile_id)
        before = ledger.profiles[profile_id]
        path = names.profile_path(profile_id)
        if write is not None:
            reply = await self._call(path, names.PROFILE_INTERFACE, "Update", "a{sv}", [write])
        else:
            reply = await self._call(path, names.PROFILE_INTERFACE, "Delete", "", [])
        if reply is None:  # stays busy: nobody may touch it until the restart settles it
            ledger.doubt(InDoubt(kind, profile_id, before, after))
            return
        if after is not None:
            ledger.profiles[profile_id] = after
        else:
            del ledger.profiles[profile_id]
        ledger.busy.discard(profile_id)
        ledger.acknowledge(kind)


# ------------------------------------------------------------------ reading back


@dataclass
class Stored:
    """What the restarted daemon holds, read over the bus and from the file."""

    profiles: dict[int, Durable]
    #: ids whose Default is true, from the profiles' own properties
    defaults: list[int]
    #: what GetDefaultProfile answered (None: NotFound)
    default: int | None
    #: the stored Contact user part of each profile
    contact_users: dict[int, str]
    problems: list[str]


async def read_back(raw: Raw, database: Path) -> Stored:
    """Every profile as the bus serves it, its secrets and Contact user from the file.

    Reads each profile twice, in bulk (GetManagedObjects, from the stored wire
    fragments) and one by one (GetAll, from the rows): they must agree, or one of
    them kept half of a change. Then reads the file itself, read-only, while the
    daemon has it open: integrity, foreign keys, and the secrets nobody can read
    over the bus.
    """
    problems: list[str] = []
    (managed,) = await raw.call(
        names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
    )
    listed = set(await raw.registry("ListProfiles"))
    if listed != set(managed):
        problems.append(f"ListProfiles {sorted(listed)} != GetManagedObjects {sorted(managed)}")
    singles = await asyncio.gather(
        *(
            raw.call(path, names.PROPERTIES_INTERFACE, "GetAll", "s", [names.PROFILE_INTERFACE])
            for path in managed
        )
    )
    by_id: dict[int, tuple[dict[str, Any], bool]] = {}
    for (path, interfaces), (single,) in zip(managed.items(), singles, strict=True):
        profile_id = names.profile_id_from_path(path)
        assert profile_id is not None, path
        props = interfaces[names.PROFILE_INTERFACE]
        if props != single:
            differ = sorted(k for k in set(props) | set(single) if props.get(k) != single.get(k))
            problems.append(
                f"profile {profile_id}: GetManagedObjects and GetAll differ in {differ}"
            )
        status = (plain(single["Id"]), plain(single["State"]), plain(single["TypeClass"]))
        type_class = TYPE_CLASSES.get(plain(single["Type"]))
        if status != (profile_id, "unregistered", type_class):
            problems.append(f"profile {profile_id}: (Id, State, TypeClass) are {status}")
        by_id[profile_id] = readable(single)
    try:
        default = names.profile_id_from_path(await raw.registry("GetDefaultProfile"))
    except CallFailed as exc:
        if exc.name != names.Error.NOT_FOUND:
            raise
        default = None
    file = await asyncio.to_thread(read_file, database)
    problems += file.problems
    if set(file.contact_users) != set(by_id):
        problems.append(f"rows {sorted(file.contact_users)} != bus objects {sorted(by_id)}")
    stray = sorted(set(file.secrets) - set(by_id))
    if stray:
        problems.append(f"secrets rows of profiles that do not exist: {stray}")
    profiles = {i: Durable(settings, file.secrets.get(i, {})) for i, (settings, _) in by_id.items()}
    defaults = sorted(i for i, (_, flag) in by_id.items() if flag)
    return Stored(profiles, defaults, default, file.contact_users, problems)


@dataclass
class FileState:
    """What the database file says, read with SQLite directly."""

    secrets: dict[int, dict[str, str]]
    contact_users: dict[int, str]
    problems: list[str]


def read_file(database: Path, *, read_only: bool = True) -> FileState:
    """Integrity, foreign keys, secrets and Contact users of the file at ``database``.

    ``read_only`` opens it without the right to write (the daemon has it open and
    owns it); a copy of a crash image is opened normally, so SQLite can recover
    its WAL.
    """
    uri = f"file:{database}?mode=ro" if read_only else f"file:{database}"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        problems: list[str] = []
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"PRAGMA integrity_check: {integrity[:5]}")
        dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            problems.append(f"PRAGMA foreign_key_check: {dangling[:5]}")
        secrets: dict[int, dict[str, str]] = {}
        for profile_id, row, text in conn.execute(
            "SELECT profile_id, server, password FROM secrets"
        ):
            secrets.setdefault(profile_id, {})[row] = text
        contact_users = dict(conn.execute("SELECT id, contact_user FROM profiles").fetchall())
        return FileState(secrets, contact_users, problems)
    finally:
        conn.close()
