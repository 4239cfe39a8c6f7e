"""Access points on a real network: sipprofiled in a network namespace, Kamailio outside.

The daemon runs as a subprocess inside the lab's client namespace (``netlab``), where
it sees only ``lo`` and the veth links ``wan0``, ``wan1``; Kamailio listens on the
lab's registrar address in the root namespace, reachable over either link. The tests
flap the links and take addresses away with iproute2, and check what the daemon
shows on the bus and what the registrar holds. Waits are generous: these prove
behaviour, not timing (the recovery time is printed for the log; bench/ owns timing).
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from busutil import Raw, raw_bus
from conftest import DaemonProcess, daemon_command, wait_for_name
from netlab import NetLab, netlab, netlab_factory  # noqa: F401

from interop.scripted import ScriptedRegistrar, bindings_behind_nat, contacts_of, requested_expiry
from interop.waiting import wait_for, wait_state
from sipprofile.proto import names

pytestmark = pytest.mark.slow


@pytest.fixture
async def lab_daemon(
    netlab: NetLab, dbus_address: str, tmp_path: Path
) -> AsyncIterator[DaemonProcess]:
    """sipprofiled inside the lab's client namespace, on the private bus."""
    db_path = tmp_path / "lab-state" / "profiles.db"
    log = (tmp_path / "daemon.log").open("wb")
    command = netlab.exec_command(daemon_command(dbus_address, db_path, "--log-level", "debug"))
    process = await asyncio.create_subprocess_exec(
        *command, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        await wait_for_name(dbus_address)
        yield DaemonProcess(process, db_path, dbus_address)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


@pytest.fixture
def lab_registrar(netlab: NetLab, kamailio_factory: Any) -> Any:
    return kamailio_factory(host=netlab.registrar_address)


def settings(registrar: Any, access_point: str, **more: Any) -> dict[str, Any]:
    return {
        "Aor": f"sip:alice@{registrar.domain}",
        "Registrar": {
            "Uri": f"sip:{registrar.host}:{registrar.port}",
            "Username": "alice",
            "Password": "alice-secret",
        },
        "AccessPoint": access_point,
        **more,
    }


async def enabled(raw: Raw, registrar: Any, access_point: str) -> str:
    """A profile created with ``access_point``, enabled, once registered: its path."""
    path = await raw.create(**settings(registrar, access_point))
    await raw.profile(path, "Enable")
    await wait_state(raw, path, "registered", timeout=15)
    return path


def events(raw: Raw) -> list[str]:
    return [m.body[1] for m in raw.signals if m.member == "ProfileEvent"]


def errors(raw: Raw) -> list[str]:
    return [m.body[1] for m in raw.signals if m.member == "ProfileError"]


def local_host(props: dict[str, Any]) -> str:
    return str(props["Flow"][1]).rsplit(":", 1)[0]


async def wait_flow_from(raw: Raw, path: str, host: str, timeout: float = 15.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        props = await raw.get_all(path)
        if props["State"] == "registered" and local_host(props) == host:
            return props
        assert loop.time() < deadline, f"still {props['State']} via {props['Flow']}"
        await asyncio.sleep(0.02)


def binding_hosts(registrar: Any) -> list[str]:
    return [b.contact.split("@", 1)[1].split(";")[0].rsplit(":", 1)[0] for b in
            registrar.contacts_of("alice")]  # fmt: skip


async def test_registers_through_the_named_interface(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess
) -> None:
    wan1 = netlab.links[1]
    async with raw_bus(lab_daemon.address) as raw:
        path = await raw.create(**settings(lab_registrar, "wan1"))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "registered", timeout=15)
        # wan0 has the better routes; the profile asked for wan1, so it goes through wan1
        assert local_host(props) == wan1.client_address
        assert props["Flow"][0] == "udp"
        assert wan1.client_address in props["RegisteredContact"]
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan1.client_address])
        [binding] = lab_registrar.contacts_of("alice")
        assert binding.received is None or wan1.client_address in binding.received


async def test_interface_down_waits_for_the_network_and_registers_when_back(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess
) -> None:
    wan1 = netlab.links[1]
    async with raw_bus(lab_daemon.address) as raw:
        path = await enabled(raw, lab_registrar, "wan1")
        netlab.set_link(1, up=False)
        props = await wait_state(raw, path, "waiting-for-network")
        assert props["LastError"][0] == names.Error.NETWORK_UNAVAILABLE
        assert "wan1" in props["LastError"][1]
        assert props["Holders"] == 1  # the hold survives the outage
        assert tuple(props["Flow"]) == ("", "", "")
        assert props["RegisteredContact"] == ""
        await wait_for(lambda: events(raw)[-1:] == ["deregistered"])
        assert errors(raw)[-1] == names.Error.NETWORK_UNAVAILABLE
        raw.take_signals()
        started = time.monotonic()
        netlab.set_link(1, up=True)
        props = await wait_flow_from(raw, path, wan1.client_address)
        print(f"registered again {time.monotonic() - started:.3f} s after wan1 came up")
        await wait_for(lambda: "registered" in events(raw))
        # the same Call-ID went on, so the registrar holds one binding, not two
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan1.client_address])


async def test_address_gone_waits_and_address_back_registers(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess
) -> None:
    wan0 = netlab.links[0]
    async with raw_bus(lab_daemon.address) as raw:
        path = await enabled(raw, lab_registrar, "wan0")
        netlab.remove_address(0)
        props = await wait_state(raw, path, "waiting-for-network")
        assert props["LastError"][0] == names.Error.NETWORK_UNAVAILABLE
        netlab.add_address(0)
        await wait_flow_from(raw, path, wan0.client_address)
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan0.client_address])


