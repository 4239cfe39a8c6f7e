"""``make demo``: sipprofiled end to end on a private bus, then everything torn down.

What it shows (registration itself arrives with the REGISTER engine): the daemon
starting on its own bus with its own database, profiles created, listed, updated and
deleted with ``sipprofilectl``, the events a monitoring client sees, what ``busctl``
sees, and that the database outlives a restart. It needs no arguments and cleans up
after itself.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .harness import private_bus, start_daemon, stop_daemon, workdir

CTL = [sys.executable, "-m", "sipprofile.client.cli"]


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def run(address: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run sipprofilectl, echo the command line and its output."""
    shown = shlex.join(("sipprofilectl", *args))
    print(f"$ {shown}" + (" <<< '********'" if stdin is not None else ""), flush=True)
    done = subprocess.run(
        [*CTL, "--address", address, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    out = (done.stdout + done.stderr).rstrip()
    if out:
        print(out, flush=True)
    if check and done.returncode != 0:
        raise SystemExit(f"demo: sipprofilectl {args[0]} failed with status {done.returncode}")
    return done.stdout


async def main() -> int:
    with workdir() as tmp:
        work = Path(tmp)
        database = work / "state" / "profiles.db"
        async with private_bus(work) as bus:
            step(f"sipprofiled on a private bus ({bus.address}), database {database}")
            daemon, took = await start_daemon(bus.address, database)
            print(f"owned org.sipprofile.SipProfile1 after {took * 1000:.0f} ms")
            monitor = subprocess.Popen(
                [*CTL, "--address", bus.address, "monitor"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            await asyncio.sleep(0.5)  # let the monitor subscribe
            try:
                step("supported profile types")
                run(bus.address, "types")
                step("create two profiles; passwords come from stdin, never from argv")
                run(
                    bus.address,
                    "create",
                    "--provider-name",
                    "Example Telecom",
                    "--aor",
                    "sip:alice@example.com",
                    "--registrar-uri",
                    "sip:registrar.example.com;transport=tcp",
                    "--registrar-username",
                    "alice",
                    "--registrar-password-from",
                    "-",
                    "--auto-registration",
                    stdin="alice-secret\n",
                )
                run(
                    bus.address,
                    "create",
                    "--type",
                    "ims",
                    "--provider-name",
                    "Operator IMS",
                    "--aor",
                    "sip:+15551230001@ims.example.net",
                    "--private-identity",
                    "15551230001@ims.example.net",
                )
                step("bad input is refused with a typed error and changes nothing")
                run(bus.address, "create", "--aor", "sip:example.com", check=False)
                step("list, and show one (the password shows only as HasPassword)")
                run(bus.address, "list")
                run(bus.address, "show", "1")
                step("update: a new name and the second profile becomes the default")
                run(bus.address, "update", "1", "--provider-name", "Example Telecom (work)")
                run(bus.address, "update", "2", "--default")
                run(bus.address, "list")
                step("what busctl sees")
                if shutil.which("busctl"):
                    print(
                        subprocess.run(
                            [
                                "busctl",
                                f"--address={bus.address}",
                                "tree",
                                "org.sipprofile.SipProfile1",
                            ],
                            capture_output=True,
                            text=True,
                            check=False,
                        ).stdout
                    )
                step("restart the daemon: profiles are kept")
                print(f"daemon exited with status {stop_daemon(daemon)} on SIGTERM")
                daemon, took = await start_daemon(bus.address, database)
                run(bus.address, "list")
                step("delete one; the default passes to the remaining profile")
                run(bus.address, "delete", "2")
                run(bus.address, "list")
                step("events seen by `sipprofilectl monitor` meanwhile")
            finally:
                monitor.send_signal(signal.SIGINT)
                out, _ = monitor.communicate(timeout=10)
                print(out.rstrip())
                status = stop_daemon(daemon)
            mode = oct(database.stat().st_mode & 0o777)
            step(f"done: daemon exit status {status}, database mode {mode}; tearing down")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main()))
