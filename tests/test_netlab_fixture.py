"""The netlab fixture builds a real network: UDP datagrams crossing it prove it.

Access point tests will trust that the registrar address answers over whichever
link the routing table (or SO_BINDTODEVICE) picks, that a link going down moves the
traffic to the next one and back, and that a lab leaves nothing behind. Each of
those is checked here with real sockets: a tiny Python client in the lab's
namespace talks to a socket this process binds to the registrar address in the root
namespace, and the source address the root side sees names the link used.
"""

# The fixtures are imported by name and taken as parameters of the same name; ruff
# reads each parameter as redefining the import.
# ruff: noqa: F811

from __future__ import annotations

import errno
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netlab import (  # noqa: F401
    NetLab,
    NetLabError,
    NetLabFactory,
    NetnsUnavailable,
    create_netlab,
    netlab,
    netlab_factory,
    owner_path,
    require_netlab,
)

TESTS = Path(__file__).resolve().parent
TIMEOUT = 10.0

# Sends "ping" to argv[1]:argv[2] (bound to device argv[3] if given) and prints the
# reply, who sent it and the local address it was sent from.
CLIENT = """
import socket, sys
host, port, device = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    s.settimeout(5)
    s.connect((host, port))  # picks the source address, as sendto would
    s.send(b"ping")
    data, peer = s.recvfrom(64)
    print(data.decode(), peer[0], s.getsockname()[0])
"""

# Prints "ok" if a UDP socket can bind to argv[1], else the errno.
BIND = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    try:
        s.bind((sys.argv[1], 0))
    except OSError as error:
        print(error.errno)
    else:
        print("ok")
