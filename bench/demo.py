"""``make demo``: sipprofiled end to end on a private bus, then everything torn down.

What it shows: the daemon starting on its own bus with its own database; profiles
created, listed, updated and deleted with ``sipprofilectl``; a real registration at a
Kamailio registrar on loopback, enabled by two clients and registered once (one
binding, one Call-ID); the last release removing the binding; the events a monitoring
client sees; what ``busctl`` sees; and that the database outlives a restart. It needs
no arguments and cleans up after itself.
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
from typing import Any

from sipprofile.client import Registry

from .harness import load_test_module, private_bus, start_daemon, stop_daemon, workdir

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


def _registrar_module() -> Any:
    """The project's Kamailio helper (tests/kamailio/registrar.py)."""
    return load_test_module("kamailio/registrar")


async def _state(registry: Registry, profile_id: int, *wanted: str) -> str:
    for _ in range(500):
        profile = await registry.get(profile_id)
        await profile.reload()
        if profile.state in wanted:
            return profile.state
        await asyncio.sleep(0.02)
    raise SystemExit(f"demo: profile {profile_id} stayed {profile.state}: {profile.last_error}")


async def registration(address: str, work: Path) -> None:
    """Register a profile at Kamailio from two clients: one binding, shared."""
    kamailio = _registrar_module()
    step("a Kamailio registrar on loopback (users alice, bob, carol)")
    registrar = kamailio.start_registrar(work / "kamailio")
    print(f"Kamailio on udp/tcp {registrar.host}:{registrar.port}, realm {registrar.domain}")
    try:
        run(
            address,
            "create",
            "--provider-name",
            "Loopback Kamailio",
            "--aor",
            f"sip:bob@{registrar.domain}",
            "--registrar-uri",
            f"sip:{registrar.host}:{registrar.port}",
            "--registrar-username",
            "bob",
            "--registrar-password-from",
            "-",
            stdin="bob-secret\n",
        )
        first = await Registry.connect(address=address)
        second = await Registry.connect(address=address)
        try:
            profile_id = max(p.id for p in await first.list())
            step("two applications enable the profile; it registers once")
            await (await first.get(profile_id)).enable()
            print("client 1 enabled:", await _state(first, profile_id, "registered", "failed"))
            await (await second.get(profile_id)).enable()
            print("client 2 enabled: shares the registration")
            run(address, "show", str(profile_id))
            bindings = registrar.contacts_of("bob")
            print(f"Kamailio's location table for bob: {len(bindings)} binding(s)")
            for binding in bindings:
                print(f"  {binding.contact}  Call-ID {binding.call_id}  expires {binding.expires}")
            step("client 1 lets go: still registered for client 2")
            await (await first.get(profile_id)).disable()
            print("after client 1:", await _state(first, profile_id, "registered"))
            step("client 2 exits without a word: its hold goes with it, so does the binding")
            await second.aclose()
            print("after client 2:", await _state(first, profile_id, "unregistered"))
            for _ in range(100):
                if not registrar.contacts_of("bob"):
                    break
                await asyncio.sleep(0.02)
            print(
                f"Kamailio's location table for bob: {len(registrar.contacts_of('bob'))} binding(s)"
            )
        finally:
            await first.aclose()
            await second.aclose()
    finally:
        registrar.stop()


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
                await registration(bus.address, work)
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
