"""What a ``reg`` event subscription is configured with, and what it reports.

Kept apart from the machine (``reg_subscription.py``), as ``registration_events.py``
is from ``registration.py``: the session reads these without the machine's insides.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from .digest import Credentials
from .registration_events import SendRequest

CONTENT_TYPE: Final = "application/reginfo+xml"
#: ``SubscriptionTerminated.reason`` when ``unsubscribe`` ended it without a final NOTIFY.
UNSUBSCRIBED: Final = "unsubscribed"


@dataclass(frozen=True, slots=True)
class SubscriptionConfig:
    """One subscription: who, from where, along which route (see the session's notes).

    ``aor`` is the public identity subscribed to (Request-URI, To and From); ``route``
    the registration's Service-Route, after the outbound proxy if there is one.
    """

    aor: str
    contact: str
    call_id: str
    from_tag: str
    via_transport: str
    via_sent_by: str
    reliable: bool
    route: tuple[str, ...] = ()
    expires: int = 600000  # TS 24.229 §5.1.1.3
    user_agent: str = "sipprofiled"
    extra_headers: tuple[str, ...] = ()  # "Name: value", e.g. P-Access-Network-Info
    credentials: Credentials | None = None  # answers a 401/407


class SubscriptionState(enum.Enum):
    """Where the subscription is; TERMINATED is final (a new one needs a new Call-ID)."""

    IDLE = "idle"
    SUBSCRIBING = "subscribing"  # the first SUBSCRIBE awaits its final response
    ACTIVE = "active"
    UNSUBSCRIBING = "unsubscribing"  # SUBSCRIBE with Expires: 0 sent, final NOTIFY awaited
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Dialog:
    """The dialog of the subscription, as in-dialog requests need it (RFC 3261 §12)."""

    remote_tag: str
    route_set: tuple[str, ...]  # URIs, first hop first
    remote_target: str


@dataclass(frozen=True, slots=True)
class SendResponse:
    """Send ``data`` back the way the NOTIFY it answers came (its flow or source address)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A 2xx accepted the SUBSCRIBE (the first or a refresh) for ``expires`` seconds."""

    expires: int


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    """The subscription could not be made or kept: a final failure, no answer, transport.

    ``retry_after`` is the response's Retry-After in seconds, when it had one.
    """

    reason: str
    retry_after: int | None


@dataclass(frozen=True, slots=True)
class RegistrationDeactivated:
    """The network ended our binding; ``event`` is our contact's RFC 3680 event.

    ``deactivated`` (register again, once: TS 24.229 §5.1.1.7), ``rejected`` (do not),
    ``probation`` (again after ``retry_after``), ``unregistered``, ``expired``; or
    ``terminated`` when the registration of our AOR ended without naming our contact.
    """

    event: str
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationShortened:
    """Our binding now ends in ``expires`` seconds: re-register before (TS 24.229 §5.1.1.5A)."""

    expires: int


@dataclass(frozen=True, slots=True)
class SubscriptionTerminated:
    """The subscription ended: ``reason`` of Subscription-State ("" if none), or UNSUBSCRIBED.

    RFC 6665 §4.1.3 says what each reason allows: ``deactivated`` and ``timeout`` a new
    subscription at once, ``probation`` and ``giveup`` one after ``retry_after``.
    """

    reason: str
    retry_after: int | None = None


Event = (
    SendRequest
    | SendResponse
    | Subscribed
    | SubscriptionFailed
    | RegistrationDeactivated
    | RegistrationShortened
    | SubscriptionTerminated
)