"""


def exchange(lab: NetLab, device: str = "") -> str:
    """Ping the registrar address from the namespace; the source address seen here.

    The reply's path is checked too: the client must get "pong" from the registrar
    address, sent back to the very address the request came from.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind((lab.registrar_address, 0))
        server.settimeout(TIMEOUT)
        port = server.getsockname()[1]
        cmd = [sys.executable, "-c", CLIENT, lab.registrar_address, str(port), device]
        client = subprocess.Popen(
            lab.exec_command(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            try:
                data, peer = server.recvfrom(64)
            except TimeoutError:
                client.kill()
                _, err = client.communicate()
                pytest.fail(f"nothing reached {lab.registrar_address}; client said: {err}")
            assert data == b"ping"
            server.sendto(b"pong", peer)
            out, err = client.communicate(timeout=TIMEOUT)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
    assert client.returncode == 0, err
    assert out.split() == ["pong", lab.registrar_address, peer[0]]
    return str(peer[0])


def can_bind(lab: NetLab, address: str) -> str:
    """The text "ok" if ``address`` can be bound in the namespace, else the errno."""
    return lab.run(sys.executable, "-c", BIND, address).strip()


def namespaces() -> set[str]:
    text = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
    return {entry["name"] for entry in json.loads(text or "[]")}


def root_links() -> set[str]:
    text = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    return {entry["ifname"] for entry in json.loads(text)}


def pids_in(namespace: str) -> list[str]:
    cmd = ["ip", "netns", "pids", namespace]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()


def lab_routes(lab: NetLab) -> set[tuple[str, str, str, int | None]]:
    """(dst, gateway, dev, metric) of every route in the namespace's main table."""
    return {(r["dst"], r.get("gateway", ""), r["dev"], r.get("metric")) for r in lab.routes()}


def static_routes(lab: NetLab, *, default: bool = True) -> set[tuple[str, str, str, int]]:
    """The routes the lab promises through every link that is up and addressed."""
    wanted = set()
    for link in lab.links:
        wanted.add((lab.registrar_address, link.root_address, link.client_name, link.metric))
        if default:
            wanted.add(("default", link.root_address, link.client_name, link.metric))
    return wanted


# ----- topology -----


def test_topology_is_as_documented(netlab: NetLab) -> None:
    base = netlab.network.removesuffix(".0.0/16")
    assert netlab.network.endswith(".0.0/16")
    assert netlab.registrar_address == f"{base}.200.1"
    assert netlab.namespace.startswith("spl-")
    for k, link in enumerate(netlab.links):
        assert (link.index, link.client_name, link.metric) == (k, f"wan{k}", 100 * (k + 1))
        assert (link.client_address, link.root_address) == (f"{base}.{k}.2", f"{base}.{k}.1")
        assert link.prefix == 24
        assert link.network == f"{base}.{k}.0/24"
        assert len(link.root_name) <= 15
        assert link.root_name in root_links()
    assert len(netlab.links) == 2
    assert static_routes(netlab) <= lab_routes(netlab)
    # The registrar address is a local address of this (the root) namespace.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((netlab.registrar_address, 0))
    assert "UP" in json.loads(netlab.run("ip", "-j", "link", "show", "dev", "lo"))[0]["flags"]


def test_factory_options(netlab_factory: NetLabFactory) -> None:
    lab = netlab_factory(links=3, default_routes=False)
    assert [link.client_name for link in lab.links] == ["wan0", "wan1", "wan2"]
    routes = lab_routes(lab)
    assert static_routes(lab, default=False) <= routes
    assert not any(dst == "default" for dst, *_ in routes)
    assert exchange(lab, "wan2") == lab.links[2].client_address


def test_run_raises_with_stderr(netlab: NetLab) -> None:
    with pytest.raises(NetLabError, match="does not exist"):
        netlab.run("ip", "link", "show", "dev", "nosuchlink")


def test_exec_command_runs_in_the_namespace(netlab: NetLab) -> None:
    out = subprocess.run(
        netlab.exec_command(["ip", "-j", "link", "show"]),
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    assert {entry["ifname"] for entry in json.loads(out)} == {"lo", "wan0", "wan1"}


# ----- traffic -----


def test_registrar_address_answers_over_the_preferred_link(netlab: NetLab) -> None:
    assert exchange(netlab) == netlab.links[0].client_address


def test_bound_to_a_device_traffic_takes_that_link(netlab: NetLab) -> None:
    assert exchange(netlab, "wan1") == netlab.links[1].client_address


def test_link_down_moves_traffic_to_the_next_link_and_back(netlab: NetLab) -> None:
    netlab.set_link(0, False)
    routes = lab_routes(netlab)
    assert not any(dev == "wan0" for _, _, dev, _ in routes)
    assert exchange(netlab) == netlab.links[1].client_address

    netlab.set_link(0, True)
    assert static_routes(netlab) <= lab_routes(netlab)
    assert exchange(netlab) == netlab.links[0].client_address


def test_both_links_down_and_up_again(netlab: NetLab) -> None:
    netlab.set_link(0, False)
    netlab.set_link(1, False)
    assert not any(dst == netlab.registrar_address for dst, *_ in lab_routes(netlab))
    netlab.set_link(1, True)
    assert exchange(netlab) == netlab.links[1].client_address
    netlab.set_link(0, True)
    assert exchange(netlab) == netlab.links[0].client_address


def test_removed_address_cannot_be_bound_until_added_back(netlab: NetLab) -> None:
    address = netlab.links[1].client_address
    assert can_bind(netlab, address) == "ok"

    netlab.remove_address(1)
    assert can_bind(netlab, address) == str(errno.EADDRNOTAVAIL)
    assert not any(dev == "wan1" for _, _, dev, _ in lab_routes(netlab))
    assert exchange(netlab) == netlab.links[0].client_address  # the other link is unharmed
    netlab.remove_address(1)  # already gone: nothing to do

    netlab.add_address(1)
    assert can_bind(netlab, address) == "ok"
    assert static_routes(netlab) <= lab_routes(netlab)
    assert exchange(netlab, "wan1") == address
    netlab.add_address(1)  # already there: nothing to do


def test_address_added_while_down_gets_its_routes_on_link_up(netlab: NetLab) -> None:
    netlab.remove_address(0)
    netlab.set_link(0, False)
    netlab.add_address(0)
    assert not any(dev == "wan0" for _, _, dev, _ in lab_routes(netlab))
    netlab.set_link(0, True)
    assert static_routes(netlab) <= lab_routes(netlab)
    assert exchange(netlab) == netlab.links[0].client_address


# ----- clean-up -----


def assert_gone(namespace: str, links: list[str], tag: str) -> None:
    assert namespace not in namespaces()
    assert not set(links) & root_links()
    assert not owner_path(tag).exists()


def test_close_leaves_nothing_behind(netlab_factory: NetLabFactory) -> None:
    lab = netlab_factory()
    links = [link.root_name for link in lab.links]
    assert lab.namespace in namespaces()
    assert owner_path(lab.tag).exists()

    lab.close()
    assert lab.closed
    assert_gone(lab.namespace, links, lab.tag)
    lab.close()  # idempotent


def test_close_kills_what_runs_in_the_namespace(netlab_factory: NetLabFactory) -> None:
    lab = netlab_factory()
    command = lab.exec_command([sys.executable, "-c", "input()"])
    with subprocess.Popen(command, stdin=subprocess.PIPE) as sleeper:
        try:
            # Popen returns once ip runs, maybe before it has entered the namespace.
            deadline = time.monotonic() + TIMEOUT
            while str(sleeper.pid) not in pids_in(lab.namespace):
                assert time.monotonic() < deadline, "the sleeper never entered the namespace"
                time.sleep(0.01)
            lab.close()
            assert sleeper.wait(timeout=TIMEOUT) == -signal.SIGKILL
        finally:
            if sleeper.poll() is None:
                sleeper.kill()


def test_unreferenced_lab_is_removed_by_its_finalizer() -> None:
    require_netlab()
    try:
        lab = create_netlab(links=1)
    except NetnsUnavailable as error:
        pytest.skip(str(error))
    namespace, links, tag = lab.namespace, [lab.links[0].root_name], lab.tag
    del lab
    gc.collect()
    assert_gone(namespace, links, tag)


def lab_child(code: str) -> subprocess.Popen[str]:
    """A Python process that builds a one-link lab, prints its names, then runs ``code``."""
    prelude = "import os, signal, sys, netlab\nlab = netlab.create_netlab(links=1)\n"
    prelude += "print(lab.namespace, lab.links[0].root_name, lab.network, flush=True)\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + code],
        cwd=TESTS,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def read_line(process: subprocess.Popen[str]) -> list[str]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    assert ready, "the child did not build its lab in time"
    fields = process.stdout.readline().split()
    assert len(fields) == 3, f"the child failed (exit {process.wait(timeout=TIMEOUT)})"
    return fields


def test_leftovers_of_a_killed_run_are_swept(netlab_factory: NetLabFactory) -> None:
    netlab_factory(links=1)  # skips here, not in the child, where labs cannot be built
    child = lab_child("os.kill(os.getpid(), signal.SIGKILL)\n")
    namespace, link, _ = read_line(child)
    child.communicate(timeout=TIMEOUT)
    assert child.returncode == -signal.SIGKILL
    tag = namespace.removeprefix("spl-")
    assert namespace in namespaces()
    assert link in root_links()

    netlab_factory(links=1)
    assert_gone(namespace, [link], tag)


def test_live_labs_of_other_processes_are_kept(netlab_factory: NetLabFactory) -> None:
    netlab_factory(links=1)  # skips here, not in the child, where labs cannot be built
    child = lab_child("sys.stdin.read()\n")  # exits without close(): atexit cleans up
    try:
        namespace, link, network = read_line(child)
        tag = namespace.removeprefix("spl-")

        lab = netlab_factory(links=1)
        assert namespace in namespaces()
        assert link in root_links()
        assert owner_path(tag).exists()
        assert lab.network != network

        child.communicate(timeout=TIMEOUT)  # closes its stdin: it exits
        assert child.returncode == 0
        assert_gone(namespace, [link], tag)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
