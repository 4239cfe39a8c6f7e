"""A small real network (a network namespace and veth pairs) for access point tests.

    from netlab import NetLab, NetLabFactory, netlab, netlab_factory  # noqa: F401

An access point binds a SIP profile to named network interfaces, so its tests need
interfaces that go down, come back and lose their address while a registrar stays
reachable over the others. Mocking netlink or the routing table would only test what
we believe the kernel does; a network namespace gives the daemon real interfaces and
a real routing table without touching the machine's own, and veth pairs need no
kernel module (dummy interfaces, for one, are not available on CI).

Topology, for a lab with N links (``<b>`` is a /16 in 10.64.0.0/10 that no route or
address of the root namespace overlaps, chosen at random per lab):

* a *client* namespace ``spl-<tag>`` (``<tag>``: 6 random hex digits) with ``lo`` up,
  in which the daemon runs (``exec_command``);
* link k is a veth pair: ``wan<k>`` in the client namespace with ``<b>.k.2/24``, and
  ``spl<tag>r<k>`` in the root namespace with ``<b>.k.1/24``;
* the *registrar address* ``<b>.200.1/32`` is a second address of the root end of
  link 0. Linux accepts a packet for any local address on any interface, so it is
  reachable from the client namespace over every link, and a registrar bound to it
  (in the root namespace, i.e. by the tests) answers over the link it was asked on;
* in the client namespace, ``<b>.200.1/32 via <b>.k.1 dev wan<k> metric 100*(k+1)``
  and (``default_routes``) ``default via <b>.k.1 dev wan<k> metric 100*(k+1)``: the
  lowest-numbered link that is up carries the traffic, as with DHCP on several
  uplinks. The root namespace does not forward, so the default routes lead nowhere
  beyond it.

The kernel deletes every route through an interface when it goes down or loses its
last address, and restores only the connected /24 when it comes back. ``set_link``
(up) and ``add_address`` put the static routes back, as a DHCP client would, and
return only once the link has carrier and the routes are there.

Clean-up: ``close()`` kills what still runs in the namespace, deletes the root ends
(which takes the client ends with them at once; deleting a namespace frees its
interfaces only later, asynchronously) and the namespace. A ``weakref.finalize``
(which also runs at interpreter exit, through ``atexit``) does the same for a lab
nobody closed. A crashed run (SIGKILL) leaves its lab behind: every new lab first
sweeps namespaces and root links named like ours whose creator is gone. The creator
is known from ``/run/netlab/<tag>.json`` (pid and process start time, so that a
reused pid does not keep a leftover alive), written before anything is created and
removed last, under a lock that also serialises choosing the /16: another session's
lab is never swept, and never given the same addresses.

For the tests that use it: the daemon, started with ``exec_command``, sees only
``lo`` and the ``wan<k>`` links (``ip netns exec`` mounts a /sys of the namespace
too); files, and so the private bus's socket path, are shared, but abstract Unix
sockets are per network namespace. veth carrier follows ``ip link set up`` within
milliseconds, but the static routes are added just after the link comes up: a daemon
that reacts to the link event at once may find no route to the registrar for those
few milliseconds, as it would before a DHCP client finished. IPv6 is left as the
kernel sets it: the links have fe80:: addresses, nothing else.

Without root or ``ip`` the fixtures skip, and so they do when ``ip netns add`` fails
(an unprivileged container); once a namespace exists, any failure is an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from processes import find_binary

# The root ends and namespaces of every lab carry this prefix (and the sweep looks
# for nothing else); the root end names, "spl" + 6 hex + "r" + k, stay within the
# 15 characters of IFNAMSIZ for up to 1000 links.
PREFIX = "spl"
CLIENT_PREFIX = "wan"
OWNER_DIR = Path("/run/netlab")
NETNS_DIR = Path("/run/netns")  # where `ip netns add` mounts named namespaces
SUPERNET = ipaddress.IPv4Network("10.64.0.0/10")
LINK_PREFIX = 24
REGISTRAR_OCTET = 200  # <b>.200.1: so links are limited to 0..199
METRIC_STEP = 100
CARRIER_TIMEOUT = 10.0
COMMAND_TIMEOUT = 15.0
LOCK_TIMEOUT = 30.0
POLL_INTERVAL = 0.01
_NAMESPACE_NAME = re.compile(rf"{PREFIX}-([0-9a-f]{{6}})")
_ROOT_NAME = re.compile(rf"{PREFIX}([0-9a-f]{{6}})r[0-9]{{1,3}}")


class NetLabError(RuntimeError):
    """Building, changing or removing a lab failed; the message has ip's stderr."""


