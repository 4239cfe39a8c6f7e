"""Life cycle of the private servers the tests start (dnsmasq, Kamailio).

Each fixture runs its server in the foreground, in a process group of its own, with
all output appended to one log file per instance. Starting, waiting until it answers,
reading the log tail for an error message and stopping the whole group are the same
for every server, and subtle enough (pid reuse, zombies, children outliving the main
process) to be written once: the fixtures keep only what differs, namely the command,
the readiness probe and what to clean up afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Collection
from pathlib import Path

# Where Debian puts server binaries; a non-root PATH often lacks these.
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"
# Written by the server (or the kernel via the server) when a port race is lost.
ADDRESS_IN_USE = "Address already in use"


def find_binary(name: str) -> str | None:
    """Locate a server binary on PATH or, since a non-root PATH may lack them, in sbin."""
    return shutil.which(name) or shutil.which(name, path=SBIN)


def free_port(
    host: str = "127.0.0.1",
    *,
    udp: bool = False,
    exclude: Collection[int] = (),
    error: type[Exception] = RuntimeError,
) -> int:
    """A port free for TCP (and for UDP too, if ``udp``), found by binding port 0.

    The port is released before it is returned, so a server started on it may still
    lose a race for it: callers retry on the fixture's PortInUseError. ``error`` is
    raised, so that callers see their own fixture's exception, if none is found.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port: int = tcp.getsockname()[1]
            if port in exclude:
                continue
            if not udp:
                return port
            with socket.socket(family, socket.SOCK_DGRAM) as dgram:
                try:
                    dgram.bind((host, port))
                except OSError:
                    continue
                return port
    raise error(f"no free port on {host}")


def spawn(cmd: list[str], log_path: Path, cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``cmd`` with its output appended to ``log_path``, in a new process group.

    A header line with the time and the command separates this start from earlier
    ones in the same log. Returns the process and the log offset of the header, from
    which ``log_tail`` shows only this start's output in error messages. The process
    group of its own lets ``stop_group`` reach every child or worker of the server.
    """
    with log_path.open("ab") as log:
        offset = log.tell()
        log.write(f"=== {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,  # own process group: stop_group() reaches all of it
        )
    return process, offset


def wait_until_ready(
    process: subprocess.Popen[bytes],
    probe: Callable[[], str],
    *,
    name: str,
    timeout: float,
    interval: float,
    log_path: Path,
    log_offset: int,
    stop: Callable[[], None],
    error: type[Exception],
    port_in_use: type[Exception],
) -> None:
    """Probe until the server answers; on failure stop it and raise with the log tail.

    ``probe`` returns an empty string when the server is ready, else why not. If the
    process exits first, the log says why: ``port_in_use`` is raised when it lost the
    race for its port (the caller retries with another), ``error`` otherwise, and also
    when it does not answer within ``timeout`` seconds. ``stop`` is called before
    raising so that no half-started server outlives the failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = probe()
        if not last:
            return
        if process.poll() is not None:
            tail = log_tail(log_path, since=log_offset)
            stop()
            raise (port_in_use if ADDRESS_IN_USE in tail else error)(
                f"{name} exited with {process.returncode} while starting; {log_path}:\n{tail}"
            )
        if time.monotonic() > deadline:
            stop()
            raise error(
                f"{name} did not answer within {timeout:g} s ({last}); "
                f"{log_path}:\n{log_tail(log_path, since=log_offset)}"
            )
        time.sleep(interval)


def stop_group(process: subprocess.Popen[bytes], grace: float, interval: float) -> None:
    """SIGTERM to the main process, SIGKILL to its whole process group after ``grace`` s.

    The group is killed while the main process is still unreaped, so its id cannot
    have been reused by an unrelated process; ``interval`` is how often the main
    process is checked meanwhile. If it had already exited (and been reaped by
    ``poll``), children or workers may still hold the group, and are killed at once.
    Must not be called twice for one reaped process: the group id may be reused.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not exited(process.pid):
            time.sleep(interval)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # leftovers, or all after grace
        process.wait()
    else:  # main died earlier: children or workers may still hold the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def exited(pid: int) -> bool:
    """Whether our child ``pid`` has exited, without reaping it (keeps its pgid held)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def log_tail(path: Path, lines: int = 30, since: int = 0) -> str:
    """The last ``lines`` lines of the log at ``path`` from byte offset ``since``.

    Error messages carry it because the server's own words (a config error, a port
    in use) are the only useful explanation of why it did not start.
    """
    try:
        with path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
