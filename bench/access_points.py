"""``python -m bench.access_points [--flaps N]``: how fast registrations follow the network.

Issue 4's target: when an access point's interface comes back up, the profile is
registered again within 2 s. Measured on a real network: the test suite's lab
(``tests/netlab.py``: a network namespace with two veth uplinks ``wan0`` and ``wan1``)
with sipprofiled running inside it and a Kamailio registrar outside, reachable over
either link. Needs root (network namespaces), like the tests that use the lab.

Three measures, each over ``--flaps`` rounds (default 20), from the ``ip link``
command returning to the state shown on the bus (``Properties.GetAll`` polled every
5 ms, so the figures carry up to 5 ms of polling):

- *down*: ``wan1`` (the profile's only access point) set down until ``State`` is
  ``waiting-for-network``;
- *back*: ``wan1`` set up again until ``State`` is ``registered`` through it (the
  target: at most 2 s);
- *switch*: a profile with ``AccessPoint "wan0,wan1"`` registered on ``wan1`` while
  ``wan0`` was down; ``wan0`` set up until the ``Flow`` shows ``wan0`` registered
  (make-before-break).

Results go to bench/results/access_points.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .harness import load_test_module, private_bus, workdir

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_BACK_S = 2.0
POLL_S = 0.005


async def wait_props(raw: Any, path: str, check: Any, timeout: float = 30.0) -> float:
    """Seconds until ``check(props)`` holds (polled every ``POLL_S``)."""
    started = time.perf_counter()
    while True:
        props = await raw.get_all(path)
        if check(props):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"state {props['State']} via {props['Flow']}")
        await asyncio.sleep(POLL_S)


def through(host: str) -> Any:
    def check(props: dict[str, Any]) -> bool:
        return props["State"] == "registered" and str(props["Flow"][1]).startswith(host + ":")

    return check


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": statistics.median(values),
        "max_s": max(values),
        "min_s": min(values),
    }


async def measure(work: Path, flaps: int) -> dict[str, Any]:
    kamailio = load_test_module("kamailio/registrar")  # puts tests/ on sys.path
    netlab = load_test_module("netlab")
    busutil = load_test_module("busutil")
    privatebus = load_test_module("privatebus")
    lab = netlab.create_netlab(links=2)
    registrar = kamailio.start_registrar(work / "registrar", host=lab.registrar_address)
    wan0, wan1 = lab.links
    try:
        async with private_bus(work) as bus:
            command = privatebus.daemon_command(bus.address, work / "profiles.db")
            log = (work / "daemon.log").open("wb")  # its INFO lines: one per link change
            daemon = subprocess.Popen(lab.exec_command(command), stdout=log, stderr=log)
            try:
                conftest_wait = load_test_module("conftest").wait_for_name
                await conftest_wait(bus.address)
                async with busutil.raw_bus(bus.address) as raw:
                    server = {"Username": "alice", "Password": "alice-secret"}
                    uri = f"sip:{registrar.host}:{registrar.port}"
                    single = await raw.create(
                        Aor=f"sip:alice@{registrar.domain}",
                        Registrar={"Uri": uri, **server},
                        AccessPoint="wan1",
                    )
                    await raw.profile(single, "Enable")
                    await wait_props(raw, single, through(wan1.client_address))
                    down: list[float] = []
                    back: list[float] = []
                    for _ in range(flaps):
                        lab.set_link(1, up=False)
                        down.append(
                            await wait_props(
                                raw, single, lambda p: p["State"] == "waiting-for-network"
                            )
                        )
                        lab.set_link(1, up=True)
                        back.append(await wait_props(raw, single, through(wan1.client_address)))
                    await raw.profile(single, "Disable")
                    await wait_props(raw, single, lambda p: p["State"] == "unregistered")
                    preferring = await raw.create(
                        Aor=f"sip:bob@{registrar.domain}",
                        Registrar={"Uri": uri, "Username": "bob", "Password": "bob-secret"},
                        AccessPoint="wan0,wan1",
                    )
                    await raw.profile(preferring, "Enable")
                    switch: list[float] = []
                    for _ in range(flaps):
                        lab.set_link(0, up=False)
                        await wait_props(raw, preferring, through(wan1.client_address))
                        lab.set_link(0, up=True)
                        switch.append(
                            await wait_props(raw, preferring, through(wan0.client_address))
                        )
            finally:
                daemon.terminate()
                daemon.wait(timeout=15)
                log.close()
    finally:
        registrar.stop()
        lab.close()
    return {
        "flaps": flaps,
        "down_to_waiting": summary(down),
        "up_to_registered": summary(back),
        "preferred_up_to_registered_on_it": summary(switch),
        "target_up_to_registered_s": TARGET_BACK_S,
        "met": max(back) <= TARGET_BACK_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flaps", type=int, default=20)
    args = parser.parse_args()
    with workdir() as tmp:
        results = asyncio.run(measure(Path(tmp), args.flaps))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "access_points.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"access points, {results['flaps']} flaps each (seconds: median / max):")
    for key, label in (
        ("down_to_waiting", "wan1 down -> waiting-for-network"),
        ("up_to_registered", "wan1 up -> registered through it"),
        ("preferred_up_to_registered_on_it", "wan0 (preferred) up -> registered through it"),
    ):
        figures = results[key]
        print(f"  {label:48} {figures['median_s']:.3f} / {figures['max_s']:.3f}")
    verdict = "ok" if results["met"] else "MISSED"
    print(f"registered again within {TARGET_BACK_S:g} s of the link coming up: {verdict}")
    return 0 if results["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
