"""Access control when polkit cannot answer: absent, ignorant of our actions, stalled.

Every call that needs an action is refused (fail closed), the failure is logged once
per kind, and a polkit that does not answer holds only the calls waiting for it. The
tests of an absent or stalled polkit need no polkitd: the stalled one is a stand-in
on the bus that records exactly what it is asked.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from busutil import CallFailed, raw_bus
from dbus_fast import Message, MessageFlag, MessageType
from dbus_fast.aio import MessageBus
from polkitbus import serving, unavailable, world_running

from sipprofile.proto import names
from sipprofile.proto.names import Error
from sipprofile.server.bus import authorization
from sipprofile.server.bus.authorization import READ

REG = names.REGISTRY_INTERFACE
REGISTRY = names.REGISTRY_PATH


async def test_without_polkit_every_checked_call_is_refused(caplog, tmp_path: Path) -> None:
    caplog.set_level(logging.WARNING, logger="sipprofile.server.bus.authorization")
    with world_running(policy=None, polkit=False) as bare:
        async with serving(bare.address, tmp_path), raw_bus(bare.address) as raw:
            for _ in range(2):
                with pytest.raises(CallFailed) as info:
                    await raw.registry("ListProfiles")
                assert info.value.name == Error.ACCESS_DENIED
                assert READ in info.value.text
            with pytest.raises(CallFailed) as info:
                await raw.create(Aor="sip:a@example.com")
            assert info.value.name == Error.ACCESS_DENIED
            assert await raw.registry("SupportedTypes")
    warnings = [r.getMessage() for r in caplog.records if "cannot check" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once per kind of failure
    assert "ServiceUnknown" in warnings[0]


async def test_actions_unknown_to_polkit_are_refused_with_a_hint(caplog, tmp_path: Path) -> None:
    why_not = unavailable()
    if why_not is not None:
        pytest.skip(why_not)
    with world_running(policy=None, grants={}) as bare:  # polkitd without our actions
        async with serving(bare.address, tmp_path), raw_bus(bare.address) as raw:
            with pytest.raises(CallFailed) as info:
                await raw.registry("ListProfiles")  # even root: polkit cannot say
            assert info.value.name == Error.ACCESS_DENIED
    assert "is not registered" in caplog.text
    assert "org.sipprofile.SipProfile1.policy installed" in caplog.text


class StalledAuthority:
    """A stand-in polkit that never answers, except interactive questions, which it grants."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.questions: list[Message] = []
        bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> bool | None:
        if msg.message_type is not MessageType.METHOD_CALL or msg.member != "CheckAuthorization":
            return None
        self.questions.append(msg)
        if msg.body[3] == authorization.ALLOW_USER_INTERACTION:
            self.bus.send(Message.new_method_return(msg, "(bba{ss})", [[True, False, {}]]))
        return True


async def test_a_stalled_polkit_holds_only_the_calls_waiting_for_it(
    caplog, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(authorization, "TIMEOUT", 1.0)
    monkeypatch.setattr(authorization, "INTERACTIVE_TIMEOUT", 3.0)
    with world_running(policy=None, polkit=False) as bare:
        fake_bus = await MessageBus(bus_address=bare.address).connect()
        try:
            authority = StalledAuthority(fake_bus)
            await fake_bus.request_name(authorization.POLKIT_NAME)
            async with serving(bare.address, tmp_path), raw_bus(bare.address) as raw:
                waiting = asyncio.ensure_future(raw.registry("ListProfiles"))
                await asyncio.sleep(0.1)
                loop = asyncio.get_running_loop()
                started = loop.time()
                assert await raw.registry("SupportedTypes")  # needs no polkit: answered
                interactive = await raw.bus.call(
                    Message(
                        destination=names.BUS_NAME, path=REGISTRY, interface=REG,
                        member="ListProfiles", flags=MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION,
                    )
                )  # fmt: skip
                assert interactive is not None
                assert interactive.message_type is MessageType.METHOD_RETURN, interactive.body
                assert loop.time() - started < 0.5
                assert not waiting.done()
                with pytest.raises(CallFailed) as info:
                    await asyncio.wait_for(waiting, 5)
                assert info.value.name == Error.ACCESS_DENIED
                # exactly what polkit is asked: this caller, this action, no details
                first, second = authority.questions
                assert first.signature == "(sa{sv})sa{ss}us"
                subject, action, details, flags, cancellation = first.body
                assert subject[0] == "system-bus-name"
                assert subject[1]["name"].value == raw.bus.unique_name
                assert (action, details, flags, cancellation) == (READ, {}, 0, "")
                assert second.body[3] == 1  # AllowUserInteraction, passed through
        finally:
            fake_bus.disconnect()
    assert "timeout" in caplog.text
