"""Domain events: what the registry tells its listeners after a change is committed.

Small frozen values, as in h11: the bus layer turns them into signals, and tests can
assert on them without a bus. The three a registration raises (status, event, error)
write their ``__init__`` out: this module is compiled (setup.py's ``HOT_GLUE``), and
mypyc compiles a written-out ``__init__`` while the one ``@dataclass`` generates stays
interpreted, about ten times slower to run; ``Final`` keeps their fields read-only
for mypy, as ``frozen=True`` did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .model import Profile, ProfileStatus


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

    Empty ``properties`` means only something unreadable changed (a password, an AKA
    key): the profile is "updated" but no property changed.
    """

    profile: Profile
    properties: tuple[str, ...]
    #: The profile before the change (None for a default flag moved by another call).
    previous: Profile | None = None
    #: Whether a password or an AKA key was written too: the registration's credentials
    #: changed even where ``properties`` names only something else (``ProviderName``).
    secrets: bool = False


@dataclass(frozen=True, slots=True)
class ProfileDestroyed:
    """A profile was deleted."""

    profile_id: int


@dataclass(slots=True, init=False, unsafe_hash=True)
class StatusChanged:
    """Live status of a profile changed; ``properties`` are the status properties.

    It carries the status before and after the change, so a listener that merges
    several changes (the bus announces one ``PropertiesChanged`` per loop turn) can
    tell what changed in total without asking the registry later, when the profile
    may already be gone.
    """

    profile_id: Final[int]
    properties: Final[tuple[str, ...]]
    previous: Final[ProfileStatus]
    status: Final[ProfileStatus]

    def __init__(
        self,
        profile_id: int,
        properties: tuple[str, ...],
        previous: ProfileStatus,
        status: ProfileStatus,
    ) -> None:
        self.profile_id = profile_id
        self.properties = properties
        self.previous = previous
        self.status = status


@dataclass(slots=True, init=False, unsafe_hash=True)
class ProfileEventRaised:
    """A ``ProfileEvent`` that no stored change stands behind.

    ``forcibly-disabled``, and the registration engine's events.
    """

    profile_id: Final[int]
    event: Final[str]

    def __init__(self, profile_id: int, event: str) -> None:
        self.profile_id = profile_id
        self.event = event


@dataclass(slots=True, init=False, unsafe_hash=True)
class ProfileErrorRaised:
    """A registration of the profile failed (``ProfileError`` on the bus)."""

    profile_id: Final[int]
    error: Final[str]
    message: Final[str]

    def __init__(self, profile_id: int, error: str, message: str) -> None:
        self.profile_id = profile_id
        self.error = error
        self.message = message


DomainEvent = (
    ProfileCreated
    | ProfileChanged
    | ProfileDestroyed
    | StatusChanged
    | ProfileEventRaised
    | ProfileErrorRaised
)