class NetnsUnavailable(NetLabError):
    """``ip netns add`` failed: this machine (or container) cannot make namespaces."""


def namespace_name(tag: str) -> str:
    """The client namespace of the lab ``tag``."""
    return f"{PREFIX}-{tag}"


def root_link_name(tag: str, index: int) -> str:
    """The root end of link ``index`` of the lab ``tag``."""
    return f"{PREFIX}{tag}r{index}"


def client_link_name(index: int) -> str:
    """The client end of link ``index``; names are per namespace, so all labs share it."""
    return f"{CLIENT_PREFIX}{index}"


def owner_path(tag: str) -> Path:
    """The file naming the process that created the lab ``tag``."""
    return OWNER_DIR / f"{tag}.json"


@dataclass(frozen=True)
class Link:
    """One veth pair: ``client_name`` in the lab's namespace, ``root_name`` in ours."""

    index: int
    client_name: str
    root_name: str
    client_address: str
    root_address: str
    prefix: int
    metric: int

    @property
    def network(self) -> str:
        """The link's subnet, e.g. ``10.93.1.0/24``."""
        return str(ipaddress.ip_interface(f"{self.client_address}/{self.prefix}").network)


@dataclass(eq=False)  # a handle on kernel objects: compared and hashed by identity
class NetLab:
    """A client namespace joined to the root namespace by ``links``.

    Made by ``create_netlab`` (or the fixtures), which builds it fully or not at all.
    """

    namespace: str
    registrar_address: str
    links: list[Link]
    network: str
    default_routes: bool
    ip: str = field(repr=False)
    owner_file: Path = field(repr=False)
    _finalizer: weakref.finalize[Any, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Arguments only, never self: a finalizer holding the lab would keep it alive.
        self._finalizer = weakref.finalize(
            self,
            _destroy,
            self.ip,
            self.namespace,
            [link.root_name for link in self.links],
            self.owner_file,
            os.getpid(),
        )

    @property
    def tag(self) -> str:
        """The 6 hex digits naming this lab's namespace, root links and owner file."""
        return self.namespace.removeprefix(f"{PREFIX}-")

    # ----- running things in the namespace -----

    def exec_command(self, cmd: list[str]) -> list[str]:
        """``cmd`` run in the client namespace, for subprocess.Popen and friends.

        ``ip netns exec`` execs ``cmd`` in place, so the Popen pid is ``cmd``'s own and
        signals sent to it reach it directly.
        """
        return [self.ip, "netns", "exec", self.namespace, *cmd]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a command in the client namespace; its stdout, or NetLabError with stderr."""
        return _run(self.exec_command(list(args)), timeout=timeout)

    def routes(self) -> list[dict[str, Any]]:
        """The client namespace's main routing table, as ``ip -j route`` gives it."""
        return _json(self._ip_ns("-j", "route", "show"))

    # ----- changing the network -----

    def set_link(self, index: int, up: bool) -> None:
        """Bring the client end of link ``index`` up or down (its carrier follows).

        Down: the kernel drops every route through it at once. Up: returns when the
        link is operationally up and, if it has its address, its routes are back.
        """
        link = self.links[index]
        self._ip_ns("link", "set", "dev", link.client_name, "up" if up else "down")
        if not up:
            self._wait(lambda: not self._has_carrier(link), f"{link.client_name} to go down")
            return
        self._wait(lambda: self._has_carrier(link), f"carrier on {link.client_name}")
        if self._has_address(link):
            self._restore_routes(link)

    def remove_address(self, index: int) -> None:
        """Take the client end's address away; its routes go with it (kernel)."""
        link = self.links[index]
        if self._has_address(link):
            self._ip_ns(
                "addr", "del", f"{link.client_address}/{link.prefix}", "dev", link.client_name
            )

    def add_address(self, index: int) -> None:
        """Give the client end its address back and, if the link is up, its routes."""
        link = self.links[index]
        if not self._has_address(link):
            self._ip_ns(
                "addr", "add", f"{link.client_address}/{link.prefix}", "dev", link.client_name
            )
        if self._is_admin_up(link):
            self._restore_routes(link)

    # ----- life cycle -----

    def close(self) -> None:
        """Remove the namespace, both ends of every link and the owner file; idempotent.

        Processes still in the namespace are killed first: they would keep it (though
        unnamed) alive, with nothing left to talk to.
        """
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether ``close`` (or the finalizer) has run."""
        return not self._finalizer.alive

    def __enter__(self) -> NetLab:
        """Close the lab on leaving the block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the lab, whether the block raised or not."""
        self.close()

    # ----- building (create_netlab) -----

    def _build(self) -> None:
        """Create links, addresses and routes; wait for carrier and the registrar address."""
        self._ip_ns("link", "set", "dev", "lo", "up")
        for link in self.links:
            # Created in place: the client name never exists in the root namespace,
            # where another lab (or the machine) may have a "wan0".
            peer = ("peer", "name", link.client_name, "netns", self.namespace)
            self._ip_root("link", "add", link.root_name, "type", "veth", *peer)
            root_address = f"{link.root_address}/{link.prefix}"
            self._ip_root("addr", "add", root_address, "dev", link.root_name)
            self._ip_root("link", "set", "dev", link.root_name, "up")
            client_address = f"{link.client_address}/{link.prefix}"
            self._ip_ns("addr", "add", client_address, "dev", link.client_name)
            self._ip_ns("link", "set", "dev", link.client_name, "up")
        registrar = f"{self.registrar_address}/32"
        self._ip_root("addr", "add", registrar, "dev", self.links[0].root_name)
        for link in self.links:
            self._wait(lambda link=link: self._has_carrier(link), f"carrier on {link.client_name}")
            self._restore_routes(link)
        self._wait(self._registrar_bindable, f"{self.registrar_address} to be bindable")

    # ----- helpers -----

    def _ip_root(self, *args: str) -> str:
        return _run([self.ip, *args])

    def _ip_ns(self, *args: str) -> str:
        return _run([self.ip, "-n", self.namespace, *args])

    def _link_info(self, link: Link) -> dict[str, Any]:
        (info,) = _json(self._ip_ns("-j", "addr", "show", "dev", link.client_name))
        return info  # type: ignore[no-any-return]

    def _has_carrier(self, link: Link) -> bool:
        info = self._link_info(link)
        return info.get("operstate") == "UP" or "LOWER_UP" in info.get("flags", [])

    def _is_admin_up(self, link: Link) -> bool:
        return "UP" in self._link_info(link).get("flags", [])

    def _has_address(self, link: Link) -> bool:
        return any(
            a.get("family") == "inet" and a.get("local") == link.client_address
            for a in self._link_info(link).get("addr_info", [])
        )

    def _wanted_routes(self) -> list[str]:
        """Where every link has a route to: the registrar and, maybe, anywhere."""
        wanted = [f"{self.registrar_address}/32"]
        if self.default_routes:
            wanted.append("default")
        return wanted

    def _restore_routes(self, link: Link) -> None:
        """(Re)add the link's static routes; ``replace`` is a no-op for those present.

        The metric is part of a route's key, and each link has its own, so replacing
        one link's route never touches another link's route to the same place.
        """
        for dst in self._wanted_routes():
            self._ip_ns(
                *("route", "replace", dst, "via", link.root_address),
                *("dev", link.client_name, "metric", str(link.metric)),
            )
        self._wait(lambda: self._routes_present(link), f"routes through {link.client_name}")

    def _routes_present(self, link: Link) -> bool:
        routes = _json(self._ip_ns("-j", "route", "show", "dev", link.client_name))
        present = {
            ("default" if r.get("dst") == "default" else _network(r["dst"]))
            for r in routes
            if r.get("gateway") == link.root_address and r.get("metric") == link.metric
        }
        wanted = {"default" if dst == "default" else _network(dst) for dst in self._wanted_routes()}
        return wanted <= present

    def _registrar_bindable(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((self.registrar_address, 0))
            except OSError:
                return False
        return True

    @staticmethod
    def _wait(condition: Callable[[], bool], what: str, timeout: float = CARRIER_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise NetLabError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(POLL_INTERVAL)


def create_netlab(*, links: int = 2, default_routes: bool = True) -> NetLab:
    """Sweep leftovers of dead runs, then build a lab with ``links`` links.

    Raises NetnsUnavailable if no namespace can be made, NetLabError for any other
    failure (after removing whatever was built).
    """
    if not 1 <= links <= REGISTRAR_OCTET:
        raise ValueError(f"links must be 1..{REGISTRAR_OCTET}, not {links}")
    ip = find_binary("ip")
    if ip is None:
        raise NetLabError("ip (iproute2) is not installed")
    with _lock():
        sweep_leftovers(ip)
        tag = _new_tag(ip)
        network = _free_network(ip)
        base = network.network_address.packed[:2]
        prefix = f"{base[0]}.{base[1]}"
        lab_links = [
            Link(
                index=k,
                client_name=client_link_name(k),
                root_name=root_link_name(tag, k),
                client_address=f"{prefix}.{k}.2",
                root_address=f"{prefix}.{k}.1",
                prefix=LINK_PREFIX,
                metric=METRIC_STEP * (k + 1),
            )
            for k in range(links)
        ]
        namespace = namespace_name(tag)
        owner = owner_path(tag)
        # Written before anything exists, removed after everything is gone: a lab
        # without a live owner is always a leftover.
        owner.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "start": _start_time(os.getpid()),
                    "namespace": namespace,
                    "root_links": [link.root_name for link in lab_links],
                    "network": str(network),
                }
            )
        )
        try:
            _run([ip, "netns", "add", namespace])
        except NetLabError as error:
            owner.unlink(missing_ok=True)
            raise NetnsUnavailable(f"cannot create a network namespace: {error}") from None
        lab = NetLab(
            namespace=namespace,
            registrar_address=f"{prefix}.{REGISTRAR_OCTET}.1",
            links=lab_links,
            network=str(network),
            default_routes=default_routes,
            ip=ip,
            owner_file=owner,
        )
    try:
        lab._build()
    except BaseException as error:
        try:
            lab.close()
        except NetLabError as cleanup:  # the first failure stays the one reported
            error.add_note(f"removing the half-built lab failed too: {cleanup}")
        raise
    return lab


def sweep_leftovers(ip: str) -> list[str]:
    """Remove namespaces and root links named like ours whose creator is gone.

    Returns the tags removed. Called with the lock held (``create_netlab``), so no
    other lab gets its owner file meanwhile; a lab being built or removed has one
    (written first, removed last) naming a live process, and is never touched.
    """
    live: set[str] = set()
    for path in OWNER_DIR.glob("*.json"):
        owner = _read_owner(path)
        if owner is not None and _alive(owner):
            live.add(path.stem)
        else:
            path.unlink(missing_ok=True)
    namespaces = {
        m.group(1): m.group(0)
        for entry in _json(_run([ip, "-j", "netns", "list"]))
        if (m := _NAMESPACE_NAME.fullmatch(entry.get("name", "")))
    }
    roots: dict[str, list[str]] = {}
    for entry in _json(_run([ip, "-j", "link", "show"])):
        if m := _ROOT_NAME.fullmatch(entry.get("ifname", "")):
            roots.setdefault(m.group(1), []).append(m.group(0))
    swept = sorted((namespaces.keys() | roots.keys()) - live)
    for tag in swept:
        _destroy(ip, namespace_name(tag), roots.get(tag, []), owner_path(tag), os.getpid())
    return swept


# ----- pytest -----


class NetLabFactory(Protocol):
    """Signature of the ``netlab_factory`` fixture (create_netlab's options)."""

    def __call__(self, *, links: int = 2, default_routes: bool = True) -> NetLab: ...


def require_netlab() -> None:
    """Skip unless labs can be built here: root and iproute2 are needed."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if find_binary("ip") is None:
        pytest.skip("ip (iproute2) is not installed")


@pytest.fixture
def netlab_factory() -> Iterator[NetLabFactory]:
    """Build labs with any options; all of them are removed after the test."""
    require_netlab()
    made: list[NetLab] = []

    def factory(**options: Any) -> NetLab:
        try:
            lab = create_netlab(**options)
        except NetnsUnavailable as error:
            pytest.skip(str(error))
        made.append(lab)
        return lab

    try:
        yield factory
    finally:
        errors: list[Exception] = []
        for lab in made:
            try:
                lab.close()
            except Exception as error:  # close the others all the same
                errors.append(error)
        if errors:
            raise errors[0]


@pytest.fixture
def netlab(netlab_factory: NetLabFactory) -> NetLab:
    """A lab with two links (wan0 preferred, wan1) and default routes over both."""
    return netlab_factory()


# ----- helpers -----


def _run(cmd: list[str], *, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run ``cmd``; its stdout, or NetLabError naming the command with its stderr."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise NetLabError(f"{' '.join(cmd)}: no answer within {timeout:g} s") from None
    if done.returncode != 0:
        raise NetLabError(f"{' '.join(cmd)} exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _json(text: str) -> list[dict[str, Any]]:
    """``ip -j`` output; some commands print nothing at all instead of ``[]``."""
    return json.loads(text) if text.strip() else []  # type: ignore[no-any-return]


def _network(dst: str) -> str:
    """A route's ``dst`` as ip prints it (no /32 for hosts) in normal form."""
    return str(ipaddress.ip_network(dst, strict=False))


def _destroy(ip: str, namespace: str, root_links: list[str], owner: Path, creator: int) -> None:
    """Remove a lab: its processes, root links, namespace, then its owner file.

    Only in the creating process: a forked child exiting must not take its parent's
    lab with it. Things already gone are fine; anything that stays is an error.
    """
    if os.getpid() != creator:
        return
    ns_path = NETNS_DIR / namespace
    if ns_path.exists():
        with contextlib.suppress(NetLabError):  # the namespace may go meanwhile
            for pid in _run([ip, "netns", "pids", namespace]).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    errors = []
    existing = {entry.get("ifname") for entry in _json(_run([ip, "-j", "link", "show"]))}
    for name in root_links:
        if name in existing:
            try:
                _run([ip, "link", "del", "dev", name])
            except NetLabError as error:
                if _link_exists(ip, name):
                    errors.append(str(error))
    if ns_path.exists():
        try:
            _run([ip, "netns", "del", namespace])
        except NetLabError as error:
            if ns_path.exists():
                errors.append(str(error))
    if errors:
        raise NetLabError("; ".join(errors))
    owner.unlink(missing_ok=True)


def _link_exists(ip: str, name: str) -> bool:
    return any(entry.get("ifname") == name for entry in _json(_run([ip, "-j", "link", "show"])))


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` (/proc/PID/stat field 22): with the pid, a process's id."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ...": comm may hold spaces and parentheses; field 22 is the
    # 20th after it.
    return text[text.rindex(")") + 2 :].split()[19]


def _read_owner(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the process that wrote ``owner`` still runs (same pid, same start)."""
    pid, start = owner.get("pid"), owner.get("start")
    return isinstance(pid, int) and start is not None and _start_time(pid) == start


def _new_tag(ip: str) -> str:
    """6 hex digits no namespace, root link or owner file uses yet."""
    taken = {entry.get("name", "") for entry in _json(_run([ip, "-j", "netns", "list"]))}
    links = {entry.get("ifname", "") for entry in _json(_run([ip, "-j", "link", "show"]))}
    while True:
        tag = secrets.token_hex(3)
        if (
            namespace_name(tag) not in taken
            and not any(name.startswith(f"{PREFIX}{tag}") for name in links)
            and not owner_path(tag).exists()
        ):
            return tag


def _free_network(ip: str) -> ipaddress.IPv4Network:
    """A random /16 of SUPERNET that no route, address or live lab of ours overlaps."""
    used: list[ipaddress.IPv4Network] = []
    for route in _json(_run([ip, "-4", "-j", "route", "show", "table", "all"])):
        dst = route.get("dst", "default")
        if dst != "default":
            used.append(ipaddress.IPv4Network(dst, strict=False))
    for entry in _json(_run([ip, "-4", "-j", "addr", "show"])):
        for addr in entry.get("addr_info", []):
            used.append(ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}").network)
    for path in OWNER_DIR.glob("*.json"):  # labs being built have no routes yet
        owner = _read_owner(path)
        if owner is not None and isinstance(owner.get("network"), str):
            used.append(ipaddress.IPv4Network(owner["network"]))
    free = [
        candidate
        for candidate in SUPERNET.subnets(new_prefix=16)
        if not any(candidate.overlaps(other) for other in used)
    ]
    if not free:
        raise NetLabError(f"every /16 of {SUPERNET} overlaps a route or address here")
    return random.choice(free)


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    """Serialise sweeping and creating labs between processes (flock, bounded wait)."""
    OWNER_DIR.mkdir(parents=True, exist_ok=True)
    with (OWNER_DIR / ".lock").open("a") as lock_file:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NetLabError(
                        f"{OWNER_DIR}/.lock held for over {LOCK_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
