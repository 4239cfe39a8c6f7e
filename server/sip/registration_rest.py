"""What a registration at rest keeps: ``RegistrationRest``, a few hundred bytes.

A gateway's registrations spend almost all their life between two refreshes with
nothing in flight (issue 7: 10,000 of them in 2 KB each). ``Registration.rest``
takes from the machine exactly what the next request depends on, and
``Registration.resumed`` builds an equal machine from it and a configuration made
anew: the same Call-ID (in the configuration), the next CSeq, the granted expiry and
refresh time, the Request-URI, the stale bindings already removed, and the digest
answers, so that the refresh still goes out preemptively authorized.
"""

from __future__ import annotations

from dataclasses import dataclass

from .digest import Answer


@dataclass(frozen=True, slots=True)
class RegistrationRest:
    """A registered binding with nothing in flight, as the machine left it."""

    #: The CSeq of the last request sent: the next is one more (RFC 3261 §10.2.4).
    cseq: int
    #: Granted by the registrar, and when the refresh is due (the machine's clock).
    granted: int
    refresh_at: float
    #: The expiry asked for, when a 423 raised it above the configuration's (else 0).
    expires: int = 0
    #: The Request-URI, when a 3xx moved it from the configuration's registrar.
    request_uri: str | None = None
    #: Redirect targets not yet tried.
    alternatives: tuple[str, ...] = ()
    #: Stale bindings of ours already asked to be removed (each once).
    removed: frozenset[str] = frozenset()
    #: A 439 said the first hop lacks RFC 5626 outbound.
    plain: bool = False
    #: The digest answers to the registrar and to the proxy (``DigestSession.answers``).
    auth: tuple[Answer, ...] = ()
    proxy_auth: tuple[Answer, ...] = ()
