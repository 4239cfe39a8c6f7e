"""Real links for the monitor's tests: veth pairs and namespaces made with iproute2.

Why veth: the test kernel has no modules, so no dummy links; a veth pair is built in
and gives carrier only while both ends are up, which is exactly the "up but not
running" case the monitor must tell apart. Names are random (``spn`` + 5 hex digits)
so that tests running at the same time on one machine do not meet, and everything is
deleted in a finalizer. Addresses are /32 and /128 from benchmarking and documentation
ranges, so nothing else on the machine routes through them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import find_binary

#: Generous: these are behaviour tests on a shared machine, not timing tests.
WAIT: float = 10.0


@dataclass(frozen=True)
class Veth:
    """Both ends of a pair in the root namespace, created down and without addresses."""

    a: str
    b: str


def require_ip() -> str:
    """The path of ``ip``, or skip: the tests make links, which takes root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates network interfaces")
    ip = find_binary("ip")
    if ip is None:
        pytest.skip("needs iproute2 (ip)")
    return ip


def unique(suffix: str = "") -> str:
    """A fresh short name (interface names are at most 15 bytes)."""
    return f"spn{secrets.token_hex(3)[:5]}{suffix}"


def ip_sync(*args: str, check: bool = True) -> str:
    """Run ``ip`` and wait, blocking the event loop (finalizers, bursts)."""
    done = subprocess.run(
        [find_binary("ip") or "ip", *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


async def ip(*args: str, check: bool = True) -> str:
    """Run ``ip`` while the event loop (and so the monitor) keeps running."""
    process = await asyncio.create_subprocess_exec(
        find_binary("ip") or "ip",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll until ``condition`` holds; fail saying ``what`` was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def operstate(name: str) -> str:
    """What the kernel says of the link's operational state ("up" = carrier)."""
    try:
        return Path(f"/sys/class/net/{name}/operstate").read_text().strip()
    except OSError:
        return "gone"


def ipv6_sysctl(name: str, key: str) -> int | None:
    try:
        return int(Path(f"/proc/sys/net/ipv6/conf/{name}/{key}").read_text())
    except (OSError, ValueError):
        return None
