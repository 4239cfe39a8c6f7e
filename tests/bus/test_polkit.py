"""Access control with the real polkitd: every method, granted and refused, fail-closed.

The daemon runs with --polkit on a system-like private bus (tests/polkitbus.py) where
the real polkitd serves the shipped policy file and a rules file granting actions by
user name. Callers run as other users (setpriv): ADMIN is granted every action,
MANAGER only manage, STRANGER nothing, so polkit gives STRANGER the policy's defaults
for a caller outside any session ("no" to read and use, an administrator's
authentication for manage and force). Without root or polkitd these are skipped;
test_polkit_failures.py covers polkit absent or stalled.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from busutil import CallFailed, Raw, plain, raw_bus
from conftest import daemon_command, wait_for_name
from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from polkitbus import (
    POLICY,
    Actor,
    Agent,
    PolkitWorld,
    actor,
    as_user,
    caller_python,
    serving,
    uid_of,
    unavailable,
    world_running,
)

from sipprofile.proto import names
from sipprofile.proto.names import Error, profile_path
from sipprofile.server.bus.authorization import FORCE, MANAGE, METHOD_ACTIONS, USE
from sipprofile.server.daemon import Daemon

ADMIN = "nobody"  # granted every action by the test rules
MANAGER = "games"  # granted manage only: read comes with it (the policy's imply)
STRANGER = "bin"  # granted nothing
DAEMON_USER = "daemon"  # stands in for the system user sipprofiled
GRANTS = {ADMIN: ["read", "manage", "use", "force"], MANAGER: ["manage"]}

REG, PROF, PROPS = names.REGISTRY_INTERFACE, names.PROFILE_INTERFACE, names.PROPERTIES_INTERFACE
REGISTRY = names.REGISTRY_PATH
WHY_NOT = unavailable()


def policy_owned_by(owner: str) -> str:
    """The shipped policy with its owner annotation naming a user that exists here."""
    return POLICY.read_text().replace("unix-user:sipprofiled", f"unix-user:{owner}")


@pytest.fixture(scope="module")
def world() -> Iterator[PolkitWorld]:
    if WHY_NOT is not None:
        pytest.skip(WHY_NOT)
    with world_running(policy=policy_owned_by(DAEMON_USER), grants=GRANTS) as running:
        yield running


@pytest.fixture
async def served(world: PolkitWorld, tmp_path: Path) -> AsyncIterator[Daemon]:
    async with serving(world.address, tmp_path) as daemon:
        yield daemon


@pytest.fixture
async def root(world: PolkitWorld, served: Daemon) -> AsyncIterator[Raw]:
    """A root client: polkit authorizes root for everything, so it sets up and reads back."""
    async with raw_bus(world.address) as raw:
        yield raw


@pytest.fixture(scope="module")
async def admin(world: PolkitWorld) -> AsyncIterator[Actor]:
    async with actor(world.address, ADMIN) as caller:
        yield caller


@pytest.fixture(scope="module")
async def stranger(world: PolkitWorld) -> AsyncIterator[Actor]:
    async with actor(world.address, STRANGER) as caller:
        yield caller


# ---------------------------------------------------------------- every method


@dataclass
class Call:
    """One method call and, for a caller allowed to make it, what it must have done."""

    key: tuple[str, str]
    path: str
    signature: str = ""
    body: tuple[Any, ...] = ()
    check: Callable[[list[Any], Raw], Awaitable[None]] | None = None

    async def by(self, caller: Actor) -> list[Any]:
        return await caller.call(self.path, self.key[0], self.key[1], self.signature, [*self.body])


def s(text: str) -> Variant:
    return Variant("s", text)


def sv(**settings: str) -> dict[str, Variant]:
    return {key: s(value) for key, value in settings.items()}


async def listed(raw: Raw) -> list[str]:
    return list(await raw.registry("ListProfiles"))


def every_method(a: str, b: str) -> list[Call]:
    """A call of every method of the contract, on profiles ``a`` (the default) and ``b``."""

    async def created(reply: list[Any], raw: Raw) -> None:
        assert reply[0] in await listed(raw)

    async def imported(reply: list[Any], raw: Raw) -> None:
        assert len(reply[0]) == 1
        assert reply[0][0] in await listed(raw)

    def returns(expected: Any) -> Callable[[list[Any], Raw], Awaitable[None]]:
        async def check(reply: list[Any], raw: Raw) -> None:
            assert reply[0] == expected

        return check

    def includes(expected: Any) -> Callable[[list[Any], Raw], Awaitable[None]]:
        async def check(reply: list[Any], raw: Raw) -> None:
            assert expected in reply[0]

        return check

    def setting(name: str, expected: Any) -> Callable[[list[Any], Raw], Awaitable[None]]:
        async def check(reply: list[Any], raw: Raw) -> None:
            assert (await raw.get_all(a))[name] == expected

        return check

    async def deleted(reply: list[Any], raw: Raw) -> None:
        assert b not in await listed(raw)

    name = "ProviderName"
    return [
        Call((REG, "CreateProfile"), REGISTRY, "a{sv}", (sv(Aor="sip:c@example.com"),), created),
        Call((REG, "ImportProfiles"), REGISTRY, "aa{sv}", ([sv(Aor="sip:d@x.org")],), imported),
        Call((REG, "ListProfiles"), REGISTRY, check=includes(a)),
        Call((REG, "ListProfilesByType"), REGISTRY, "s", ("IETF",), includes(a)),
        Call((REG, "ListProfilesByAor"), REGISTRY, "s", ("sip:alice@example.com",), returns([a])),
        Call((REG, "GetProfile"), REGISTRY, "t", (1,), returns(a)),
        Call((REG, "GetDefaultProfile"), REGISTRY, check=returns(a)),
        Call((REG, "SupportedTypes"), REGISTRY, check=includes(["internet", "IETF"])),
        Call((names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"), REGISTRY, check=includes(a)),
        Call((PROPS, "Get"), a, "ss", (PROF, "Aor"), returns("sip:alice@example.com")),
        Call((PROPS, "GetAll"), a, "s", (PROF,), setting("Aor", "sip:alice@example.com")),
        Call((PROPS, "Set"), a, "ssv", (PROF, name, s("S")), setting(name, "S")),
        Call((names.INTROSPECTABLE_INTERFACE, "Introspect"), a, check=includes(PROF)),
        Call((PROF, "Update"), a, "a{sv}", (sv(ProviderName="U"),), setting(name, "U")),
        Call((PROF, "Enable"), a, check=setting("Holders", 1)),
        Call((PROF, "IsEnabled"), a, check=returns(True)),
        Call((PROF, "Refresh"), a, check=setting("Holders", 1)),
        Call((PROF, "Disable"), a, check=setting("Holders", 0)),
        Call((PROF, "ForceDisable"), a, check=setting("Holders", 0)),
        Call((PROF, "Delete"), b, check=deleted),
    ]  # fmt: skip


async def two_profiles(root: Raw) -> tuple[str, str]:
    a = await root.create(Aor="sip:alice@example.com", ProviderName="Alice")
    b = await root.create(Aor="sip:bob@example.com")
    return a, b


def test_the_scenario_calls_every_method_of_the_table() -> None:
    keys = {call.key for call in every_method(profile_path(1), profile_path(2))}
    assert keys == {k for k in METHOD_ACTIONS if k[0] != names.PEER_INTERFACE}


async def test_every_method_works_for_a_granted_caller(root: Raw, admin: Actor) -> None:
    a, b = await two_profiles(root)
    for call in every_method(a, b):
        reply = await call.by(admin)
        assert call.check is not None
        await call.check(reply, root)


async def snapshot(root: Raw) -> Any:
    (managed,) = await root.call(REGISTRY, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects")
    return plain(managed), await root.registry("GetDefaultProfile")


async def test_every_method_is_refused_to_a_caller_without_a_grant(
    root: Raw, stranger: Actor
) -> None:
    a, b = await two_profiles(root)
    before = await snapshot(root)
    await asyncio.sleep(0.1)
    root.take_signals()
    for call in every_method(a, b):
        action = METHOD_ACTIONS[call.key]
        if action is None:  # SupportedTypes and Introspect need nothing
            await call.by(stranger)
            continue
        with pytest.raises(CallFailed) as info:
            await call.by(stranger)
        assert info.value.name == Error.ACCESS_DENIED, call.key
        assert action in info.value.text, (call.key, info.value.text)
        if action in (MANAGE, FORCE):  # auth_admin: polkit wants a password
            assert "requires authentication" in info.value.text
    assert await snapshot(root) == before
    await asyncio.sleep(0.1)
    assert root.take_signals() == []


async def test_refused_before_anything_else_is_looked_at(root: Raw, stranger: Actor) -> None:
    """A refused caller learns nothing: not whether a profile exists, not its types."""
    for path, member, signature, body in (
        (profile_path(99), "Update", "a{sv}", [{}]),
        (profile_path(99), "Enable", "", []),
        (REGISTRY, "GetProfile", "s", ["not a number"]),
    ):
        with pytest.raises(CallFailed) as info:
            await stranger.call(path, REG if path == REGISTRY else PROF, member, signature, body)
        assert info.value.name == Error.ACCESS_DENIED, member


async def test_manage_implies_read_but_not_use(world: PolkitWorld, root: Raw) -> None:
    a, _ = await two_profiles(root)
    async with actor(world.address, MANAGER) as manager:
        assert a in (await manager.call(REGISTRY, REG, "ListProfiles"))[0]
        await manager.call(a, PROF, "Update", "a{sv}", [{"ProviderName": s("M")}])
        with pytest.raises(CallFailed) as info:
            await manager.call(a, PROF, "Enable")
        assert info.value.name == Error.ACCESS_DENIED
        assert USE in info.value.text


# ---------------------------------------------------------------- interaction


async def test_interactive_authorization_reaches_an_agent_and_stalls_no_one(
    world: PolkitWorld, root: Raw, admin: Actor, stranger: Actor
) -> None:
    """The caller's ALLOW_INTERACTIVE_AUTHORIZATION flag becomes polkit's
    AllowUserInteraction: polkit then asks the caller's authentication agent. While
    that waits for a person, every other caller is answered."""
    a, _ = await two_profiles(root)
    update = (a, PROF, "Update", "a{sv}", [{"ProviderName": s("Changed")}])
    agent_bus = await MessageBus(bus_address=world.address).connect()
    try:
        agent = Agent(agent_bus)
        await agent.register_for(stranger.pid)
        with pytest.raises(CallFailed) as info:
            await stranger.call(*update)
        assert "interactive authorization" in info.value.text
        assert agent.requests == []  # without the flag polkit does not interact

        pending = asyncio.ensure_future(stranger.call(*update, interactive=True))
        asked = asyncio.ensure_future(agent.wait_asked())
        await asyncio.wait({pending, asked}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if not asked.done():
            asked.cancel()
            with pytest.raises(CallFailed):
                await pending  # answered without asking anyone: show what it said
            pytest.fail(f"polkit did not ask the agent; the call ended with {pending.exception()}")
        request = asked.result()
        assert request.body[0] == MANAGE
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert a in await root.registry("ListProfiles")
        assert (await admin.call(a, PROPS, "Get", "ss", [PROF, "ProviderName"]))[0] == "Alice"
        assert loop.time() - started < 2.0
        assert not pending.done()

        agent.dismiss(request)
        with pytest.raises(CallFailed) as info:
            await asyncio.wait_for(pending, 10)
        assert info.value.name == Error.ACCESS_DENIED
        assert MANAGE in info.value.text
    finally:
        agent_bus.disconnect()
    assert (await root.get_all(a))["ProviderName"] == "Alice"


async def test_a_grant_taken_away_counts_from_the_next_call(world: PolkitWorld) -> None:
    """No answer is kept: polkit reloads its rules and the very next call is refused."""
    with world_running(policy=POLICY.read_text(), grants={ADMIN: ["read"]}) as own:
        directory = Path(tempfile.mkdtemp(prefix="sipprofile-revoke-"))
        try:
            async with serving(own.address, directory), actor(own.address, ADMIN) as caller:
                await caller.call(REGISTRY, REG, "ListProfiles")
                own.set_rules({})
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while True:
                    try:
                        await caller.call(REGISTRY, REG, "ListProfiles")
                    except CallFailed as exc:
                        assert exc.name == Error.ACCESS_DENIED
                        break
                    assert loop.time() < deadline, "still allowed 10 s after the rules changed"
                    await asyncio.sleep(0.05)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


# ---------------------------------------------------------------- the daemon's own user


async def run_as_daemon_user(world: PolkitWorld, directory: Path) -> asyncio.subprocess.Process:
    """sipprofiled --polkit as DAEMON_USER, its database in ``directory`` (made for it)."""
    directory.mkdir(mode=0o700)
    os.chown(directory, uid_of(DAEMON_USER), -1)
    process = await asyncio.create_subprocess_exec(
        *as_user(
            DAEMON_USER,
            *caller_python(),
            *daemon_command(world.address, directory / "p.db", "--polkit")[1:],
        ),
        stderr=asyncio.subprocess.PIPE,
    )
    await wait_for_name(world.address)
    return process


async def stop(process: asyncio.subprocess.Process) -> str:
    process.terminate()
    assert process.stderr is not None
    _, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err.decode()
    return err.decode()


async def test_an_unprivileged_daemon_may_ask_as_the_actions_owner(
    world: PolkitWorld, admin: Actor, stranger: Actor
) -> None:
    """The daemon runs as its own user; the owner annotation is what lets polkit answer
    it about callers of other users. Without it, everything is refused (fail closed)."""
    base = Path(tempfile.mkdtemp(prefix="sipprofile-own-user-"))
    base.chmod(0o755)  # pytest's tmp_path is root's alone
    try:
        await owner_annotation_decides(world, admin, stranger, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def owner_annotation_decides(
    world: PolkitWorld, admin: Actor, stranger: Actor, base: Path
) -> None:
    process = await run_as_daemon_user(world, base / "own")
    try:
        (path,) = await admin.call(REGISTRY, REG, "CreateProfile", "a{sv}", [sv(Aor="sip:o@x.org")])
        assert path in (await admin.call(REGISTRY, REG, "ListProfiles"))[0]
        with pytest.raises(CallFailed) as info:
            await stranger.call(REGISTRY, REG, "ListProfiles")
        assert info.value.name == Error.ACCESS_DENIED
    finally:
        await stop(process)
    with world_running(policy=POLICY.read_text(), grants=GRANTS) as shipped:  # owner: sipprofiled
        process = await run_as_daemon_user(shipped, base / "shipped")
        try:
            async with actor(shipped.address, ADMIN) as caller:
                with pytest.raises(CallFailed) as info:
                    await caller.call(REGISTRY, REG, "ListProfiles")
                assert info.value.name == Error.ACCESS_DENIED
        finally:
            log = await stop(process)
        assert "NotAuthorized" in log, log


async def test_the_policy_as_polkitd_reads_it(world: PolkitWorld) -> None:
    """pkaction asks the running polkitd: the file parsed, with the documented defaults."""
    from bus.test_access_table import DEFAULTS

    for action, (any_, inactive, active) in DEFAULTS.items():
        process = await asyncio.create_subprocess_exec(
            "pkaction", "--action-id", action, "--verbose",
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": world.address},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out = (await asyncio.wait_for(process.communicate(), 10))[0].decode()
        assert process.returncode == 0, out
        assert f"implicit any:      {any_}" in out, out
        assert f"implicit inactive: {inactive}" in out, out
        assert f"implicit active:   {active}" in out, out


async def test_the_readme_rules_example_runs_in_polkitd(world: PolkitWorld, tmp_path: Path) -> None:
    from bus.test_access_table import readme_rules_example

    example = readme_rules_example()
    with world_running(policy=POLICY.read_text(), rules_text=example) as own:
        async with serving(own.address, tmp_path), actor(own.address, STRANGER) as caller:
            with pytest.raises(CallFailed) as info:  # in neither group: the defaults
                await caller.call(REGISTRY, REG, "ListProfiles")
            assert info.value.name == Error.ACCESS_DENIED
        log = own.polkit_log()
    assert "Finished loading, compiling and executing 1 rules" in log, log
    assert "Error" not in log, log
