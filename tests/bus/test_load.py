"""The daemon's bus connection under bursts: big replies and many signals at once."""

from __future__ import annotations

import asyncio

from busutil import Raw, raw_bus
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from sipprofile.proto import names


async def test_big_replies_interleaved_with_signals_keep_the_connection(daemon) -> None:
    """A large reply fills the socket towards dbus-daemon; messages sent right after
    it must wait for the socket, not kill the connection (dbus-fast's writer treats
    EAGAIN on a fresh send as fatal unless the daemon guards against it)."""
    registry = daemon.daemon.registry
    for n in range(3000):
        await registry.create(
            {"Aor": ("s", f"sip:user{n}@example.com"), "ProviderName": ("s", "x" * 100)}
        )
    reader = await MessageBus(bus_address=daemon.address).connect()
    try:
        async with raw_bus(daemon.address) as raw:

            async def big() -> int:
                reply = await reader.call(
                    Message(
                        destination=names.BUS_NAME,
                        path=names.REGISTRY_PATH,
                        interface=names.OBJECT_MANAGER_INTERFACE,
                        member="GetManagedObjects",
                    )
                )
                assert reply is not None
                return len(reply.body[0])

            async def small(raw: Raw, n: int) -> str:
                return await raw.create(Aor=f"sip:burst{n}@example.com")

            results = await asyncio.gather(
                *(big() for _ in range(4)), *(small(raw, n) for n in range(400))
            )
            assert all(isinstance(r, int) and r >= 3000 for r in results[:4])
            assert len(set(results[4:])) == 400
        assert daemon.daemon.bus is not None and daemon.daemon.bus.connected
    finally:
        reader.disconnect()
