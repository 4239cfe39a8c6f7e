"""Domain events: what the registry tells its listeners after a change is committed.

Small frozen values, as in h11: the bus layer turns them into signals, and tests can
assert on them without a bus.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Profile


@dataclass(frozen=True, slots=True)
class ProfileCreated:
    """A profile was stored.

    ``wire`` is the encoded form the registry stored with it (opaque here; see
    ``bus.managed_objects``), so the announcement need not encode it again.
    """

    profile: Profile
    wire: bytes | None = None


@dataclass(frozen=True, slots=True)
class ProfileChanged:
    """A stored profile changed; ``properties`` are the bus names whose value changed.

    Empty ``properties`` means only something unreadable changed (a password): the
    profile is "updated" but no property changed.
    """

    profile: Profile
    properties: tuple[str, ...]
    #: The profile before the change (None for a default flag moved by another call).
    previous: Profile | None = None


@dataclass(frozen=True, slots=True)
class ProfileDestroyed:
    """A profile was deleted."""

    profile_id: int


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Live status of a profile changed; ``properties`` are the status properties."""

    profile_id: int
    properties: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProfileEventRaised:
    """A ``ProfileEvent`` that no stored change stands behind.

    ``forcibly-disabled``, and the registration engine's events.
    """

    profile_id: int
    event: str


@dataclass(frozen=True, slots=True)
class ProfileErrorRaised:
    """A registration of the profile failed (``ProfileError`` on the bus)."""

    profile_id: int
    error: str
    message: str


DomainEvent = (
    ProfileCreated
    | ProfileChanged
    | ProfileDestroyed
    | StatusChanged
    | ProfileEventRaised
    | ProfileErrorRaised
)
