"""Fixtures for the monitor's tests: a veth pair of our own and a running monitor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from network.kernel import Veth, ip_sync, require_ip, unique
from sipprofile.server.network.monitor import NetworkMonitor


@pytest.fixture
def veth() -> Iterator[Veth]:
    require_ip()
    base = unique()
    pair = Veth(base + "a", base + "b")
    ip_sync("link", "add", pair.a, "type", "veth", "peer", "name", pair.b)
    try:
        yield pair
    finally:
        # Deleting one end deletes both; a test may have renamed either.
        for name in (pair.a, pair.b):
            ip_sync("link", "del", name, check=False)


@pytest.fixture
async def monitor() -> AsyncIterator[NetworkMonitor]:
    require_ip()
    instance = await NetworkMonitor.open()
    try:
        yield instance
    finally:
        instance.close()
