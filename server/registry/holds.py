"""Who holds which profile enabled: the sharing bookkeeping, without I/O.

A client is its unique bus name. Holding is a set relation: the first hold of a
profile starts its registration, the last release ends it (unless always-on), and a
client that leaves the bus releases everything at once.
"""

from __future__ import annotations

from collections import OrderedDict

from sipprofile.server.errors import AlreadyEnabled, NotEnabled

#: How many departed clients to remember. A call from a client can still be in
#: progress when the bus reports the client gone; its hold must not outlive it.
DEPARTED_MEMORY = 4096


class HoldTable:
    """Profiles by holder and holders by profile, kept in step."""

    def __init__(self) -> None:
        self._by_profile: dict[int, set[str]] = {}
        self._by_client: dict[str, set[int]] = {}
        self._departed: OrderedDict[str, None] = OrderedDict()

    def count(self, profile_id: int) -> int:
        """How many clients hold the profile."""
        return len(self._by_profile.get(profile_id, ()))

    def holds(self, profile_id: int, client: str) -> bool:
        """Whether ``client`` holds the profile."""
        return client in self._by_profile.get(profile_id, ())

    def departed(self, client: str) -> bool:
        """Whether the bus already reported ``client`` gone."""
        return client in self._departed

    def add(self, profile_id: int, client: str) -> int:
        """Record a hold; returns the new number of holders."""
        holders = self._by_profile.setdefault(profile_id, set())
        if client in holders:
            raise AlreadyEnabled(f"this client already holds profile {profile_id} enabled")
        holders.add(client)
        self._by_client.setdefault(client, set()).add(profile_id)
        return len(holders)

    def remove(self, profile_id: int, client: str) -> int:
        """Release a hold; returns how many holders remain."""
        holders = self._by_profile.get(profile_id, set())
        if client not in holders:
            raise NotEnabled(f"this client does not hold profile {profile_id} enabled")
        self._forget(profile_id, client)
        return self.count(profile_id)

    def drop_client(self, client: str) -> list[tuple[int, int]]:
        """The client left the bus: release all it held; (profile, remaining) pairs."""
        self._departed[client] = None
        while len(self._departed) > DEPARTED_MEMORY:
            self._departed.popitem(last=False)
        released = []
        for profile_id in sorted(self._by_client.get(client, set())):
            self._forget(profile_id, client)
            released.append((profile_id, self.count(profile_id)))
        return released

    def drop_profile(self, profile_id: int) -> list[str]:
        """Remove every holder of a profile (force-disable); returns who they were."""
        clients = sorted(self._by_profile.get(profile_id, set()))
        for client in clients:
            self._forget(profile_id, client)
        return clients

    def _forget(self, profile_id: int, client: str) -> None:
        holders = self._by_profile.get(profile_id)
        if holders is not None:
            holders.discard(client)
            if not holders:
                del self._by_profile[profile_id]
        held = self._by_client.get(client)
        if held is not None:
            held.discard(profile_id)
            if not held:
                del self._by_client[client]
