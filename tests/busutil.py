"""Raw D-Bus calls for contract tests: no client library between test and daemon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.proto.busfix import harden


class CallFailed(Exception):
    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"{name}: {text}")
        self.name = name
        self.text = text


class Raw:
    """One bus connection that records every signal from the daemon."""

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.signals: list[Message] = []
        self._signal_event = asyncio.Event()
        bus.add_message_handler(self._on_message)

    def _on_message(self, msg: Message) -> None:
        if (
            msg.message_type is MessageType.SIGNAL
            and msg.path
            and msg.path.startswith(names.REGISTRY_PATH)
        ):
            self.signals.append(msg)
            self._signal_event.set()

    async def subscribe(self) -> None:
        await self.call_bus(
            "AddMatch", "s", [f"type='signal',path_namespace='{names.REGISTRY_PATH}'"]
        )

    async def call_bus(self, member: str, sig: str = "", body: list[Any] | None = None) -> Any:
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature=sig,
                body=body or [],
            )
        )
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
        return reply.body

    async def call(
        self,
        path: str,
        interface: str | None,
        member: str,
        sig: str = "",
        body: list[Any] | None = None,
    ) -> list[Any]:
        reply = await self.bus.call(
            Message(
                destination=names.BUS_NAME,
                path=path,
                interface=interface,
                member=member,
                signature=sig,
                body=body or [],
            )
        )
        assert reply is not None
        if reply.message_type is MessageType.ERROR:
            raise CallFailed(reply.error_name or "", reply.body[0] if reply.body else "")
        return list(reply.body)

    async def registry(self, member: str, sig: str = "", *args: Any) -> Any:
        body = await self.call(
            names.REGISTRY_PATH, names.REGISTRY_INTERFACE, member, sig, list(args)
        )
        return body[0] if body else None

    async def create(self, **settings: Any) -> str:
        return str(await self.registry("CreateProfile", "a{sv}", variants(settings)))

    async def profile(self, path: str, member: str, sig: str = "", *args: Any) -> Any:
        body = await self.call(path, names.PROFILE_INTERFACE, member, sig, list(args))
        return body[0] if body else None

    async def get_all(self, path: str) -> dict[str, Any]:
        body = await self.call(
            path, names.PROPERTIES_INTERFACE, "GetAll", "s", [names.PROFILE_INTERFACE]
        )
        return plain(body[0])

    async def wait_signals(self, count: int, timeout: float = 5.0) -> list[Message]:
        async def enough() -> None:
            while len(self.signals) < count:
                self._signal_event.clear()
                await self._signal_event.wait()

        await asyncio.wait_for(enough(), timeout)
        return self.signals[:count]

    def take_signals(self) -> list[Message]:
        taken, self.signals = self.signals, []
        return taken


def variant_for(value: Any) -> Variant:
    if isinstance(value, Variant):
        return value
    if isinstance(value, bool):
        return Variant("b", value)
    if isinstance(value, int):
        return Variant("x", value)
    if isinstance(value, str):
        return Variant("s", value)
    if isinstance(value, list):
        return Variant("as", value)
    if isinstance(value, dict):
        return Variant("a{sv}", {k: variant_for(v) for k, v in value.items()})
    raise TypeError(value)


def variants(settings: dict[str, Any]) -> dict[str, Variant]:
    """Python values to the a{sv} the daemon takes; ContactParams is a{ss}."""
    out = {}
    for key, value in settings.items():
        if key == "ContactParams" and not isinstance(value, Variant):
            out[key] = Variant("a{ss}", value)
        else:
            out[key] = variant_for(value)
    return out


def plain(value: Any) -> Any:
    """Variants to plain Python values, recursively."""
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@asynccontextmanager
async def raw_bus(address: str) -> AsyncIterator[Raw]:
    bus = await MessageBus(bus_address=address).connect()
    harden(bus)
    raw = Raw(bus)
    await raw.subscribe()
    try:
        yield raw
    finally:
        bus.disconnect()
