"""A system-like bus with the real polkitd on it, and callers running as other users.

polkitd reads actions from /usr/share/polkit-1/actions and rules from
/etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d, paths compiled in. Rather than
installing test files there, each polkitd runs in a mount namespace of its own in
which those three directories are bind mounts of temporary ones: the machine's
polkit configuration is neither read nor touched. polkitd finds the bus through
DBUS_SYSTEM_BUS_ADDRESS and drops to its own user, so the bus socket is opened to
everyone.

Without logind no caller is in a session, neither local nor active: polkit applies
an action's ``allow_any`` default, and the test rules grant actions by user name.
Callers of other users are ``Actor`` subprocesses (``polkit_actor.py``, started with
setpriv); root is authorized by polkit for everything, whatever the rules say.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from busutil import CallFailed
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from privatebus import PrivateBus
from processes import log_tail, spawn, stop_group, wait_until_ready

POLKITD = "/usr/lib/polkit-1/polkitd"
POLICY = Path(__file__).resolve().parents[1] / "systemd" / "org.sipprofile.SipProfile1.policy"
ACTOR = Path(__file__).resolve().parent / "polkit_actor.py"

#: Open to every user: who may do what is polkit's to decide here, not the bus's.
SYSTEM_BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"""

#: Rules granting actions (the part after "org.sipprofile.SipProfile1.") by user name;
#: every other subject falls through to the defaults of the policy file.
RULES = """// sipprofiled tests: grants by user name
var grants = {grants};
polkit.addRule(function(action, subject) {{
    var prefix = "org.sipprofile.SipProfile1.";
    if (action.id.indexOf(prefix) !== 0) return polkit.Result.NOT_HANDLED;
    var granted = grants[subject.user] || [];
    if (granted.indexOf(action.id.substring(prefix.length)) >= 0) return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
}});
"""


def rules(grants: dict[str, list[str]]) -> str:
    """A rules file granting ``grants`` (user name -> short action names)."""
    return RULES.format(grants=json.dumps(grants))


REPO = Path(__file__).resolve().parents[1]


