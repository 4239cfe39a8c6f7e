"""Enable, disable, refresh and force-disable: one registration shared by every holder.

The first holder's enable starts the registration, later holders share it, and the
last release stops it unless the profile is always-on (Symbian's profile-user
lists). Holders are kept in memory only: a daemon restart is a new bus session in
which every client is new.
"""

from __future__ import annotations

from typing import Protocol

from sipprofile.proto.names import Event
from sipprofile.proto.schema import State
from sipprofile.server.errors import InUse, NotEnabled, NotFound

from .events import DomainEvent, ProfileChanged, ProfileCreated
from .holds import HoldTable
from .model import Profile
from .service import ProfileRegistry

#: Settings whose change needs a new registration (Symbian: anything but the name,
#: credentials, always-on and default flags).
REREGISTER_ON = frozenset(
    {"Aor", "Registrar", "OutboundProxy", "AccessPoint", "SigComp", "SecurityNegotiation",
     "PrivateIdentity", "ContactParams", "Headers", "Extensions"}
)  # fmt: skip

#: Settings that hold credentials: a change is used from the next challenge on, the
#: registration is kept (server user names and realms; ``Aka`` is the USIM's keys).
CREDENTIALS = frozenset({"Registrar", "OutboundProxy", "Aka"})


def change_kind(
    previous: Profile | None, profile: Profile, changed: set[str], *, secrets: bool = False
) -> str:
    """What an update means for a live registration (Symbian's rules).

    ``"reregister"``: deregister with the old values, register with the new;
    ``"contact"``: only Contact parameters, one REGISTER updates the binding;
    ``"credentials"``: user name, realm, password or AKA keys, kept for the next
    challenge (``secrets``: a password or key was written, which no property shows);
    ``""``: nothing the registration uses (name, default, always-on).
    """
    if previous is None:
        return "reregister" if changed & REREGISTER_ON else ""
    old, new = previous.settings, profile.settings
    if changed & (REREGISTER_ON - CREDENTIALS - {"ContactParams"}) or (
        old.registrar.uri != new.registrar.uri or old.outbound_proxy.uri != new.outbound_proxy.uri
    ):
        return "reregister"
    if "ContactParams" in changed:
        return "contact"
    if changed & CREDENTIALS or secrets or not changed:
        return "credentials"
    return ""


class RegistrationEngine(Protocol):
    """What sharing asks of the registration engine (the SIP side)."""

    def start(self, profile: Profile) -> None:
        """Register the profile if it is not registered or registering (idempotent)."""

    def stop(self, profile: Profile) -> None:
        """Deregister the profile and forget its registration (idempotent).

        ``profile``: as stored, i.e. as registered: a registration the engine keeps at
        rest needs its settings to be ended.
        """

    def refresh(self, profile: Profile) -> None:
        """Register again now (starting a registration if none runs)."""

    def restart(self, profile: Profile, previous: Profile | None = None) -> None:
        """Deregister with the old settings (``previous``) and register with the new."""

    def update_contact(self, profile: Profile) -> None:
        """Send the new Contact parameters in a REGISTER."""

    def update_credentials(self, profile: Profile) -> None:
        """Use new credentials from the next challenge on."""


