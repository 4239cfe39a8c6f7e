"""Private dnsmasq name servers on loopback, for tests that need real DNS answers.

The RFC 3263 resolver asks for NAPTR, SRV, A and AAAA records; a stub resolver
mocked in Python would only test what we believe DNS does. dnsmasq is small, starts
in a few milliseconds and serves records given on its command line or in its
configuration file, so each test can have a name server of its own with exactly the
records it needs.

Each instance lives in its own directory (``run_dir``): ``dnsmasq.conf`` (written
from the records), ``dnsmasq.pid`` and ``dnsmasq.log`` (dnsmasq's own log, every
query included, plus anything it prints to stdout/stderr before its log is open).
dnsmasq runs in the foreground (``--keep-in-foreground``) in a process group of its
own: it forks a child per TCP connection, and stopping the group reaches them too.

The server is authoritative for nothing and forwards nothing: ``local=/#/`` makes
every name it has no record for answer NXDOMAIN at once (without it, dnsmasq with
no upstream server answers REFUSED), and a name it knows asked for another type
answers NOERROR with no records. Every answer carries the ``ttl`` given to
``start_dnsmasq`` (``local-ttl``), except where a Host or Cname sets its own.

It needs Debian's ``dnsmasq-base`` package (``.ci/setup`` installs it); the binary
is /usr/sbin/dnsmasq, which a non-root PATH may lack. As root, dnsmasq drops its
privileges to ``nobody`` after reading its files; as any other user it keeps the
user's. Only ports above 1023 are used, so neither needs root.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import socket
import subprocess
import time
import weakref
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import dns.asyncresolver
import dns.exception
import dns.message
import dns.nameserver
import dns.query
import dns.rcode
import dns.resolver
from processes import find_binary, log_tail, spawn, stop_group, wait_until_ready
from processes import free_port as _free_port

START_TIMEOUT = 5.0
STOP_GRACE = 5.0
DEFAULT_TTL = 30
# A name no test configures: the readiness probe of a server without records.
PROBE_NAME = "dnsmasq-fixture-probe.invalid"
# Owner names and targets go unquoted into dnsmasq's comma-separated options, so
# they are held to letters, digits, '-' and '_' (SRV labels), dot-separated.
_NAME = re.compile(r"(?:[A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?")
_U16 = range(65536)


class DnsmasqError(RuntimeError):
    """dnsmasq could not be started or stopped; the message has the log tail."""


class PortInUseError(DnsmasqError):
    """Another process took the port between choosing it and dnsmasq binding it."""


def find_dnsmasq() -> str | None:
    """Locate dnsmasq; it lives in /usr/sbin, which a non-root PATH may lack."""
    return find_binary("dnsmasq")


def dnsmasq_available() -> bool:
    """Whether the dnsmasq binary is installed."""
    return find_dnsmasq() is not None


def require_dnsmasq() -> None:
    """Skip (non-root, nothing to install with) or fail (root) without dnsmasq.

    As root (CI, where ``.ci/setup`` installs it) a missing dnsmasq is an error, so
    the DNS tests can never silently vanish. pytest is imported here, not at the top,
    so that the module stays usable outside pytest.
    """
    import pytest

    if dnsmasq_available():
        return
    if os.geteuid() != 0:
        pytest.skip("dnsmasq is not installed; `make test` as root installs it (.ci/setup)")
    pytest.fail("dnsmasq not found: .ci/setup should have installed dnsmasq-base")


# ----- records -----


@dataclass(frozen=True)
class Naptr:
    """A NAPTR record (RFC 3403); for SIP the regexp is empty and flags is ``s``.

    ``flags``, ``service`` and ``regexp`` are character strings of printable ASCII;
    backslashes and double quotes in them reach the answer unchanged (they are
    escaped in the configuration file). ``replacement`` is a domain name or ``.``.
    """

    name: str
    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str

    def __post_init__(self) -> None:
        _check_name(self.name, "NAPTR name")
        _check_u16(self.order, "NAPTR order")
        _check_u16(self.preference, "NAPTR preference")
        for what, value in (("flags", self.flags), ("service", self.service)):
            _check_text(value, f"NAPTR {what}")
        _check_text(self.regexp, "NAPTR regexp")
        _check_name(self.replacement, "NAPTR replacement", root=True)

    @property
    def query(self) -> tuple[str, str]:
        """The question this record answers: (name, type)."""
        return self.name, "NAPTR"

    def option(self) -> str:
        """The dnsmasq configuration line for this record."""
        strings = ",".join(_quoted(s) for s in (self.flags, self.service, self.regexp))
        return (
            f"naptr-record={self.name},{self.order},{self.preference},{strings},{self.replacement}"
        )


@dataclass(frozen=True)
class Srv:
    """An SRV record; ``service_name`` is the owner, e.g. ``_sip._udp.example.test``.

    A ``target`` of ``.`` says the service is not offered at this domain (RFC 2782).
    """

    service_name: str
    target: str
    port: int
    priority: int = 0
    weight: int = 0

    def __post_init__(self) -> None:
        _check_name(self.service_name, "SRV service name")
        _check_name(self.target, "SRV target", root=True)
        _check_u16(self.port, "SRV port")
        _check_u16(self.priority, "SRV priority")
        _check_u16(self.weight, "SRV weight")

    @property
    def query(self) -> tuple[str, str]:
        """The question this record answers: (name, type)."""
        return self.service_name, "SRV"

    def option(self) -> str:
        """The dnsmasq configuration line for this record."""
        return (
            f"srv-host={self.service_name},{self.target},{self.port},{self.priority},{self.weight}"
        )


@dataclass(frozen=True)
class Host:
    """An A or AAAA record, by the family of ``address``; several may share a name.

    dnsmasq also answers the matching PTR query. ``ttl`` overrides the server's TTL
    for this record (dnsmasq has per-record TTLs for addresses and CNAMEs only).
    """

    name: str
    address: str
    ttl: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.name, "host name")
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise ValueError(f"host address {self.address!r} is not an IP address") from None
        _check_ttl(self.ttl)

    @property
    def rdtype(self) -> str:
        """``A`` for an IPv4 address, ``AAAA`` for IPv6."""
        return "A" if ipaddress.ip_address(self.address).version == 4 else "AAAA"

    @property
    def query(self) -> tuple[str, str]:
        """The question this record answers: (name, type)."""
        return self.name, self.rdtype

    def option(self) -> str:
        """The dnsmasq configuration line for this record."""
        ttl = "" if self.ttl is None else f",{self.ttl}"
        return f"host-record={self.name},{self.address}{ttl}"


@dataclass(frozen=True)
class Cname:
    """A CNAME from ``alias`` to ``target``.

    dnsmasq adds the target's records of the asked type when it has them itself;
    otherwise the answer is the CNAME alone (never NXDOMAIN for a missing target).
    """

    alias: str
    target: str
    ttl: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.alias, "CNAME alias")
        _check_name(self.target, "CNAME target")
        _check_ttl(self.ttl)

    @property
    def query(self) -> tuple[str, str]:
        """The question this record answers: (name, type)."""
        return self.alias, "CNAME"

    def option(self) -> str:
        """The dnsmasq configuration line for this record."""
        ttl = "" if self.ttl is None else f",{self.ttl}"
        return f"cname={self.alias},{self.target}{ttl}"


Record = Naptr | Srv | Host | Cname


# ----- the server -----


@dataclass(eq=False)  # a handle on a process: compared and hashed by identity
class Dnsmasq:
    """A dnsmasq instance serving ``records`` on ``host``:``port`` (UDP and TCP).

    ``start()``/``stop()`` may be repeated; ``reload()`` serves other records on the
    same port. Used as a context manager it is stopped on leaving the block.
    """

    host: str
    port: int
    run_dir: Path
    records: tuple[Record, ...] = ()
    ttl: int = DEFAULT_TTL
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)
    _stopped: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    # ----- files -----

    @property
    def config_path(self) -> Path:
        """The configuration written from ``records`` on every start."""
        return self.run_dir / "dnsmasq.conf"

    @property
    def log_path(self) -> Path:
        """dnsmasq's log (queries included) and output, appended to across restarts."""
        return self.run_dir / "dnsmasq.log"

    @property
    def pid_path(self) -> Path:
        """Written by dnsmasq itself (it would use /run/dnsmasq.pid otherwise)."""
        return self.run_dir / "dnsmasq.pid"

    @property
    def pid(self) -> int | None:
        """Pid of the main dnsmasq process (also its process group id)."""
        return self.process.pid if self.process is not None else None

    @property
    def address(self) -> str:
        """``host:port`` (``[host]:port`` for IPv6), as SIPPROFILED_NAMESERVERS takes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # ----- configuration -----

    def config_text(self) -> str:
        """The dnsmasq configuration for the current records, TTL and port."""
        lines = [
            "# Written by tests/dnsmasq.py; rewritten on every start.",
            f"port={self.port}",
            f"listen-address={self.host}",
            "bind-interfaces",  # only this address, not the wildcard
            "no-resolv",  # no upstream servers from /etc/resolv.conf ...
            "no-poll",  # ... and no watching it for changes
            "no-hosts",  # nothing from /etc/hosts
            "local=/#/",  # unknown names: NXDOMAIN, not REFUSED or forwarded
            f"local-ttl={self.ttl}",
            "log-queries",
        ]
        lines += [record.option() for record in self.records]
        return "\n".join(lines) + "\n"

    def command(self) -> list[str]:
        """The full dnsmasq command line for this instance."""
        dnsmasq = find_dnsmasq()
        if dnsmasq is None:
            raise DnsmasqError("dnsmasq is not installed (run .ci/setup as root)")
        return [
            dnsmasq,
            "--keep-in-foreground",
            f"--conf-file={self.config_path}",  # only this file, not /etc/dnsmasq.conf
            f"--pid-file={self.pid_path}",
            f"--log-facility={self.log_path}",  # a file: nothing goes to syslog
        ]

    # ----- life cycle -----

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Write the configuration, start dnsmasq and wait until it answers.

        Ready means it answers the question of the first record with that record
        (or, without records, the probe name with NXDOMAIN) over UDP; dnsmasq opens
        its TCP socket before it reads any query. Raises DnsmasqError (PortInUseError
        when the port is taken) with the end of this start's log if dnsmasq exits or
        does not answer within ``timeout`` seconds.
        """
        if self.is_running():
            raise DnsmasqError(f"dnsmasq already running (pid {self.pid})")
        _check_ttl(self.ttl)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        self.pid_path.unlink(missing_ok=True)
        # Own process group (spawn): stop() reaches the TCP children too.
        self.process, self._log_offset = spawn(self.command(), self.log_path, self.run_dir)
        _live.add(self)
        # Short probe timeouts first: a loopback answer takes microseconds, and a
        # probe sent to a port someone else holds hears nothing at all.
        waits = (min(0.05 * 2**n, 0.5) for n in itertools.count())
        wait_until_ready(
            self.process,
            lambda: self._probe(next(waits)),
            name="dnsmasq",
            timeout=timeout,
            interval=0.01,
            log_path=self.log_path,
            log_offset=self._log_offset,
            stop=self.stop,
            error=DnsmasqError,
            port_in_use=PortInUseError,
        )

    def is_running(self) -> bool:
        """Whether the main dnsmasq process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to dnsmasq, SIGKILL to its whole process group after ``grace`` s.

        The group is killed while the main process is still unreaped, so its id
        cannot have been reused by an unrelated process. Stopping twice is harmless.
        """
        process = self.process
        if process is None or process is self._stopped:
            return  # the group id may belong to someone else by now
        stop_group(process, grace, interval=0.005)  # TCP children go with the group
        # Killed TCP children are orphans, for the init process to reap; until it
        # does (some container inits take a second, some never do) they are
        # zombies: gone as processes, holding no sockets, only a process table slot.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and live_processes(process.pid):
            time.sleep(0.005)
        self._stopped = process
        _live.discard(self)

    def reload(
        self,
        records: Iterable[Record],
        *,
        ttl: int | None = None,
        timeout: float = START_TIMEOUT,
    ) -> None:
        """Serve ``records`` instead (and ``ttl``, if given), on the same port.

        dnsmasq re-reads only hosts and resolv files on SIGHUP, not records given as
        options, so this is a restart: for a few milliseconds queries go unanswered
        (over UDP, a client's retry is answered). Should another process take the
        port meanwhile, PortInUseError is raised; the port cannot change here.
        """
        records = tuple(records)
        self.stop()
        self.records = records
        if ttl is not None:
            self.ttl = ttl
        self.start(timeout)

    def log_tail(self, lines: int = 30, since: int = 0) -> str:
        """The last ``lines`` lines of ``dnsmasq.log`` from byte offset ``since``."""
        return log_tail(self.log_path, lines, since)

    # ----- clients -----

    def resolver(self, lifetime: float = 2.0) -> dns.resolver.Resolver:
        """A dnspython resolver asking only this server, without a cache."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(self.host, self.port)]
        resolver.lifetime = lifetime
        return resolver

    def async_resolver(self, lifetime: float = 2.0) -> dns.asyncresolver.Resolver:
        """Like ``resolver()``, for asyncio (what the daemon's DNS cache uses)."""
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(self.host, self.port)]
        resolver.lifetime = lifetime
        return resolver

    # ----- context manager -----

    def __enter__(self) -> Dnsmasq:
        """The running server (start_dnsmasq already started it)."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop dnsmasq, whatever happened in the block."""
        self.stop()

    # ----- helpers -----

    def _probe(self, timeout: float) -> str:
        """Empty when dnsmasq answers the readiness question as expected, else why not."""
        if self.records:
            name, rdtype = self.records[0].query
        else:
            name, rdtype = PROBE_NAME, "A"
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # A connected socket hears ICMP port unreachable at once (ECONNREFUSED), so
        # the timeout is only waited for when dnsmasq has bound but not answered.
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # dnspython's requirement for a socket of ours
            try:
                sock.connect((self.host, self.port))
                reply = dns.query.udp(
                    dns.message.make_query(name, rdtype),
                    self.host,
                    port=self.port,
                    timeout=timeout,
                    sock=sock,
                )
            except (dns.exception.DNSException, OSError) as exc:  # timeout, refused
                return f"no reply: {exc!r}"
        rcode = reply.rcode()
        if self.records and (rcode != dns.rcode.NOERROR or not reply.answer):
            return f"{name} {rdtype}: {dns.rcode.to_text(rcode)} with {len(reply.answer)} RRsets"
        if not self.records and rcode != dns.rcode.NXDOMAIN:
            return f"{name} {rdtype}: {dns.rcode.to_text(rcode)}, expected NXDOMAIN"
        return ""


