"""The registrar fails under a registration (issue 8, faults).

Each case ends in the state RFC 3261 and the README promise, with the error a client
can act on: a registrar that stops answering is given up after Timer F (64*T1 = 32 s)
with ``Error.Timeout`` and retried later, never hammered; a TCP connection reset
while a REGISTER is in flight is answered by a new connection and the same request
again; a Kamailio restart that loses its location table is repaired by the next
refresh. Bounded: the longest case is the 32 s of Timer F.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
from typing import Any

import pytest
from busutil import Raw, raw_bus
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    drop,
    scripted_registrar,
    scripted_registrar_factory,
)
from interop.waiting import wait_for, wait_state

from sipprofile.proto import names
from sipprofile.server.sip.message import Request
from sipprofile.server.sip.transaction import T1

AOR = "sip:alice@example.test"


async def enable(raw: Raw, registrar: ScriptedRegistrar) -> str:
    path = await raw.create(Aor=AOR, Registrar={"Uri": registrar.uri})
    await raw.profile(path, "Enable")
    return path


async def test_a_registrar_that_stops_answering_is_given_up_after_timer_f(
    scripted_registrar: ScriptedRegistrar,  # noqa: F811
    daemon: Any,
) -> None:
    registrar = scripted_registrar
    registrar.default = drop
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "retrying", "failed", timeout=64 * T1 + 5)
        assert props["State"] == "retrying"  # a temporary failure: tried again later
        assert props["LastError"][0] == names.Error.TIMEOUT
        sent = registrar.registers
        # Timer E: the same request again at T1, 2T1, 4T1, ... capped at T2, until F
        assert len({r.branch for r in sent}) == 1
        gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
        assert gaps[0] == pytest.approx(T1, abs=0.2)
        assert len(sent) == pytest.approx(11, abs=1)  # 0.5+1+2+4+4*6.x fits 32 s
        errors = [
            s
            for s in raw.signals
            if s.member == "ProfileError" and s.body[1] == names.Error.TIMEOUT
        ]
        assert errors, "no ProfileError signal for the timeout"
        # and then quiet: the retry waits for its backoff, not hammering the registrar
        count = len(sent)
        await asyncio.sleep(2.0)
        assert len(registrar.registers) == count
        await raw.profile(path, "Disable")


async def test_a_tcp_reset_mid_register_reconnects_and_sends_it_again(
    scripted_registrar_factory: Any,  # noqa: F811
    daemon: Any,
) -> None:
    registrar = await scripted_registrar_factory("tcp")
    resets = 0

    def reset_first(request: Request) -> None:
        """No answer to the first REGISTER: the connection is reset under it."""
        nonlocal resets
        resets += 1
        for writer in list(registrar._streams.values()):
            sock = writer.get_extra_info("socket")
            # SO_LINGER 0: the close sends RST, as a crashing peer's kernel would
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        return None

    registrar.answer(reset_first)  # then the default handler: 200 OK
    async with raw_bus(daemon.address) as raw:
        path = await enable(raw, registrar)
        props = await wait_state(raw, path, "registered", timeout=10)
        first, again = registrar.registers[:2]
        assert resets == 1
        assert again.source != first.source  # on a new connection
        assert again.request.call_id == first.request.call_id
        assert props["LastError"][0] == ""  # the reset left no error behind
        await raw.profile(path, "Disable")


async def test_a_restarted_kamailio_gets_our_binding_back_at_the_refresh(
    kamailio_factory: Any, daemon: Any
) -> None:
    """Kamailio keeps its location table in memory: a restart forgets every binding."""
    from interop.test_kamailio_registration import settings

    kamailio = kamailio_factory(min_expires=5)
    async with raw_bus(daemon.address) as raw:
        server = settings(kamailio)
        path = await raw.create(**server, Extensions={"RegisterExpires": 10})
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        [before] = kamailio.contacts_of("alice")
        kamailio.stop()
        kamailio.start()
        assert kamailio.contacts_of("alice") == []
        # the refresh (at 75-90 % of 10 s) puts it back, same Contact, no error
        await wait_for(lambda: len(kamailio.contacts_of("alice")) == 1, timeout=15)
        [after] = kamailio.contacts_of("alice")
        assert after.contact == before.contact and after.call_id == before.call_id
        props = await raw.get_all(path)
        assert props["State"] == "registered"
        await raw.profile(path, "Disable")
