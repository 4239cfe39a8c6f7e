"""The README's client-library example, against a real Kamailio registrar."""

from __future__ import annotations

import asyncio

from sipprofile.client import Registry
from sipprofile.client.events import ProfileErrorOccurred, ProfileEventOccurred


def alice(kamailio, password: str) -> dict[str, object]:
    return {
        "Aor": f"sip:alice@{kamailio.domain}",
        "Registrar": {"Uri": f"sip:{kamailio.host}:{kamailio.port}", "Password": password},
    }


async def test_enable_wait_and_disable_as_the_readme_shows(kamailio, daemon) -> None:
    async with await Registry.connect(address=daemon.address) as registry:
        profile = await registry.create(alice(kamailio, "alice-secret"))
        events = registry.events()
        await profile.enable()
        seen = []
        async with asyncio.timeout(10):
            async for event in events:
                seen.append(event)
                if event.profile_id == profile.id and profile.state in ("registered", "failed"):
                    break
        assert seen[-1] == ProfileEventOccurred(profile.id, "registered")
        assert profile.state == "registered"
        assert profile.holders == 1
        assert profile.expires == 3600
        assert profile.last_error == ("", "")
        [binding] = kamailio.contacts_of("alice")
        assert profile.registered_contact in binding.contact
        assert profile.registered_aors == [f"sip:alice@{kamailio.domain}"]

        await profile.disable()
        async with asyncio.timeout(10):
            async for event in events:
                if event == ProfileEventOccurred(profile.id, "deregistered"):
                    break
        assert profile.state == "unregistered"
        assert profile.registered_contact == ""
        assert kamailio.contacts_of("alice") == []


async def test_a_wrong_password_arrives_as_an_error_event(kamailio, daemon) -> None:
    async with await Registry.connect(address=daemon.address) as registry:
        profile = await registry.create(alice(kamailio, "not-the-password"))
        events = registry.events()
        await profile.enable()
        async with asyncio.timeout(10):
            async for event in events:
                if event.profile_id == profile.id and profile.state == "failed":
                    break
        assert isinstance(event, ProfileErrorOccurred)
        assert event.error.endswith(".AuthenticationFailed")
        assert profile.last_error[0] == event.error
        assert kamailio.contacts_of("alice") == []
