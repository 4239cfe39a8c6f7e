"""The ``ims`` profile type end to end against a scripted IMS core (tests/interop/ims_core.py).

The daemon (in-process, on the private bus) registers an ims profile whose software USIM
holds the subscriber's K and OPc: the initial REGISTER with the private identity, the
AKA challenge with the P-CSCF's Security-Server list, the answer with RES and
Security-Verify, the 200 with P-Associated-URI and Service-Route, the reg-event
SUBSCRIBE along the Service-Route and the NOTIFYs that follow.
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from busutil import Raw, raw_bus
from dbus_fast import Variant

from interop.ims_core import IMPI, IMPU, OPC, TEL, ImsCore, K
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    scripted_registrar,
    scripted_registrar_factory,
)
from interop.waiting import wait_for, wait_state
from sipprofile.proto import names
from sipprofile.server.sip.headers import parse_name_addr


def ims_profile(core: ImsCore, sqn: int = 0) -> dict[str, Any]:
    return {
        "Type": "ims",
        "Aor": IMPU,
        "PrivateIdentity": IMPI,
        "Registrar": {"Uri": core.registrar.uri},
        "Aka": {"K": K.hex(), "OPc": OPC.hex(), "SQN": Variant("t", sqn)},
    }


async def registered(raw: Raw, core: ImsCore, sqn: int = 0) -> str:
    path = await raw.create(**ims_profile(core, sqn))
    await raw.profile(path, "Enable")
    await wait_state(raw, path, "registered")
    return path


def requests(core: ImsCore, method: str) -> list[Any]:
    return [r for r in core.registrar.received if r.request.method == method]


def events(raw: Raw) -> list[str]:
    return [m.body[1] for m in raw.signals if m.member == "ProfileEvent"]


@pytest.fixture
def core(scripted_registrar: ScriptedRegistrar) -> ImsCore:
    return ImsCore(scripted_registrar)


async def test_registers_with_aka_sec_agree_and_subscribes_to_reg(core: ImsCore, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await registered(raw, core)
        first, second = (r.request for r in requests(core, "REGISTER")[:2])
        initial = first.headers.get("Authorization") or ""
        assert f'username="{IMPI}"' in initial and 'response=""' in initial
        assert first.headers.get("Security-Client") == "digest"
        assert first.headers.get("Require") == "sec-agree"
        assert "path" in (first.headers.get("Supported") or "")
        assert second.headers.get("Security-Verify") == core.security_server
        assert "algorithm=AKAv1-MD5" in (second.headers.get("Authorization") or "")
        assert core.rejected_answers == 0
        props = await raw.get_all(path)
        assert props["RegisteredAors"] == [IMPU, TEL]  # P-Associated-URI, default first
        assert props["ServiceRoute"] == [f"sip:orig@{core.registrar.host}:{core.registrar.port};lr"]
        assert props["NegotiatedSecurity"] == "digest"
        assert props["Expires"] == 600000
        # the USIM's accepted SQN is stored (TS 33.102: never accepted twice)
        await wait_for(lambda: core.sqn == 2)
        keys = await daemon.daemon.registry.usim_keys(1)
        assert keys is not None and keys.sqn == 1
        # reg event: SUBSCRIBE along the Service-Route, then the NOTIFY answered 200
        await wait_for(lambda: requests(core, "SUBSCRIBE") != [])
        [subscribe] = [r.request for r in requests(core, "SUBSCRIBE")]
        assert subscribe.headers.get("Event") == "reg"
        assert subscribe.uri == IMPU
        assert [parse_name_addr(v).uri for v in subscribe.headers.get_all("Route")] == [
            f"sip:orig@{core.registrar.host}:{core.registrar.port};lr"
        ]
        assert subscribe.call_id != first.call_id
        await wait_for(lambda: [r.status for r in core.registrar.responses] == [200])


async def test_a_deactivation_registers_again_once_and_a_second_is_reported(
    core: ImsCore, daemon
) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await registered(raw, core)
        await wait_for(lambda: core.registrar.responses != [])  # subscribed, first NOTIFY
        before = len(requests(core, "REGISTER"))
        core.notify(event="deactivated", state="terminated")
        core.bindings.clear()  # the S-CSCF removed it
        # registered again: a new REGISTER, challenged and answered with AKA afresh
        await wait_for(lambda: len(requests(core, "REGISTER")) >= before + 2)
        await wait_for(lambda: len(core.bindings) == 1)
        await wait_state(raw, path, "registered")
        await wait_for(lambda: len(requests(core, "SUBSCRIBE")) >= 2)  # subscribed anew
        await wait_for(lambda: len(core.registrar.responses) >= 3)
        raw.take_signals()
        core.notify(event="deactivated", state="terminated")
        props = await wait_state(raw, path, "failed")
        assert props["LastError"][0] == names.Error.DEREGISTERED_BY_NETWORK
        assert props["Holders"] == 1
        await wait_for(lambda: "deregistered" in events(raw))
        count = len(requests(core, "REGISTER"))
        await asyncio.sleep(0.5)
        assert len(requests(core, "REGISTER")) == count  # and nothing more is sent


async def test_a_shortened_registration_is_refreshed_early(core: ImsCore, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        await registered(raw, core)
        await wait_for(lambda: core.registrar.responses != [])
        before = len(requests(core, "REGISTER"))
        [contact] = core.bindings
        core.bindings[contact] = 2  # seconds left
        core.notify(event="shortened")
        await wait_for(lambda: len(requests(core, "REGISTER")) > before, timeout=5)


async def test_a_usim_behind_the_network_resynchronises(core: ImsCore, daemon) -> None:
    core.sqn = 10  # the HSS lost track: its vectors are older than what the USIM saw
    async with raw_bus(daemon.address) as raw:
        await registered(raw, core, sqn=5000)
        assert core.resyncs == 1
        keys = await daemon.daemon.registry.usim_keys(1)
        assert keys is not None and keys.sqn == 5001


async def test_wrong_keys_fail_with_authentication_failed(core: ImsCore, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        settings = ims_profile(core)
        settings["Aka"] = {"K": "00" * 16, "OPc": OPC.hex()}  # not the network's subscriber
        path = await raw.create(**settings)
        await raw.profile(path, "Enable")
        props = await wait_state(raw, path, "failed")
        assert props["LastError"][0] == names.Error.AUTHENTICATION_FAILED
        assert "AUTN" in props["LastError"][1]


async def test_disable_unsubscribes_then_deregisters(core: ImsCore, daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await registered(raw, core)
        await wait_for(lambda: core.registrar.responses != [])
        await raw.profile(path, "Disable")
        await wait_state(raw, path, "unregistered")
        kinds = [
            (r.request.method, r.request.headers.get("Expires"))
            for r in core.registrar.received
            if r.request.method in ("REGISTER", "SUBSCRIBE")
        ]
        unsubscribe = kinds.index(("SUBSCRIBE", "0"))
        deregister = kinds.index(("REGISTER", "0"))
        assert unsubscribe < deregister
        assert core.bindings == {}
