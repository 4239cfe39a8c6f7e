"""Private Kamailio registrars on loopback, for tests that need a real SIP server.

Each instance lives in its own directory (``run_dir``): the SQLite subscriber
database, the pid file, ``kamailio.log`` (all of Kamailio's output), the binrpc
control socket used by ``kamcmd`` and, with TLS, a throw-away self-signed
certificate. Kamailio runs in the foreground (``-DD``) in a process group of its own,
so that stopping it can always reach its worker processes, even if the main process
hangs or dies first.

The configuration is ``registrar.cfg`` beside this file; every knob in it is a
pre-processor define, passed here as ``-A NAME=value``. It needs Debian's
``kamailio``, ``kamailio-sqlite-modules``, ``kamailio-tls-modules`` and
``kamailio-outbound-modules`` packages (``.ci/setup`` installs them) and ``openssl``
for TLS.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
import weakref
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

try:
    import processes
except ModuleNotFoundError as exc:
    # bench/harness.py loads this file by path, without tests/ on sys.path (pytest
    # puts it there): appended, it cannot shadow anything the bench imports.
    if exc.name != "processes":
        raise
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    import processes

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "registrar.cfg"
# The SQLite schema shipped by kamailio-sqlite-modules: auth_db checks the table
# version recorded in `version`, so the packaged files are used as they are.
SCHEMA_DIR = Path("/usr/share/kamailio/db_sqlite")
SCHEMA_FILES = ("standard-create.sql", "auth_db-create.sql")

DEFAULT_USERS: dict[str, str] = {name: f"{name}-secret" for name in ("alice", "bob", "carol")}
START_TIMEOUT = 10.0
STOP_GRACE = 5.0
SHM_MB = 64
# sun_path holds 108 bytes with the NUL; longer control socket paths go to /tmp.
_MAX_UNIX_PATH = 100


class RegistrarError(RuntimeError):
    """Kamailio could not be started, stopped or queried; the message has the log tail."""


class PortInUseError(RegistrarError):
    """Another process took a port between choosing it and Kamailio binding it."""


def find_binary(name: str) -> str | None:
    """Locate a Kamailio tool; they live in /usr/sbin, which a non-root PATH may lack."""
    return processes.find_binary(name)


def kamailio_available() -> bool:
    """Whether both ``kamailio`` and ``kamcmd`` are installed."""
    return find_binary("kamailio") is not None and find_binary("kamcmd") is not None


@dataclass(frozen=True)
class Binding:
    """One contact of ``ul.dump``: what the registrar stored for a REGISTER.

    ``expires`` is the number of seconds left, or None where Kamailio prints a word
    instead (``permanent``, ``expired``, ``deleted``). Fields Kamailio shows as
    ``[not set]`` are None. ``raw`` keeps every field of the dump as text.
    """

    aor: str
    contact: str
    expires: int | None
    call_id: str
    cseq: int
    received: str | None
    path: str | None
    instance: str | None
    reg_id: int
    user_agent: str | None
    socket: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(eq=False)  # a handle on a process: compared and hashed by identity
class Registrar:
    """A Kamailio registrar instance; ``start()``/``stop()`` may be repeated.

    ``port`` serves UDP and TCP, ``tls_port`` TLS (None without TLS). Clients put
    ``domain`` in the To/From URIs: it is the digest realm the registrar challenges
    with. A restart keeps the ports, the users and the certificate, but not the
    bindings (usrloc is in memory only).
    """

    host: str
    port: int
    tls_port: int | None
    run_dir: Path
    domain: str
    defines: dict[str, str | None] = field(default_factory=dict)
    shm_mb: int = SHM_MB
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _ctl_dir: Path | None = field(default=None, repr=False)

    # ----- files -----

    @property
    def db_path(self) -> Path:
        """The SQLite database with the ``subscriber`` table."""
        return self.run_dir / "kam.sqlite"

    @property
    def log_path(self) -> Path:
        """Kamailio's stdout and stderr, appended to across restarts."""
        return self.run_dir / "kamailio.log"

    @property
    def pid_path(self) -> Path:
        """Written by Kamailio itself (``-P``)."""
        return self.run_dir / "kamailio.pid"

    @property
    def cert_path(self) -> Path:
        """Self-signed certificate for TLS, made by ``start_registrar``."""
        return self.run_dir / "server.pem"

    @property
    def key_path(self) -> Path:
        """Private key of ``cert_path``; generated per instance, never committed."""
        return self.run_dir / "server.key"

    @property
    def ctl_socket(self) -> Path:
        """The binrpc socket for ``kamcmd`` (in /tmp if ``run_dir`` is too deep)."""
        if self._ctl_dir is None:
            if len(str(self.run_dir / "kamailio_ctl")) <= _MAX_UNIX_PATH:
                self._ctl_dir = self.run_dir
            else:
                self._ctl_dir = Path(tempfile.mkdtemp(prefix="kamctl-"))
        return self._ctl_dir / "kamailio_ctl"

    @property
    def pid(self) -> int | None:
        """Pid of Kamailio's main process (also its process group id)."""
        return self.process.pid if self.process is not None else None

    # ----- life cycle -----

    def command(self) -> list[str]:
        """The full Kamailio command line for this instance."""
        kamailio = find_binary("kamailio")
        if kamailio is None:
            raise RegistrarError("kamailio is not installed (run .ci/setup as root)")
        defines: dict[str, str | None] = {
            "LISTEN_IP": self.host,
            "SIP_PORT": str(self.port),
            "DBURL": f'"sqlite://{self.db_path}"',
            "CTL_SOCK": f'"unix:{self.ctl_socket}"',
        }
        if self.tls_port is not None:
            defines |= {
                "WITH_TLS": None,
                "TLS_PORT": str(self.tls_port),
                "TLS_CERT": f'"{self.cert_path}"',
                "TLS_KEY": f'"{self.key_path}"',
            }
        defines |= self.defines
        cmd = [kamailio, "-f", str(CONFIG), "-DD", "-E", "-Y", str(self.run_dir)]
        cmd += ["-P", str(self.pid_path), "-m", str(self.shm_mb)]
        for name, value in defines.items():
            cmd += ["-A", name if value is None else f"{name}={value}"]
        return cmd

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start Kamailio and wait until it answers on every transport and on binrpc.

        Raises RegistrarError (PortInUseError for a lost port race) with the end of
        this start's log if it exits or does not answer within ``timeout`` seconds.
        """
        if self.is_running():
            raise RegistrarError(f"kamailio already running (pid {self.pid})")
        self.ctl_socket.parent.mkdir(parents=True, exist_ok=True)
        for stale in (self.ctl_socket, self.pid_path, self.run_dir / "kamailio_rpc.fifo"):
            stale.unlink(missing_ok=True)
        # Own process group (spawn): stop() kills all workers.
        self.process, offset = processes.spawn(self.command(), self.log_path, self.run_dir)
        _live.add(self)
        processes.wait_until_ready(
            self.process,
            self._not_ready,
            name="kamailio",
            timeout=timeout,
            interval=0.03,
            log_path=self.log_path,
            log_offset=offset,
            stop=self.stop,
            error=RegistrarError,
            port_in_use=PortInUseError,
        )

    def is_running(self) -> bool:
        """Whether the main Kamailio process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to Kamailio, SIGKILL to its whole process group after ``grace`` s.

        The group is killed while the main process is still unreaped, so its id
        cannot have been reused by an unrelated process.
        """
        process = self.process
        if process is None:
            return
        processes.stop_group(process, grace, interval=0.02)  # workers go with the group
        _live.discard(self)
        self.ctl_socket.unlink(missing_ok=True)
        if self._ctl_dir is not None and self._ctl_dir != self.run_dir:
            shutil.rmtree(self._ctl_dir, ignore_errors=True)
            self._ctl_dir = None

    def log_tail(self, lines: int = 30, since: int = 0) -> str:
        """The last ``lines`` lines of ``kamailio.log`` from byte offset ``since``."""
        return processes.log_tail(self.log_path, lines, since)

    def _not_ready(self) -> str:
        """Empty when binrpc works, UDP answers OPTIONS and the TCP/TLS ports accept.

        Otherwise the first check that failed, for the start timeout's message.
        """
        if not self.ctl_socket.exists():
            return "no binrpc socket yet"
        try:
            self.rpc("core.uptime", timeout=2)
        except RegistrarError as exc:
            return str(exc)
        if not _options_ping(self.host, self.port):
            return f"no 200 to OPTIONS on UDP port {self.port}"
        for port in (self.port, self.tls_port):
            if port is not None:
                try:
                    socket.create_connection((self.host, port), timeout=1).close()
                except OSError as exc:
                    return f"TCP port {port}: {exc}"
        return ""

    # ----- control -----

    def rpc(self, *args: str, timeout: float = 10) -> str:
        """Run a Kamailio RPC command through ``kamcmd`` and return its output."""
        kamcmd = find_binary("kamcmd")
        if kamcmd is None:
            raise RegistrarError("kamcmd is not installed (package kamailio)")
        try:
            done = subprocess.run(
                [kamcmd, "-s", f"unix:{self.ctl_socket}", *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RegistrarError(f"kamcmd {' '.join(args)} timed out") from exc
        if done.returncode != 0 or done.stdout.startswith("error"):
            raise RegistrarError(
                f"kamcmd {' '.join(args)} failed ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()}"
            )
        return done.stdout

    def ul_dump(self) -> list[Binding]:
        """Every binding in the registrar's location table (``ul.dump``)."""
        return parse_ul_dump(self.rpc("ul.dump"))

    def contacts_of(self, user: str) -> list[Binding]:
        """The bindings of one user's AOR."""
        return [b for b in self.ul_dump() if b.aor == user or b.aor.startswith(f"{user}@")]

    # ----- subscribers -----

    def users(self) -> dict[str, str]:
        """Subscribers and their plain-text passwords, as auth_db reads them."""
        with _connect(self.db_path) as db:
            return dict(db.execute("SELECT username, password FROM subscriber ORDER BY id"))

    def add_user(self, name: str, password: str) -> None:
        """Add (or change the password of) a subscriber; effective immediately.

        auth_db reads the table on every authentication, so no reload is needed.
        """
        with _connect(self.db_path) as db:
            db.execute(
                "INSERT INTO subscriber(username, domain, password) VALUES(?, '', ?) "
                "ON CONFLICT(username, domain) DO UPDATE SET password = excluded.password",
                (name, password),
            )

    def remove_user(self, name: str) -> None:
        """Delete a subscriber; its next REGISTER gets challenged forever."""
        with _connect(self.db_path) as db:
            db.execute("DELETE FROM subscriber WHERE username = ?", (name,))


