"""What a ``Registration`` tells its session: small frozen values, as in h11."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send ``data`` towards ``next_hop`` (a SIP URI: first Route, else Request-URI)."""

    data: bytes
    branch: str
    next_hop: str


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The registration entered ``state`` (a ``registration.State`` value)."""

    state: str


@dataclass(frozen=True, slots=True)
class Registered:
    """A 2xx bound our Contact for ``expires`` seconds (first time or refresh)."""

    expires: int
    contact: str
    aors: tuple[str, ...]
    service_route: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Deregistered:
    """Our binding is gone; ``problem`` says why the un-REGISTER did not succeed, if so."""

    problem: str | None


@dataclass(frozen=True, slots=True)
class Retrying:
    """A temporary failure; the next attempt is at ``retry_at``."""

    error: str
    message: str
    retry_at: float


@dataclass(frozen=True, slots=True)
class Failed:
    """A permanent failure: nothing more is sent until asked again."""

    error: str
    message: str


Event = SendRequest | StateChanged | Registered | Deregistered | Retrying | Failed
