"""Registrations at rest, through the real daemon, bus and sockets.

A registered UDP registration with nothing in flight is kept as a small record
(``engine.resting``) until its refresh; every call for its profile makes a session
of it again first. These tests check that nothing a registrar or a client can see
changes because of it: the refresh goes out preemptively authorized in the same
dialog, and a registration at rest is ended, moved, updated and re-authenticated as
a live one would be. The registrar checks every digest answer (MD5, qop=auth).
"""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from busutil import Raw, raw_bus
from dbus_fast import Variant

from interop.scripted import (  # noqa: F401
    Received,
    ScriptedRegistrar,
    challenge,
    ok,
    requested_expiry,
    response,
    scripted_registrar,
    scripted_registrar_factory,
)
from interop.test_scripted_registrar import wait_state
from sipprofile.server.daemon import Daemon, Options
from sipprofile.server.engine.engine import Engine
from sipprofile.server.sip.message import Request, Response

AOR = "sip:alice@example.test"
REALM = "example.test"
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


class DigestCheck:
    """A registrar's handler that challenges, then grants only correct answers.

    One nonce at a time (``new_nonce`` retires it, as a registrar's expiry would);
    ``answers`` records each Authorization's fields and whether it was right.
    """

    def __init__(self, password: str, expires: int = 2) -> None:
        self.password = password
        self.expires = expires
        self.nonce = secrets.token_hex(8)
        self.answers: list[tuple[dict[str, str], bool]] = []
        self.challenged = 0

    def new_nonce(self) -> None:
        self.nonce = secrets.token_hex(8)

    def __call__(self, request: Request) -> list[Response]:
        header = request.headers.get("Authorization")
        if header is None:
            self.challenged += 1
            return [challenge(request, REALM, self.nonce)]
        fields = {m[0]: m[1] or m[2] for m in _PARAM.findall(header)}
        right = fields.get("nonce") == self.nonce and fields.get("response") == self.expected(
            request, fields
        )
        self.answers.append((fields, right))
        if fields.get("nonce") != self.nonce:  # stale: a new challenge
            self.challenged += 1
            return [challenge(request, REALM, self.nonce)]
        if not right:
            return [response(request, 403)]
        wanted = requested_expiry(request)
        return [ok(request, expires=0 if wanted == 0 else self.expires)]

    def expected(self, request: Request, fields: dict[str, str]) -> str:
        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        ha1 = md5(f"{fields['username']}:{REALM}:{self.password}")
        ha2 = md5(f"REGISTER:{fields['uri']}")
        return md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")


async def create(raw: Raw, registrar: ScriptedRegistrar, password: str, **more: object) -> str:
    return await raw.create(Aor=AOR, Registrar={"Uri": registrar.uri, "Password": password}, **more)


async def enabled_at_rest(
    raw: Raw, registrar: ScriptedRegistrar, password: str, engine: Engine
) -> str:
    """A profile created, enabled and registered: its registration at rest."""
    path = await create(raw, registrar, password)
    await raw.profile(path, "Enable")
    await wait_state(raw, path, "registered")
    await until(lambda: engine.resting >= 1)
    return path


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


def authorization(arrival: Received) -> str:
    return arrival.request.headers.get("Authorization") or ""


async def test_a_resting_registration_refreshes_preemptively_in_the_same_dialog(
    scripted_registrar, daemon
) -> None:
    registrar = scripted_registrar
    check = registrar.default = DigestCheck("alice-secret", expires=2)
    async with raw_bus(daemon.address) as raw:
        path = await enabled_at_rest(raw, registrar, "alice-secret", daemon.daemon.engine)
        engine = daemon.daemon.engine
        assert engine.resting == 1  # registered: kept as a record until its refresh
        first, _answered = registrar.registers
        # the refresh is due at 75-90 % of 2 s, made from rest
        await registrar.wait_requests(4, timeout=5.0)
        refresh, second_refresh = registrar.registers[2:4]
        assert check.challenged == 1  # only the very first REGISTER was challenged
        assert [right for _, right in check.answers] == [True, True, True]
        assert {r.request.call_id for r in registrar.registers[:4]} == {first.request.call_id}
        assert [r.cseq for r in registrar.registers[:4]] == [first.cseq + n for n in range(4)]
        assert "nc=00000002" in authorization(refresh)
        assert "nc=00000003" in authorization(second_refresh)
        await until(lambda: engine.resting == 1)  # and back at rest after each
        assert (await raw.get_all(path))["State"] == "registered"


