"""DNS failing under a registration (issue 8, faults).

The registrar is a name (``sip:pool.test``, NAPTR → SRV → A at a dnsmasq on loopback).
With no DNS server answering, the profile is ``retrying`` with ``Error.ResolveFailed``
and a ``ProfileError`` signal, tried again with backoff (shortened here by the
``RetryBaseSeconds`` extension), and registers by itself once DNS answers again. A
registration already made does not depend on DNS: its refreshes go over the flow it
has, so DNS going away afterwards costs nothing.
"""

# The fixtures are imported by name and taken as parameters of the same name.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

import pytest
from busutil import raw_bus
from dnsmasq import dnsmasq_available
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    grant,
    scripted_registrar_factory,
)
from interop.test_dns_failover import DOMAIN, errors, pool_records, use_dns  # noqa: F401
from interop.waiting import wait_state

from sipprofile.proto import names
from sipprofile.server.transport.dns_cache import LIFETIME

pytestmark = pytest.mark.skipif(not dnsmasq_available(), reason="dnsmasq is not installed")

#: Seconds of the first retry's backoff (x 50-100 % jitter, doubling after each failure).
RETRY_BASE = 1
#: A grant short enough for two refreshes within the test.
GRANT = 2


async def test_no_dns_is_resolve_failed_then_registers_once_dns_is_back(
    scripted_registrar_factory: Any, use_dns: Any, daemon: Any
) -> None:
    registrar: ScriptedRegistrar = await scripted_registrar_factory()
    dns = use_dns(pool_records("udp", registrar.port, registrar.port))
    dns.stop()  # the name server goes away: queries time out
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(
            Aor=f"sip:alice@{DOMAIN}",
            Registrar={"Uri": f"sip:{DOMAIN}"},
            Extensions={"RetryBaseSeconds": RETRY_BASE},
        )
        await raw.profile(path, "Enable")
        # two unanswered questions (NAPTR, then SRV) and the resolver gives up
        props = await wait_state(raw, path, "retrying", timeout=2 * LIFETIME + 5)
        assert props["LastError"][0] == names.Error.RESOLVE_FAILED
        assert DOMAIN in props["LastError"][1]  # the message names what was looked up
        assert [e[1] for e in errors(raw)] == [names.Error.RESOLVE_FAILED]
        assert registrar.registers == []  # nothing sent anywhere meanwhile

        dns.start()  # back, on the same port
        # the retry under way may still meet the silence once more before this one
        props = await wait_state(raw, path, "registered", timeout=2 * LIFETIME + 4 * RETRY_BASE + 5)
        assert tuple(props["LastError"]) == ("", "")
        await raw.profile(path, "Disable")


async def test_a_registration_made_outlives_dns_going_away(
    scripted_registrar_factory: Any, use_dns: Any, daemon: Any
) -> None:
    registrar: ScriptedRegistrar = await scripted_registrar_factory()
    registrar.default = grant(GRANT)
    dns = use_dns(pool_records("udp", registrar.port, registrar.port))
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor=f"sip:alice@{DOMAIN}", Registrar={"Uri": f"sip:{DOMAIN}"})
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        dns.stop()
        # two refreshes (each at 75-90 % of the grant) over the flow already open
        await registrar.wait_requests(3, timeout=3 * GRANT)
        props = await raw.get_all(path)
        assert props["State"] == "registered"
        assert tuple(props["LastError"]) == ("", "")
        assert errors(raw) == []
        await raw.profile(path, "Disable")
