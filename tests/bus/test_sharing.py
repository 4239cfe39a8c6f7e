"""Holding profiles enabled: per-client holds on a real bus, released on exit."""

from __future__ import annotations

import asyncio

import pytest
from busutil import CallFailed, Raw, raw_bus

from sipprofile.proto import names
from sipprofile.proto.names import Error


async def holders(raw: Raw, path: str) -> int:
    return int((await raw.get_all(path))["Holders"])


async def test_enable_disable_counts_holders_per_client(daemon) -> None:
    async with raw_bus(daemon.address) as first, raw_bus(daemon.address) as second:
        path = await first.create(Aor="sip:alice@example.com")
        first.take_signals()
        await first.profile(path, "Enable")
        assert await first.profile(path, "IsEnabled") is True
        assert await second.profile(path, "IsEnabled") is False
        assert await holders(first, path) == 1
        changed = [m for m in await first.wait_signals(1) if m.member == "PropertiesChanged"]
        assert {k: v.value for k, v in changed[0].body[1].items()} == {"Holders": 1}
        with pytest.raises(CallFailed) as info:
            await first.profile(path, "Enable")
        assert info.value.name == Error.ALREADY_ENABLED
        await second.profile(path, "Enable")
        assert await holders(first, path) == 2
        with pytest.raises(CallFailed) as info:
            await first.profile(path, "Delete")
        assert info.value.name == Error.IN_USE
        assert "2 client" in info.value.text
        await first.profile(path, "Disable")
        with pytest.raises(CallFailed) as info:
            await first.profile(path, "Disable")
        assert info.value.name == Error.NOT_ENABLED
        assert await holders(first, path) == 1
        await second.profile(path, "Disable")
        assert await holders(first, path) == 0
        await first.profile(path, "Delete")


async def test_a_client_that_leaves_releases_its_holds(daemon) -> None:
    async with raw_bus(daemon.address) as watcher:
        a = await watcher.create(Aor="sip:a@example.com")
        b = await watcher.create(Aor="sip:b@example.com")
        async with raw_bus(daemon.address) as leaver:
            await leaver.profile(a, "Enable")
            await leaver.profile(b, "Enable")
            assert await holders(watcher, a) == 1
        # the connection is closed: the bus reports the name gone, holds go with it
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while (await holders(watcher, a), await holders(watcher, b)) != (0, 0):
            assert loop.time() < deadline, "holds outlived their client by 2 s"
            await asyncio.sleep(0.02)
        await watcher.profile(a, "Delete")


async def test_force_disable_drops_every_holder(daemon) -> None:
    async with raw_bus(daemon.address) as first, raw_bus(daemon.address) as second:
        path = await first.create(Aor="sip:a@example.com")
        await first.profile(path, "Enable")
        await second.profile(path, "Enable")
        first.take_signals()
        await first.profile(path, "ForceDisable")
        assert await holders(first, path) == 0
        assert await second.profile(path, "IsEnabled") is False
        events = [m.body for m in first.signals if m.member == "ProfileEvent"]
        assert [1, "forcibly-disabled"] in events
        with pytest.raises(CallFailed) as info:
            await second.profile(path, "Disable")
        assert info.value.name == Error.NOT_ENABLED


async def test_refresh_needs_a_hold_and_missing_profiles_are_not_found(daemon) -> None:
    async with raw_bus(daemon.address) as raw:
        path = await raw.create(Aor="sip:a@example.com")
        with pytest.raises(CallFailed) as info:
            await raw.profile(path, "Refresh")
        assert info.value.name == Error.NOT_ENABLED
        await raw.profile(path, "Enable")
        await raw.profile(path, "Refresh")
        for member in ("Enable", "Disable", "Refresh", "ForceDisable"):
            with pytest.raises(CallFailed) as info:
                await raw.profile(names.profile_path(99), member)
            assert info.value.name == Error.NOT_FOUND, member


async def test_enable_racing_delete_never_both_win(daemon) -> None:
    """Either the hold is taken first (Delete is InUse) or the delete is (NotFound)."""
    async with raw_bus(daemon.address) as raw:
        for n in range(30):
            path = await raw.create(Aor=f"sip:race{n}@example.com")
            results = await asyncio.gather(
                raw.profile(path, "Enable"), raw.profile(path, "Delete"), return_exceptions=True
            )
            outcomes = ["ok" if r is None else r.name.rsplit(".", 1)[-1] for r in results]
            assert outcomes in (["ok", "InUse"], ["NotFound", "ok"]), outcomes
            if outcomes[0] == "ok":
                await raw.profile(path, "Disable")
                await raw.profile(path, "Delete")
        assert daemon.daemon.sharing.holds.count(1) == 0
