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


# The event classes write out their ``__init__`` (``init=False``): mypyc (setup.py)
# compiles a written-out ``__init__``, while the one ``@dataclass`` generates stays
# interpreted, about 10x slower to construct. ``Final`` keeps the fields read-only for
# mypy, as ``frozen=True`` did; ``unsafe_hash`` keeps the hash a frozen class had.
@dataclass(slots=True, init=False, unsafe_hash=True)
class SendRequest:
    """Send ``data`` towards ``next_hop`` (a SIP URI: first Route, else Request-URI)."""

    data: Final[bytes]
    branch: Final[str]
    next_hop: Final[str]

    def __init__(self, data: bytes, branch: str, next_hop: str) -> None:
        self.data = data
        self.branch = branch
        self.next_hop = next_hop


@dataclass(slots=True, init=False, unsafe_hash=True)
class StateChanged:
    """The registration entered ``state`` (a ``registration.State`` value)."""

    state: Final[str]

    def __init__(self, state: str) -> None:
        self.state = state


@dataclass(slots=True, init=False, unsafe_hash=True)
class Registered:
    """A 2xx bound our Contact for ``expires`` seconds (first time or refresh)."""

    expires: Final[int]
    contact: Final[str]
    aors: Final[tuple[str, ...]]
    service_route: Final[tuple[str, ...]]
    #: ``host:port`` the registrar saw us at (Via received/rport), "" when it did not say.
    public_address: Final[str]
    #: RFC 5626 ``Flow-Timer``: keep-alive at most this many seconds apart, if given.
    flow_timer: Final[int | None]
    #: The registrar uses RFC 5626 outbound for this binding (``Require: outbound``).
    outbound: Final[bool]
    #: The RFC 3329 mechanism agreed on with the first hop ("" for none).
    negotiated_security: Final[str]

    def __init__(
        self,
        expires: int,
        contact: str,
        aors: tuple[str, ...],
        service_route: tuple[str, ...],
        public_address: str = "",
        flow_timer: int | None = None,
        outbound: bool = False,
        negotiated_security: str = "",
    ) -> None:
        self.expires = expires
        self.contact = contact
        self.aors = aors
        self.service_route = service_route
        self.public_address = public_address
        self.flow_timer = flow_timer
        self.outbound = outbound
        self.negotiated_security = negotiated_security


@dataclass(slots=True, init=False, unsafe_hash=True)
class Deregistered:
    """Our binding is gone; ``problem`` says why the un-REGISTER did not succeed, if so."""

    problem: Final[str | None]

    def __init__(self, problem: str | None) -> None:
        self.problem = problem


@dataclass(slots=True, init=False, unsafe_hash=True)
class Retrying:
    """A temporary failure; the next attempt is at ``retry_at``.

    ``next_server``: the failure is the server's or the path's (no answer, the
    transport failed, 503), so RFC 3263 §4.3 says to try the next server the
    registrar's name resolved to, at once, rather than wait for this one. The session
    does that with ``rebind`` and ``register``; with no other server it waits.
    """

    error: Final[str]
    message: Final[str]
    retry_at: Final[float]
    next_server: Final[bool]

    def __init__(
        self, error: str, message: str, retry_at: float, next_server: bool = False
    ) -> None:
        self.error = error
        self.message = message
        self.retry_at = retry_at
        self.next_server = next_server


@dataclass(slots=True, init=False, unsafe_hash=True)
class Failed:
    """A permanent failure: nothing more is sent until asked again."""

    error: Final[str]
    message: Final[str]

    def __init__(self, error: str, message: str) -> None:
        self.error = error
        self.message = message


@dataclass(slots=True, init=False, unsafe_hash=True)
class UsimSequence:
    """The software USIM accepted an AKA challenge: ``sqn`` is its new highest SQN.

    To be stored before long (TS 33.102: never accept that SQN again, across restarts).
    """

    sqn: Final[int]

    def __init__(self, sqn: int) -> None:
        self.sqn = sqn


Event = SendRequest | StateChanged | Registered | Deregistered | Retrying | Failed | UsimSequence