async def test_a_stale_nonce_at_the_refresh_is_answered_again(scripted_registrar, daemon) -> None:
    registrar = scripted_registrar
    check = registrar.default = DigestCheck("alice-secret", expires=2)
    async with raw_bus(daemon.address) as raw:
        await enabled_at_rest(raw, registrar, "alice-secret", daemon.daemon.engine)
        check.new_nonce()  # the registrar forgot the nonce the record keeps
        await registrar.wait_requests(4, timeout=5.0)
        assert check.challenged == 2
        assert [right for _, right in check.answers] == [True, False, True]
        await until(lambda: daemon.daemon.engine.resting == 1)


async def test_disable_and_delete_end_a_resting_registration(scripted_registrar, daemon) -> None:
    """Disable wakes it with the stored profile and deregisters (preemptively
    authorized); so does deleting an always-on profile, whose passwords the
    database no longer has by the time the un-REGISTER is challenged."""
    registrar = scripted_registrar
    check = registrar.default = DigestCheck("alice-secret", expires=300)
    async with raw_bus(daemon.address) as raw:
        held = await create(raw, registrar, "alice-secret")
        await raw.profile(held, "Enable")
        always = await raw.create(
            Aor="sip:bob@example.test",
            Registrar={"Uri": registrar.uri, "Password": "alice-secret", "Username": "alice"},
            AutoRegistration=True,
        )
        await wait_state(raw, held, "registered")
        await wait_state(raw, always, "registered")
        await until(lambda: daemon.daemon.engine.resting == 2)
        await raw.profile(held, "Disable")
        await wait_state(raw, held, "unregistered")
        check.new_nonce()  # the delete's un-REGISTER must answer a fresh challenge
        await raw.profile(always, "Delete")
        await until(lambda: len(registrar.registers) == 7)
        byes = [r for r in registrar.registers if requested_expiry(r.request) == 0]
        assert (byes[0].request.headers.get("To") or "").startswith("<sip:alice")
        assert "sip:bob@" in (byes[-1].request.headers.get("To") or "")
        # the kept nonce went stale; the kept password answered the new challenge
        (_, was_right), (fresh, right) = check.answers[-2:]
        assert not was_right and right and fresh["nonce"] == check.nonce
        assert fresh["username"] == "alice"
        assert daemon.daemon.engine.resting == 0


async def test_a_new_registrar_deregisters_at_the_old_one_from_rest(
    scripted_registrar_factory, daemon
) -> None:
    old = await scripted_registrar_factory()
    new = await scripted_registrar_factory()
    old.default = DigestCheck("alice-secret", expires=300)
    new.default = DigestCheck("alice-secret", expires=300)
    async with raw_bus(daemon.address) as raw:
        path = await enabled_at_rest(raw, old, "alice-secret", daemon.daemon.engine)
        await raw.profile(
            path, "Update", "a{sv}", {"Registrar": Variant("a{sv}", {"Uri": Variant("s", new.uri)})}
        )
        await until(lambda: len(new.registers) == 2)
        bye = old.registers[-1]
        assert requested_expiry(bye.request) == 0
        assert bye.request.call_id == old.registers[0].request.call_id
        assert "nc=00000002" in authorization(bye)
        await wait_state(raw, path, "registered")


async def test_a_new_password_at_rest_answers_the_next_challenge(
    scripted_registrar, daemon
) -> None:
    registrar = scripted_registrar
    check = registrar.default = DigestCheck("old-secret", expires=2)
    async with raw_bus(daemon.address) as raw:
        path = await enabled_at_rest(raw, registrar, "old-secret", daemon.daemon.engine)
        check.password = "new-secret"
        check.new_nonce()
        await raw.profile(
            path,
            "Update",
            "a{sv}",
            {"Registrar": Variant("a{sv}", {"Password": Variant("s", "new-secret")})},
        )
        await registrar.wait_requests(4, timeout=5.0)  # the refresh, challenged, answered
        fields, right = check.answers[-1]
        assert right and fields["nonce"] == check.nonce
        assert registrar.registers[3].request.call_id == registrar.registers[0].request.call_id
        assert (await raw.get_all(path))["State"] == "registered"


