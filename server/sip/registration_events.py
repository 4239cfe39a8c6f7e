"""What a ``Registration`` tells its session: small frozen values, as in h11.

Also the words those values use: the registration's states (``StateChanged.state`` is a
``State`` value) and the error names of ``Retrying`` and ``Failed``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

#: Short error names; the bus prefixes them with org.sipprofile.SipProfile1.Error.
AUTHENTICATION_FAILED: Final = "AuthenticationFailed"
FORBIDDEN: Final = "Forbidden"
TIMEOUT: Final = "Timeout"
TRANSPORT_FAILED: Final = "TransportFailed"
SECURITY_AGREEMENT_FAILED: Final = "SecurityAgreementFailed"
REJECTED: Final = "Rejected"


class State(enum.Enum):
    """The registration's own states (the session adds waiting-for-network)."""

    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    DEREGISTERING = "deregistering"
    RETRYING = "retrying"
    FAILED = "failed"


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
    #: ``host:port`` the registrar saw us at (Via received/rport), "" when it did not say.
    public_address: str = ""
    #: RFC 5626 ``Flow-Timer``: keep-alive at most this many seconds apart, if given.
    flow_timer: int | None = None
    #: The registrar uses RFC 5626 outbound for this binding (``Require: outbound``).
    outbound: bool = False
    #: The RFC 3329 mechanism agreed on with the first hop ("" for none).
    negotiated_security: str = ""


@dataclass(frozen=True, slots=True)
class Deregistered:
    """Our binding is gone; ``problem`` says why the un-REGISTER did not succeed, if so."""

    problem: str | None


@dataclass(frozen=True, slots=True)
class Retrying:
    """A temporary failure; the next attempt is at ``retry_at``.

    ``next_server``: the failure is the server's or the path's (no answer, the
    transport failed, 503), so RFC 3263 §4.3 says to try the next server the
    registrar's name resolved to, at once, rather than wait for this one. The session
    does that with ``rebind`` and ``register``; with no other server it waits.
    """

    error: str
    message: str
    retry_at: float
    next_server: bool = False


@dataclass(frozen=True, slots=True)
class Failed:
    """A permanent failure: nothing more is sent until asked again."""

    error: str
    message: str


@dataclass(frozen=True, slots=True)
class UsimSequence:
    """The software USIM accepted an AKA challenge: ``sqn`` is its new highest SQN.

    To be stored before long (TS 33.102: never accept that SQN again, across restarts).
    """

    sqn: int


Event = SendRequest | StateChanged | Registered | Deregistered | Retrying | Failed | UsimSequence