async def test_named_interface_missing_waits_from_the_start(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess
) -> None:
    async with raw_bus(lab_daemon.address) as raw:
        path = await raw.create(**settings(lab_registrar, "wlan9"))
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "waiting-for-network")
        assert props["LastError"][0] == names.Error.NETWORK_UNAVAILABLE
        assert "wlan9" in props["LastError"][1]
        assert "deregistered" not in events(raw)  # it never was registered
        await asyncio.sleep(0.5)
        assert lab_registrar.contacts_of("alice") == []


@pytest.mark.parametrize("outbound", [True, False])
async def test_preferred_interface_coming_up_is_make_before_break(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess, outbound: bool
) -> None:
    wan0, wan1 = netlab.links
    netlab.set_link(0, up=False)
    extensions = {} if outbound else {"Outbound": False}
    async with raw_bus(lab_daemon.address) as raw:
        path = await raw.create(**settings(lab_registrar, "wan0,wan1", Extensions=extensions))
        await raw.profile(path, "Enable")
        await wait_flow_from(raw, path, wan1.client_address)  # the only one up
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan1.client_address])
        raw.take_signals()
        netlab.set_link(0, up=True)
        await wait_flow_from(raw, path, wan0.client_address)
        # Flow shows the new way as soon as the REGISTER goes out on it; the Contact
        # changes with its 200 OK, which ``updated`` announces
        await wait_for(lambda: "updated" in events(raw))
        props = await raw.get_all(path)
        assert wan0.client_address in props["RegisteredContact"]
        assert "deregistered" not in events(raw)  # never unregistered on the way
        assert errors(raw) == []
        # the binding through wan1 is gone: one binding, the new one
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan0.client_address])


async def test_make_before_break_on_the_wire(netlab: NetLab, lab_daemon: DaemonProcess) -> None:
    """The order of requests when wan0 (preferred) comes up while registered on wan1.

    A registrar that keeps bindings and lists them all (as RFC 3261 §10.3 says) sees the
    new binding made through wan0 first, and only then the old one removed: at no
    moment does it hold no binding for the profile.
    """
    wan0, wan1 = netlab.links
    registrar = await ScriptedRegistrar(host=netlab.registrar_address).start()
    bindings, registrar.default = bindings_behind_nat(None)
    netlab.set_link(0, up=False)
    try:
        async with raw_bus(lab_daemon.address) as raw:
            path = await raw.create(
                Aor="sip:alice@example.com",
                Registrar={"Uri": registrar.uri},
                AccessPoint="wan0,wan1",
                Extensions={"Outbound": False},
            )
            await raw.profile(path, "Enable")
            await wait_flow_from(raw, path, wan1.client_address)
            [old] = list(bindings)
            before = len(registrar.registers)
            netlab.set_link(0, up=True)
            await wait_flow_from(raw, path, wan0.client_address)
            await wait_for(lambda: len(bindings) == 1 and old not in bindings)
            moves = registrar.registers[before:]
            make, brk = moves[0], moves[1]
            assert make.source[0] == wan0.client_address  # bound to wan0, sent through it
            [made] = contacts_of(make.request)
            assert wan0.client_address in made.uri
            assert requested_expiry(make.request, made) > 0
            removed = [c for c in contacts_of(brk.request) if c.uri == old]
            assert removed and requested_expiry(brk.request, removed[0]) == 0
            assert make.request.call_id == brk.request.call_id  # one registration, moved
            assert brk.cseq == make.cseq + 1
            await raw.profile(path, "Disable")  # answered while the registrar is still here
            await wait_state(raw, path, "unregistered")
    finally:
        await registrar.close()


async def test_in_use_interface_down_moves_to_the_next_listed(
    netlab: NetLab, lab_registrar: Any, lab_daemon: DaemonProcess
) -> None:
    wan0, wan1 = netlab.links
    async with raw_bus(lab_daemon.address) as raw:
        path = await raw.create(**settings(lab_registrar, "wan0,wan1"))
        await raw.profile(path, "Enable")
        await wait_flow_from(raw, path, wan0.client_address)
        netlab.set_link(0, up=False)
        await wait_flow_from(raw, path, wan1.client_address)
        await wait_for(lambda: binding_hosts(lab_registrar) == [wan1.client_address])
        assert (await raw.get_all(path))["Holders"] == 1


async def test_empty_access_point_follows_the_default_route(
    netlab_factory: Any, dbus_address: str, kamailio_factory: Any, tmp_path: Path
) -> None:
    lab = netlab_factory(links=2, default_routes=True)
    # only default routes lead to the registrar: its own /32 routes go
    for link in lab.links:
        lab.run("ip", "route", "del", f"{lab.registrar_address}/32", "dev", link.client_name)
    registrar = kamailio_factory(host=lab.registrar_address)
    db_path = tmp_path / "lab-state" / "profiles.db"
    command = lab.exec_command(daemon_command(dbus_address, db_path))
    process = await asyncio.create_subprocess_exec(*command)
    try:
        await wait_for_name(dbus_address)
        async with raw_bus(dbus_address) as raw:
            path = await raw.create(**settings(registrar, ""))
            await raw.profile(path, "Enable")
            await wait_flow_from(raw, path, lab.links[0].client_address)
            raw.take_signals()
            lab.set_link(0, up=False)  # the default route through wan0 goes with it
            await wait_flow_from(raw, path, lab.links[1].client_address)
            await wait_for(lambda: "updated" in events(raw))
            await wait_for(lambda: binding_hosts(registrar) == [lab.links[1].client_address])
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
