"""The measures ``bench.scale`` shares, and its peer: Kamailio's ``uac`` at scale.

Split from ``bench/scale.py`` for size: reading ``/proc`` and the registrar's
counters, and running ``bench_uac.sh`` with KEEP=1 to time the peer's refreshes over
the same window as ours (see the docstring of ``bench.scale``, point 3).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Final

from .registrations import (
    bench_peer as uac_startup,
)
from .registrations import (
    process_tree,
    summary_fields,
    summary_number,
    tree_sched_cpu_s,
    udp_rcvbuf_errors,
    udp_socket_drops,
)

HERE: Final = Path(__file__).resolve().parent
STOP_SCRIPT: Final = HERE / "kamailio" / "stop_instance.sh"
MIB: Final = 1024 * 1024
#: Registrar statistics: the location table, REGISTERs in, challenges and 200s out.
STATS: Final = ("location_contacts", "rcv_requests_register", "401_replies", "200_replies")
#: How often the location table is looked at during the refresh window.
WINDOW_POLL_S: Final = 5.0


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/PID/status (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


def parse_stats(text: str) -> dict[str, int]:
    """``group:name = value`` lines of ``stats.get_statistics``, by name."""
    stats: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" = ")
        if value.strip().lstrip("-").isdigit():
            stats[name.split(":", 1)[-1].strip()] = int(value)
    return stats


def registrar_counts(registrar: Any) -> dict[str, int]:
    return parse_stats(registrar.rpc("stats.get_statistics", *STATS))


def tree_udp_drops(pid: int) -> dict[str, int]:
    """Drop counters of the UDP sockets a process and its children hold, by port."""
    drops: dict[str, int] = {}
    for member in process_tree(pid):
        try:
            drops |= udp_socket_drops(member)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return drops


def drops_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {port: count - before.get(port, 0) for port, count in after.items()}


def per_n_bytes(kib: float, n: int) -> float:
    return kib * 1024 / max(n, 1)


# ------------------------------------------------------------------ ours


def kamcmd_stats(ctl: Path, *names: str) -> dict[str, int]:
    done = subprocess.run(
        ["kamcmd", "-s", f"unix:{ctl}", "stats.get_statistics", *names],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return parse_stats(done.stdout)


def stop_peer(root: Path) -> None:
    env = os.environ | {"KAM_RUN_ROOT": str(root)}
    for name in ("bench-uac", "bench-reg"):
        subprocess.run(
            [str(STOP_SCRIPT), name], env=env, capture_output=True, timeout=30, check=False
        )


def run_peer(root: Path, n: int, expires: int) -> dict[str, Any]:
    """``bench_uac.sh N`` with KEEP=1: both instances stay up; its SUMMARY, parsed."""
    env = os.environ | {"KAM_RUN_ROOT": str(root), "KEEP": "1", "EXPIRES": str(expires)}
    peer = uac_startup(n, env)
    summary = peer["summary"]
    fields = summary_fields(summary)
    drops = {k: int(v) for k, v in re.findall(r"(registrar_sock|uac_sock)=(\d+)", summary)}
    keys = ("uac_rss_sum", "uac_pss", "uac_shm_max_used")
    rss, pss, shm = (summary_number(fields[key]) for key in keys)
    return peer | {
        "registrar_udp_socket_drops": drops.get("registrar_sock", -1),
        "uac_udp_socket_drops": drops.get("uac_sock", -1),
        "udp_socket_drops_total": sum(drops.values()),
        "uac_rss_sum_mib": rss,
        "uac_pss_mib": pss,
        "uac_shm_max_used_mib": shm,
        "uac_rss_sum_bytes_per_registration": rss * MIB / max(n, 1),
        "uac_pss_bytes_per_registration": pss * MIB / max(n, 1),
        "uac_shm_max_used_bytes_per_registration": shm * MIB / max(n, 1),
    }


async def peer_refresh(root: Path, window_s: float) -> dict[str, Any]:
    """CPU of the running ``uac`` instance, and its registrar's traffic, over the window."""
    uac_pid = int((root / "bench-uac" / "kamailio.pid").read_text())
    reg_pid = int((root / "bench-reg" / "kamailio.pid").read_text())
    ctl = root / "bench-reg" / "kamailio_ctl"
    uac_pids, reg_pids = process_tree(uac_pid), process_tree(reg_pid)
    stats0 = kamcmd_stats(ctl, *STATS)
    rcvbuf0 = udp_rcvbuf_errors()
    uac_drops0, reg_drops0 = tree_udp_drops(uac_pid), tree_udp_drops(reg_pid)
    reg_cpu0 = tree_sched_cpu_s(reg_pids)
    t0 = time.perf_counter()
    cpu0 = tree_sched_cpu_s(uac_pids)
    lowest = stats0.get("location_contacts", -1)
    end = t0 + window_s
    while (now := time.perf_counter()) < end:
        await asyncio.sleep(min(WINDOW_POLL_S, end - now))
        if time.perf_counter() < end - 0.5:
            lowest = min(
                lowest, kamcmd_stats(ctl, "location_contacts").get("location_contacts", -1)
            )
    cpu1 = tree_sched_cpu_s(uac_pids)
    took = time.perf_counter() - t0
    reg_cpu1 = tree_sched_cpu_s(reg_pids)
    stats1 = kamcmd_stats(ctl, *STATS)
    delta = {name: stats1.get(name, 0) - stats0.get(name, 0) for name in STATS[1:]}
    cpu = cpu1 - cpu0
    refreshes = delta["200_replies"]
    return {
        "window_s": took,
        "uac_processes": len(uac_pids),
        "cpu_sched_s": cpu,
        "cpu_pct_of_one_core": 100 * cpu / took,
        "registrar_register_requests": delta["rcv_requests_register"],
        "registrar_401_replies": delta["401_replies"],
        "registrar_200_replies": refreshes,
        "refreshes_per_s": refreshes / took,
        "register_requests_per_s": delta["rcv_requests_register"] / took,
        "cpu_per_refresh_s": cpu / refreshes if refreshes else None,
        "location_contacts_lowest": min(lowest, stats1.get("location_contacts", -1)),
        "location_contacts_at_end": stats1.get("location_contacts", -1),
        "registrar_cpu_sched_s": reg_cpu1 - reg_cpu0,
        "udp_rcvbuf_errors": udp_rcvbuf_errors() - rcvbuf0,
        "uac_udp_socket_drops": drops_delta(uac_drops0, tree_udp_drops(uac_pid)),
        "registrar_udp_socket_drops": drops_delta(reg_drops0, tree_udp_drops(reg_pid)),
    }


async def bench_peer(work: Path, n: int, window_s: float, expires: int) -> dict[str, Any]:
    root = work / "kamailio-run"
    root.mkdir()
    try:
        startup = run_peer(root, n, expires)
        print(
            f"peer: {startup['registered']}/{n} in {startup['wall_activate_to_all_s']:.2f} s "
            f"after activation; refresh window: {window_s:g} s ...",
            flush=True,
        )
        refresh = await peer_refresh(root, window_s)
    finally:
        stop_peer(root)
    return {
        "expires_s": expires,
        "refreshes_on_its_own": "yes, reg_timer_interval + 3 s before the granted expiry",
        "default_expires_s": "the uacreg row's expires column (bench_uac.sh EXPIRES, 3600)",
        "startup": startup,
        "refresh": refresh,
    }


# ------------------------------------------------------------------ report
