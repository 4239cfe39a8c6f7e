"""A no-op D-Bus method served by dbus-fast's ServiceInterface, in its own process.

The floor for round-trip benchmarks: what any Python service on the same bus pays
for a method that does nothing. Run as ``python -m bench.noop_service ADDRESS``.
"""

from __future__ import annotations

import asyncio
import sys

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

NAME = "org.sipprofile.BenchFloor"
PATH = "/org/sipprofile/BenchFloor"
INTERFACE = "org.sipprofile.BenchFloor"


class Floor(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(INTERFACE)

    @method()
    def Noop(self):  # type: ignore[no-untyped-def]  # noqa: ANN201 - dbus-fast reads the annotations
        pass


async def main(address: str) -> None:
    bus = await MessageBus(bus_address=address).connect()
    bus.export(PATH, Floor())
    await bus.request_name(NAME)
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