def start_registrar(
    run_dir: Path,
    *,
    tls: bool = False,
    min_expires: int = 60,
    auth_qop: bool = True,
    flow_timer: int = 0,
    extra_defines: Mapping[str, str | None] | None = None,
    users: Mapping[str, str] | None = None,
    realm: str | None = None,
    host: str = "127.0.0.1",
    children: int = 2,
) -> Registrar:
    """Create a fresh instance in ``run_dir`` on free ports and start it.

    ``users`` defaults to alice, bob and carol with passwords ``<name>-secret``.
    ``realm`` sets AUTH_REALM (default: the To domain, i.e. ``host``). String values
    in ``extra_defines`` carry their own double quotes, as in the config; a None
    value is a bare flag. A lost race for a port is retried with new ports.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    _create_database(run_dir / "kam.sqlite", DEFAULT_USERS if users is None else users)
    if tls:
        _make_certificate(run_dir, host)
    defines: dict[str, str | None] = {
        "MIN_EXPIRES": str(min_expires),
        "AUTH_QOP": "1" if auth_qop else "0",
        "FLOW_TIMER": str(flow_timer),
        "CHILDREN": str(children),
    }
    if realm is not None:
        defines["AUTH_REALM"] = f'"{realm}"'
    defines |= extra_defines or {}
    domain = (defines.get("AUTH_REALM") or f'"{host}"').strip('"')
    for attempt in range(3):
        port = free_port(host, udp=True)
        registrar = Registrar(
            host=host,
            port=port,
            tls_port=free_port(host, exclude={port}) if tls else None,
            run_dir=run_dir,
            domain=domain,
            defines=defines,
        )
        try:
            registrar.start()
        except PortInUseError:
            if attempt == 2:
                raise
            continue
        return registrar
    raise AssertionError("unreachable")


def stop_registrar(registrar: Registrar) -> None:
    """SIGTERM, then SIGKILL of the process group after 5 s."""
    registrar.stop()


def free_port(host: str = "127.0.0.1", *, udp: bool = False, exclude: Collection[int] = ()) -> int:
    """A port free for TCP (and for UDP too, if ``udp``), found by binding port 0."""
    return processes.free_port(host, udp=udp, exclude=exclude, error=RegistrarError)


def parse_ul_dump(text: str) -> list[Binding]:
    """Turn ``kamcmd ul.dump`` output (indented ``Key: value`` / ``Key: {``) into bindings."""
    bindings: list[Binding] = []
    for info in _find(_parse_tree(text), "Info"):
        fields = dict(item for item in info if isinstance(item[1], str))
        aor = str(fields.get("AoR", ""))
        for contacts in _find(info, "Contacts"):
            for contact in _find(contacts, "Contact"):
                raw = {k: v for k, v in contact if isinstance(v, str)}
                bindings.append(_binding(aor, raw))
    return bindings


# ----- helpers -----

_Tree = list[tuple[str, "str | _Tree"]]
_live: weakref.WeakSet[Registrar] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Leave no Kamailio behind if a test run ends without fixture teardown."""
    for registrar in list(_live):
        registrar.stop(grace=1)


def _parse_tree(text: str) -> _Tree:
    root: _Tree = []
    stack = [root]
    for line in text.splitlines():
        item = line.strip()
        if not item:
            continue
        if item == "}":
            if len(stack) > 1:
                stack.pop()
        elif item.endswith("{"):
            child: _Tree = []
            stack[-1].append((item[:-1].strip().rstrip(":"), child))
            stack.append(child)
        else:
            key, _, value = item.partition(":")
            stack[-1].append((key.strip(), value.strip()))
    return root


def _find(tree: _Tree, key: str) -> Iterator[_Tree]:
    """Sub-trees named ``key``, at any depth (not looking inside a match)."""
    for name, value in tree:
        if isinstance(value, list):
            if name == key:
                yield value
            else:
                yield from _find(value, key)


def _binding(aor: str, raw: dict[str, str]) -> Binding:
    def text(key: str) -> str | None:
        value = raw.get(key)
        return None if value in (None, "", "[not set]") else value

    def number(key: str) -> int | None:
        value = text(key)
        return int(value) if value is not None and value.lstrip("-").isdigit() else None

    return Binding(
        aor=aor,
        contact=raw.get("Address", ""),
        expires=number("Expires"),
        call_id=raw.get("Call-ID", ""),
        cseq=number("CSeq") or 0,
        received=text("Received"),
        path=text("Path"),
        instance=text("Instance"),
        reg_id=number("Reg-Id") or 0,
        user_agent=text("User-Agent"),
        socket=text("Socket"),
        raw=raw,
    )


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A short transaction on the subscriber database, committed on success."""
    if not path.exists():
        raise RegistrarError(f"no subscriber database at {path}")
    db = sqlite3.connect(path, timeout=5)  # waits if a Kamailio worker holds a lock
    try:
        with db:
            yield db
    finally:
        db.close()


def _create_database(path: Path, users: Mapping[str, str]) -> None:
    """A new SQLite database from the packaged schema, with ``users`` as subscribers."""
    missing = [name for name in SCHEMA_FILES if not (SCHEMA_DIR / name).is_file()]
    if missing:
        raise RegistrarError(
            f"{', '.join(missing)} not in {SCHEMA_DIR}: install kamailio-sqlite-modules"
        )
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    try:
        for name in SCHEMA_FILES:
            db.executescript((SCHEMA_DIR / name).read_text())
        with db:
            db.executemany(
                "INSERT INTO subscriber(username, domain, password) VALUES(?, '', ?)",
                users.items(),
            )
    finally:
        db.close()


def _make_certificate(run_dir: Path, host: str) -> None:
    """A self-signed certificate for ``host`` (made once per instance directory)."""
    cert, key = run_dir / "server.pem", run_dir / "server.key"
    if cert.exists() and key.exists():
        return
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RegistrarError("openssl is not installed; it makes the TLS test certificate")
    args = ["req", "-x509", "-nodes", "-days", "7", "-subj", f"/CN={host}"]
    args += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    args += ["-addext", f"subjectAltName=IP:{host},DNS:localhost"]
    args += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run([openssl, *args], check=True, capture_output=True)
    key.chmod(0o600)


def _options_ping(host: str, port: int) -> bool:
    """Whether the registrar answers an OPTIONS over UDP with 200 (its workers run)."""
    branch = uuid.uuid4().hex[:16]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(0.5)
        local = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{local};rport;branch=z9hG4bK{branch}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{host}>;tag={branch[:8]}\r\n"
            f"To: <sip:{host}>\r\n"
            f"Call-ID: {branch}@probe\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(request.encode(), (host, port))
            reply = sock.recv(65535)
        except OSError:  # timeout, or ICMP port unreachable
            return False
    return reply.startswith(b"SIP/2.0 200")