class Sharing:
    """The holds of every profile, and the engine calls they imply."""

    def __init__(self, registry: ProfileRegistry, engine: RegistrationEngine | None) -> None:
        self.registry = registry
        self.engine = engine
        self.holds = HoldTable()
        registry.subscribe(self._on_event, live=False)  # stored changes only
        #: Profiles whose Delete is under way: no new holds on them.
        self._deleting: set[int] = set()

    def _on_event(self, event: DomainEvent) -> None:
        """Follow stored changes: start, stop or renew registrations.

        Always-on profiles register when created or switched on; a registered profile
        whose registration settings changed registers again with the new ones.
        """
        if self.engine is None:
            return
        if isinstance(event, ProfileCreated) and event.profile.settings.auto_registration:
            self.engine.start(event.profile)
        elif isinstance(event, ProfileChanged) and event.profile.id not in self._deleting:
            profile = event.profile
            changed = set(event.properties)
            kind = change_kind(event.previous, profile, changed, secrets=event.secrets)
            if not self._wanted(profile):
                if "AutoRegistration" in changed:
                    self.engine.stop(profile)
            elif self._failed(profile.id) or kind == "reregister":
                # new settings, or anything new for a registration that failed (a
                # password change shows as no property change at all)
                self.engine.restart(profile, event.previous)
            elif kind == "contact":
                self.engine.update_contact(profile)
            elif kind == "credentials":
                self.engine.update_credentials(profile)
            elif "AutoRegistration" in changed:
                self.engine.start(profile)

    def _failed(self, profile_id: int) -> bool:
        return self.registry.status(profile_id).state == State.FAILED

    def _wanted(self, profile: Profile) -> bool:
        return profile.settings.auto_registration or self.holds.count(profile.id) > 0

    def _apply(self, profile: Profile) -> None:
        """Start or stop the registration so it matches holds and always-on."""
        self.registry.set_status(profile.id, holders=self.holds.count(profile.id))
        if self.engine is None:
            return
        if self._wanted(profile):
            self.engine.start(profile)
        else:
            self.engine.stop(profile)

    async def enable(self, profile_id: int, client: str) -> None:
        """``client`` holds the profile; the first hold starts the registration.

        The hold is taken before the first await, so a Delete running at the same time
        either sees it (``InUse``) or has already marked the profile as going.
        """
        if profile_id in self._deleting:
            raise NotFound(f"profile {profile_id} is being deleted")
        if self.holds.departed(client):
            await self.registry.get(profile_id)
            return  # the client left while its call was on its way
        self.holds.add(profile_id, client)
        try:
            profile = await self.registry.get(profile_id)
        except NotFound:
            self.holds.remove(profile_id, client)
            raise
        if self.engine is not None and self._failed(profile_id):
            # a new user of a failed profile asks for a new attempt
            self.registry.set_status(profile_id, holders=self.holds.count(profile_id))
            self.engine.restart(profile)
            return
        self._apply(profile)

    async def delete(self, profile_id: int) -> None:
        """Delete a profile nobody holds (``InUse`` otherwise)."""
        holders = self.holds.count(profile_id)
        if holders:
            raise InUse(
                f"profile {profile_id} is enabled by {holders} client(s); "
                "it can be deleted once they disable it"
            )
        self._deleting.add(profile_id)
        try:
            if self.engine is not None:
                profile = await self.registry.find(profile_id)
                if profile is not None:
                    self.engine.stop(profile)
            await self.registry.delete(profile_id)
        finally:
            self._deleting.discard(profile_id)

    async def disable(self, profile_id: int, client: str) -> None:
        """``client`` lets go; the last release stops a when-needed registration."""
        profile = await self.registry.get(profile_id)
        self.holds.remove(profile_id, client)
        self._apply(profile)

    def is_enabled(self, profile_id: int, client: str) -> bool:
        """Whether ``client`` holds the profile."""
        return self.holds.holds(profile_id, client)

    async def refresh(self, profile_id: int, client: str) -> None:
        """Re-register a profile the caller holds (e.g. after the network returned)."""
        profile = await self.registry.get(profile_id)
        if not self.holds.holds(profile_id, client) and not profile.settings.auto_registration:
            raise NotEnabled(f"profile {profile_id} is not enabled by this client; enable it first")
        if self.engine is not None:
            self.engine.refresh(profile)

    async def force_disable(self, profile_id: int) -> None:
        """Drop every holder and tear the registration down, always-on or not."""
        profile = await self.registry.get(profile_id)
        self.holds.drop_profile(profile_id)
        self.registry.set_status(profile_id, holders=0)
        if self.engine is not None:
            self.engine.stop(profile)
        self.registry.raise_event(profile_id, Event.FORCIBLY_DISABLED)

    async def release_client(self, client: str) -> None:
        """The client left the bus: release everything it held."""
        for profile_id, _remaining in self.holds.drop_client(client):
            profile = await self.registry.find(profile_id)
            if profile is None:
                continue
            self._apply(profile)
