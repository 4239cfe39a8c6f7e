"""Run a NetworkMonitor and print what it answers, one JSON line per notification.

Started by the default-route tests inside a network namespace of their own
(``ip netns exec NS python netns_monitor.py``), where they may add and remove default
routes without touching the machine's. A line is printed once the first dump is in,
then after each notification; the script ends when its standard input is closed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sipprofile.server.network.monitor import NetworkMonitor


def report(monitor: NetworkMonitor) -> None:
    state = monitor.state
    line = {
        "routes": [[r.family, r.interface, r.gateway] for r in state.default_routes()],
        "interfaces": {view.name: list(view.addresses) for view in state.interfaces()},
    }
    print(json.dumps(line), flush=True)


async def main() -> None:
    monitor = await NetworkMonitor.open()
    report(monitor)
    monitor.subscribe(lambda: report(monitor))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    monitor.close()


if __name__ == "__main__":
    asyncio.run(main())