def start_dnsmasq(
    run_dir: Path,
    records: Iterable[Record],
    *,
    ttl: int = DEFAULT_TTL,
    host: str = "127.0.0.1",
    timeout: float = START_TIMEOUT,
) -> Dnsmasq:
    """Start dnsmasq in ``run_dir`` on a free UDP+TCP port of ``host``, serving ``records``.

    ``ttl`` is the TTL of every answer (except a Host or Cname with its own). A lost
    race for the port is retried with a new one.
    """
    run_dir = Path(run_dir).resolve()
    records = tuple(records)
    for attempt in range(3):
        server = Dnsmasq(host=host, port=free_port(host), run_dir=run_dir, records=records, ttl=ttl)
        try:
            server.start(timeout)
        except PortInUseError:
            if attempt == 2:
                raise
            continue
        return server
    raise AssertionError("unreachable")


def free_port(host: str = "127.0.0.1", *, exclude: Collection[int] = ()) -> int:
    """A port free for both TCP and UDP on ``host``, found by binding port 0.

    A module-level function of its own so that tests can replace it (monkeypatch).
    """
    return _free_port(host, udp=True, exclude=exclude, error=DnsmasqError)


def live_processes(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` that are not zombies (read from /proc).

    ``killpg(pgid, 0)`` cannot tell: it succeeds for zombies too, and dnsmasq's TCP
    children, orphaned when it exits, stay zombies until the init process reaps them.
    """
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split(maxsplit=3)[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


# ----- helpers -----

_live: weakref.WeakSet[Dnsmasq] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Leave no dnsmasq behind if a test run ends without fixture teardown."""
    for server in list(_live):
        server.stop(grace=1)


def _quoted(text: str) -> str:
    r"""``text`` as a quoted dnsmasq option value.

    Inside quotes dnsmasq keeps commas, spaces and '#', turns ``\\`` into ``\`` and
    ``\"`` into ``"``, but also ``\n``, ``\t``, ``\r``, ``\b`` and ``\e`` into control
    characters: so every backslash is doubled, and NAPTR regexps keep theirs.
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_name(value: str, what: str, *, root: bool = False) -> None:
    if root and value == ".":
        return
    if not isinstance(value, str) or len(value) > 254 or not _NAME.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a domain name dnsmasq can take")


def _check_u16(value: int, what: str) -> None:
    if not isinstance(value, int) or value not in _U16:
        raise ValueError(f"{what} {value!r} is not in 0..65535")


def _check_text(value: str, what: str) -> None:
    if (
        not isinstance(value, str)
        or len(value) > 255
        or not all(" " <= char <= "~" for char in value)
    ):
        raise ValueError(f"{what} {value!r} is not up to 255 printable ASCII characters")


def _check_ttl(value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or not 0 <= value < 2**31):
        raise ValueError(f"TTL {value!r} is not in 0..2147483647")
