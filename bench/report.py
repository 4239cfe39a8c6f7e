"""``python -m bench.report``: bench/RESULTS.md from the results of ``make bench``.

Each benchmark writes its numbers to ``bench/results/*.json`` (not kept in git: they
belong to one machine and one run); this turns those of issue 7 and the registry's
into one table, ours next to the peer's from the same run where a peer exists, with
the machine, the date, the commit and the command, so that a reader knows what a
number means and how to measure it again. A result file that is missing (its bench
was not run) is said to be missing, not left out silently.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OUTPUT = HERE / "RESULTS.md"

Row = tuple[str, str, str, str, str]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    kamailio = command_output("kamailio", "-v").splitlines()
    return (
        f"{os.cpu_count()} x {model}, {memory_kib / 1024 / 1024:.1f} GiB, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{kamailio[0].split(' (')[0] if kamailio else 'Kamailio not found'}"
    )


def verdict(met: bool | None) -> str:
    if met is None:
        return "—"
    return "met" if met else "**missed**"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def registrations_rows(data: dict[str, Any] | None) -> list[Row]:
    if data is None:
        return [("CPU per digest registration", "not run", "", "≤ 1.5x the peer", "—")]
    ours, peer, n = data["ours"], data["kamailio_uac"], data["n"]
    ratios = ", ".join(f"{r:.2f}" for r in data["ratios"])
    ratio = data["cpu_per_registration_ratio"]
    return [
        (
            f"CPU per digest-authenticated registration, N = {n} (median of "
            f"{data['rounds']} rounds; ratios {ratios})",
            f"{us(ours['cpu_per_registration_s'])} ({ratio:.2f}x)",
            us(peer["cpu_per_registration_s"]),
            f"≤ {data['target_ratio']:g}x",
            verdict(ratio <= data["target_ratio"] and ours["registered"] == n),
        ),
        (
            f"wall time, first binding to all {n}",
            f"{ours['wall_first_to_all_s']:.2f} s",
            f"{peer['wall_first_to_all_s']:.2f} s",
            "",
            "",
        ),
    ]


def scale_rows(data: dict[str, Any] | None) -> list[Row]:
    if data is None:
        return [("start-up, memory and refresh load at N = 10,000", "not run", "", "", "—")]
    n = data["n"]
    ours = data["sipprofiled"]
    peer = data.get("kamailio_uac") or {}
    start, memory, refresh = ours["startup"], ours["memory"], ours["refresh"]
    peer_start = peer.get("startup") or {}
    peer_refresh = peer.get("refresh") or {}
    window = refresh["window_s"]
    drops = start["udp_socket_drops_total"] + start["udp_rcvbuf_errors"]
    peer_drops = (
        peer_start["udp_socket_drops_total"] + peer_start["udp_rcvbuf_errors"]
        if peer_start
        else None
    )
    return [
        (
            f"{n} always-on profiles: start to all bound at the registrar "
            "(Kamailio: activation to all)",
            f"{start['wall_start_to_all_s']:.2f} s",
            _peer(peer_start, "wall_activate_to_all_s", "{:.2f} s"),
            "< 10 s",
            verdict(start["wall_start_to_all_s"] < 10 and start["registered"] == n),
        ),
        (
            "UDP datagrams dropped meanwhile (both sides' sockets, and RcvbufErrors)",
            str(drops),
            "—" if peer_drops is None else str(peer_drops),
            "0",
            verdict(drops == 0),
        ),
        (
            f"CPU per registration while starting {n}",
            us(start["cpu_per_registration_s"]),
            us(peer_start["cpu_per_registration_s"]) if peer_start else "—",
            "",
            "",
        ),
        (
            f"resident memory per live registration, N = {n}",
            f"{memory['live_bytes_per_registration']:.0f} B",
            _peer(
                peer_start, "uac_pss_bytes_per_registration", "{:.0f} B (all processes' PSS / N)"
            ),
            "≤ 2048 B",
            verdict(bool(memory["live_met"])),
        ),
        (
            f"resident memory per stored, idle profile, N = {n}",
            f"{memory['idle_bytes_per_profile']:.0f} B",
            "—",
            "≤ 512 B",
            verdict(bool(memory["idle_met"])),
        ),
        (
            f"refresh load: {n} registrations at {data['expires_s']} s expiry, CPU over "
            f"{window:.0f} s ({refresh['register_requests_per_s']:.1f} REGISTERs/s)",
            f"{refresh['cpu_pct_of_one_core']:.2f} % of a core",
            _peer(peer_refresh, "cpu_pct_of_one_core", "{:.2f} % of a core"),
            "< 5 %",
            verdict(refresh.get("met")),
        ),
    ]


def _peer(peer: dict[str, Any], key: str, form: str) -> str:
    value = peer.get(key)
    return "—" if value is None else form.format(value)


def fanout_rows(data: dict[str, Any] | None) -> list[Row]:
    if data is None:
        return [("fan-out to 100 clients", "not run", "", "≤ 10 ms", "—")]
    return [
        (
            f"200 OK to `registered` at every one of {data['clients']} clients, p95 "
            f"({data['measured_registrations']} registrations at {data['rate_per_s']:g}/s)",
            f"{data['p95_ms']:.2f} ms (p50 {data['p50_ms']:.2f}, max {data['max_ms']:.1f})",
            "no peer (Kamailio has no D-Bus)",
            f"≤ {data['target_p95_ms']:g} ms",
            verdict(bool(data["met"])),
        )
    ]


def registry_rows(data: dict[str, Any] | None) -> list[Row]:
    if data is None:
        return []
    return [
        (
            "start with 10,000 stored profiles until the bus name is owned",
            f"{data['start_s_median']:.2f} s",
            "—",
            "≤ 0.5 s",
            verdict(data["start_s_median"] <= 0.5),
        ),
        (
            "`GetManagedObjects`, 10,000 profiles",
            f"{data['getmanagedobjects_s_median'] * 1000:.0f} ms",
            "—",
            "≤ 150 ms",
            verdict(data["getmanagedobjects_s_median"] <= 0.150),
        ),
        (
            "`CreateProfile` round trip / a no-op method on the same bus",
            f"{data['create_over_noop_method']:.2f}x",
            f"{data['noop_method_s_median'] * 1e6:.0f} µs (the no-op)",
            "≤ 2x",
            verdict(data["create_over_noop_method"] <= 2.0),
        ),
    ]


def build(data: dict[str, Any] | None, key: str = "build") -> str:
    if data is None:
        return ""
    return str(data.get(key) or data.get("ours_build") or "")


def render(command: str) -> str:
    registrations = load("registrations")
    scale = load("scale")
    fanout = load("fanout")
    registry = load("registry")
    commit = command_output("git", "-C", str(HERE), "describe", "--always", "--dirty")
    builds = {b for b in (build(registrations), build(scale), build(fanout)) if b}
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (`python -m bench.report` from the JSON files in",
        "`bench/results/`), "
        f"{datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"commit {commit or 'unknown'}.",
        f"Machine: {machine()}.",
        f"Daemon build: {', '.join(sorted(builds)) or 'unknown'}. The peer is Kamailio's "
        "`uac` module (remote registrations, `bench/kamailio/bench_uac.sh`), measured in "
        "the same run against the same registrar configuration. How each number is "
        "measured: the docstring of its module (`bench/registrations.py`, "
        "`bench/scale.py`, `bench/fanout.py`, `bench/run.py`) and the README's "
        '"Benchmarks".',
        "",
        "| measure | sipprofiled | Kamailio `uac` | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in (
        registrations_rows(registrations)
        + scale_rows(scale)
        + fanout_rows(fanout)
        + registry_rows(registry)
    ):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    command = os.environ.get("BENCH_COMMAND", "make bench")
    OUTPUT.write_text(render(command))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