@functools.cache
def caller_python() -> tuple[str, ...]:
    """A Python command that the test's other users can run, whatever the checkout's mode.

    Callers and the daemon under test run as other users, and the checkout or the venv
    may be private to root (under /root, or a 0700 temporary directory, as a CI clone
    may be). So they run on a world-readable copy: the package's three folders and the
    venv's dependencies (dbus-fast, aiosqlite, dnspython) in a 0755 temporary directory,
    with the system's interpreter when it is the same minor version (the venv's may
    live under /root too). Made once per test session, removed at exit.
    """
    import dbus_fast  # the venv's: where its site-packages are

    root = Path(tempfile.mkdtemp(prefix="sipprofile-callers-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    site = Path(dbus_fast.__file__).resolve().parent.parent
    skip = shutil.ignore_patterns("__pycache__")
    for name in ("dbus_fast", "aiosqlite", "dns"):
        shutil.copytree(site / name, root / name, ignore=skip)
    for folder in ("server", "client", "proto"):
        shutil.copytree(REPO / folder, root / "sipprofile" / folder, ignore=skip)
    for helper in (ACTOR.name, "busutil.py", "polkitbus.py", "privatebus.py", "processes.py"):
        shutil.copy(REPO / "tests" / helper, root / helper)  # what the actor imports
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    system = Path(f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}")
    python = str(system) if system.exists() else sys.executable
    return ("env", f"PYTHONPATH={root}", "PYTHONDONTWRITEBYTECODE=1", python)


def caller_actor() -> str:
    """The actor script inside ``caller_python``'s copy."""
    return caller_python()[1].removeprefix("PYTHONPATH=") + "/" + ACTOR.name


def unavailable() -> str | None:
    """Why the real polkitd cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: polkitd runs in a mount namespace, callers run as other users"
    for tool in ("dbus-daemon", "setpriv", "unshare", "pkaction"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access(POLKITD, os.X_OK):
        return f"{POLKITD} is not installed (Debian package polkitd)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot make a mount namespace: {probe.stderr.decode().strip()}"
    probe = subprocess.run(
        as_user("nobody", *caller_python(), "-c", "import dbus_fast, sipprofile.server.daemon"),
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        reason = probe.stderr.decode().strip().splitlines()[-1:] or ["?"]
        return f"other users cannot run the callers' copy of the package: {reason[0]}"
    return None


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def as_user(user: str, *command: str) -> list[str]:
    """``command`` run as ``user`` with its group and no supplementary groups."""
    entry = pwd.getpwnam(user)
    return [
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--clear-groups",
        *command,
    ]


@dataclass
class PolkitWorld:
    """A system-like dbus-daemon and, unless asked not to, a polkitd on it."""

    directory: Path
    bus: PrivateBus
    polkitd: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.bus.address

    @property
    def rules_file(self) -> Path:
        return self.directory / "rules" / "50-sipprofile-test.rules"

    def set_rules(self, grants: dict[str, list[str]]) -> None:
        """Replace the rules; polkitd notices and reloads them."""
        self.rules_file.write_text(rules(grants))
        self.rules_file.chmod(0o644)  # polkitd's user reads it, whatever the umask

    def polkit_log(self) -> str:
        return log_tail(self.log, lines=200) if self.log else ""

    def stop(self) -> None:
        if self.polkitd is not None:
            stop_group(self.polkitd, grace=5, interval=0.02)
        self.bus.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_system_bus(directory: Path) -> PrivateBus:
    """A system-type dbus-daemon on ``directory/bus.sock`` that every user may reach."""
    socket = directory / "bus.sock"
    config = directory / "bus.conf"
    config.write_text(SYSTEM_BUS.format(socket=socket))
    process = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(config), "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # it cannot raise its fd limit here, and says so
    )
    assert process.stdout is not None
    address = process.stdout.readline().decode().strip()
    if not address.startswith("unix:"):
        process.kill()
        raise RuntimeError(f"dbus-daemon did not start (it printed {address!r})")
    socket.chmod(0o777)
    return PrivateBus(address, str(socket), process)


def start_world(
    *,
    policy: str | None,
    grants: dict[str, list[str]] | None = None,
    rules_text: str | None = None,
    polkit: bool = True,
) -> PolkitWorld:
    """A bus in a fresh directory, with polkitd knowing ``policy`` (None: no actions)
    and rules granting ``grants``, or the rules ``rules_text``."""
    directory = Path(tempfile.mkdtemp(prefix="sipprofile-polkit-"))
    directory.chmod(0o755)  # polkitd and the callers are other users
    bus = start_system_bus(directory)
    world = PolkitWorld(directory, bus)
    if not polkit:
        return world
    actions, rules_dir, empty = (directory / n for n in ("actions", "rules", "empty"))
    for made in (actions, rules_dir, empty):
        made.mkdir()
        made.chmod(0o755)
    if policy is not None:
        (actions / POLICY.name).write_text(policy)
        (actions / POLICY.name).chmod(0o644)  # an in-process daemon sets umask 077
    world.set_rules(grants or {})
    if rules_text is not None:
        world.rules_file.write_text(rules_text)
    world.log = directory / "polkitd.log"
    mounts = " && ".join(
        f"mount --bind {source} {target}"
        for source, target in (
            (actions, "/usr/share/polkit-1/actions"),
            (rules_dir, "/etc/polkit-1/rules.d"),
            (empty, "/usr/share/polkit-1/rules.d"),
        )
    )
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    command.append(f"{mounts} && DBUS_SYSTEM_BUS_ADDRESS='{bus.address}' exec {POLKITD}")
    world.polkitd, offset = spawn(command, world.log, directory)
    wait_until_ready(
        world.polkitd,
        lambda: "" if "Acquired the name" in log_tail(world.log, since=offset) else "starting",
        name="polkitd",
        timeout=10,
        interval=0.02,
        log_path=world.log,
        log_offset=offset,
        stop=world.stop,
        error=RuntimeError,
        port_in_use=RuntimeError,
    )
    return world


@contextlib.contextmanager
def world_running(**kwargs: Any) -> Iterator[PolkitWorld]:
    world = start_world(**kwargs)
    try:
        yield world
    finally:
        world.stop()


@contextlib.asynccontextmanager
async def serving(address: str, directory: Path) -> AsyncIterator[Any]:
    """sipprofiled in this process with polkit checks on ``address``; yields the Daemon."""
    from sipprofile.server.daemon import Daemon, Options  # not for polkit_actor.py

    database = directory / "state" / "profiles.db"
    daemon = Daemon(Options(bus="address", address=address, database=database, polkit=True))
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.close()


# ---------------------------------------------------------------- callers as other users


def encode(value: Any) -> Any:
    """Call arguments as JSON; a Variant becomes {"$v": [signature, value]}."""
    if isinstance(value, Variant):
        return {"$v": [value.signature, encode(value.value)]}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$v"}:
            signature, inner = value["$v"]
            return Variant(signature, decode(inner))
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class Actor:
    """A bus client running as ``user`` in a subprocess; the test sends it calls."""

    def __init__(self, user: str, process: asyncio.subprocess.Process, hello: dict[str, Any]):
        self.user = user
        self.process = process
        self.unique_name: str = hello["name"]
        self.pid: int = hello["pid"]
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, address: str, user: str) -> Actor:
        process = await asyncio.create_subprocess_exec(
            *as_user(user, *caller_python(), caller_actor(), address),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        if not line:
            raise RuntimeError(f"the caller running as {user} did not start")
        return cls(user, process, json.loads(line))

    async def call(
        self,
        path: str,
        interface: str | None,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        interactive: bool = False,
    ) -> list[Any]:
        """The reply body (plain values), or CallFailed with the error."""
        request = {
            "path": path,
            "interface": interface,
            "member": member,
            "signature": signature,
            "body": encode(body or []),
            "interactive": interactive,
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            await self.process.stdin.drain()
            answer = json.loads(await self.process.stdout.readline())
        if "error" in answer:
            raise CallFailed(answer["error"], answer["text"])
        return list(answer["reply"])

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def actor(address: str, user: str) -> AsyncIterator[Actor]:
    caller = await Actor.start(address, user)
    try:
        yield caller
    finally:
        await caller.close()


# ---------------------------------------------------------------- an authentication agent

AGENT_PATH = "/org/sipprofile/test/AuthenticationAgent"


class Agent:
    """A polkit authentication agent for one process: it records what polkit asks of
    it and answers only when the test says so (``dismiss``), standing in for a person
    who is slow to type a password."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.requests: list[Message] = []
        self._asked = asyncio.Event()
        bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> bool | None:
        if msg.message_type is not MessageType.METHOD_CALL or msg.path != AGENT_PATH:
            return None
        if msg.member == "BeginAuthentication":
            self.requests.append(msg)
            self._asked.set()
        else:  # CancelAuthentication
            self.bus.send(Message.new_method_return(msg))
        return True

    async def register_for(self, pid: int) -> None:
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.PolicyKit1",
                path="/org/freedesktop/PolicyKit1/Authority",
                interface="org.freedesktop.PolicyKit1.Authority",
                member="RegisterAuthenticationAgent",
                signature="(sa{sv})ss",
                body=[
                    ["unix-process", {"pid": Variant("u", pid), "start-time": Variant("t", 0)}],
                    "C",
                    AGENT_PATH,
                ],
            )
        )
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply

    async def wait_asked(self, timeout: float = 10.0) -> Message:
        await asyncio.wait_for(self._asked.wait(), timeout)
        return self.requests[-1]

    def dismiss(self, request: Message) -> None:
        self.bus.send(
            Message.new_error(
                request, "org.freedesktop.PolicyKit1.Error.Cancelled", "the person said no"
            )
        )