async def test_refresh_and_new_contact_parameters_go_out_at_once_from_rest(
    scripted_registrar, daemon
) -> None:
    registrar = scripted_registrar
    registrar.default = DigestCheck("alice-secret", expires=300)
    async with raw_bus(daemon.address) as raw:
        path = await enabled_at_rest(raw, registrar, "alice-secret", daemon.daemon.engine)
        await raw.profile(path, "Refresh")
        await until(lambda: len(registrar.registers) == 3)
        await until(lambda: daemon.daemon.engine.resting == 1)
        await raw.profile(
            path, "Update", "a{sv}", {"ContactParams": Variant("a{ss}", {"+sip.app": '"x"'})}
        )
        await until(lambda: len(registrar.registers) == 4)
        update = registrar.registers[3].request
        assert '+sip.app="x"' in (update.headers.get("Contact") or "")
        assert update.call_id == registrar.registers[0].request.call_id
        assert [r.cseq for r in registrar.registers] == [1, 2, 3, 4]


async def test_shutdown_deregisters_registrations_at_rest(
    scripted_registrar, dbus_address: str, tmp_path: Path
) -> None:
    registrar = scripted_registrar
    check = registrar.default = DigestCheck("alice-secret", expires=300)
    daemon = Daemon(Options(bus="address", address=dbus_address, database=tmp_path / "p.db"))
    await daemon.start()
    try:
        async with raw_bus(dbus_address) as raw:
            paths = [
                await raw.create(
                    Aor=f"sip:user{n}@example.test",
                    Registrar={"Uri": registrar.uri, "Password": "alice-secret"},
                    AutoRegistration=True,
                )
                for n in range(5)
            ]
            for path in paths:
                await wait_state(raw, path, "registered")
        assert daemon.engine is not None
        await until(lambda: daemon.engine is not None and daemon.engine.resting == 5)
    finally:
        await daemon.close()
    byes = [r for r in registrar.registers if requested_expiry(r.request) == 0]
    assert len(byes) == 5
    assert all(right for _, right in check.answers)


def outbound(expires: int) -> Callable[[Request], list[Response]]:
    """200 OK taking part in RFC 5626 outbound, keep-alives every second."""

    def handler(request: Request) -> list[Response]:
        wanted = requested_expiry(request)
        extra = [("Require", "outbound"), ("Flow-Timer", "1")]
        return [ok(request, expires=0 if wanted == 0 else expires, headers=extra)]

    return handler


async def test_a_new_nat_mapping_wakes_a_resting_registration(scripted_registrar, daemon) -> None:
    """The flow's STUN keep-alive goes on while the registration rests; an answer
    showing a new mapping makes it register the NAT's address (RFC 5626 §4.4.2)."""
    registrar = scripted_registrar
    registrar.default = outbound(300)
    registrar.stun_mapped = ("198.51.100.7", 5555)
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor=AOR, Registrar={"Uri": registrar.uri})
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        engine = daemon.daemon.engine
        await until(lambda: engine.resting == 1 and registrar.stun_requests >= 1, timeout=3.0)
        assert len(registrar.registers) == 1
        registrar.stun_mapped = ("198.51.100.7", 6666)  # the NAT mapped us anew
        await until(lambda: len(registrar.registers) >= 2, timeout=3.0)
        moved = registrar.registers[1].request
        assert "@198.51.100.7:6666" in (moved.headers.get("Contact") or "")
        assert moved.call_id == registrar.registers[0].request.call_id
        await until(lambda: engine.resting == 1)


async def test_a_failed_keep_alive_wakes_a_resting_registration(scripted_registrar, daemon) -> None:
    """No STUN answer fails the flow: a resting registration registers again."""
    registrar = scripted_registrar
    registrar.default = outbound(300)
    registrar.stun_mapped = ("127.0.0.1", 9)  # answered at first ...
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor=AOR, Registrar={"Uri": registrar.uri})
        await raw.profile(path, "Enable")
        await wait_state(raw, path, "registered")
        engine = daemon.daemon.engine
        await until(lambda: engine.resting == 1 and registrar.stun_requests >= 1, timeout=3.0)
        flow = engine.resting_record(1).flow
        keeper = flow._endpoint.keeper(flow.remote)
        keeper._timeout = 1.0  # fault injection: give up after 1 s, not 10
        registrar.stun_mapped = None  # ... then silent
        await until(lambda: len(registrar.registers) >= 2, timeout=5.0)
        again = registrar.registers[1].request
        assert again.call_id == registrar.registers[0].request.call_id
        assert again.cseq[0] == registrar.registers[0].cseq + 1
        await wait_state(raw, path, "registered")
