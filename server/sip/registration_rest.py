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

from typing import Final

from .digest import Answer

#: The empty set of removed bindings every registration starts with: one object, not
#: 216 bytes each (CPython makes a new empty frozenset at every ``frozenset()``).
NONE_REMOVED: Final[frozenset[str]] = frozenset()


class RegistrationRest:
    """A registered binding with nothing in flight, as the machine left it.

    A plain class, not a frozen dataclass: the compiled build keeps a dataclass's
    generated ``__init__`` interpreted, and one of these is made per registration.
    Nothing changes it once made.
    """

    __slots__ = (
        "alternatives",
        "auth",
        "cseq",
        "expires",
        "granted",
        "plain",
        "proxy_auth",
        "refresh_at",
        "removed",
        "request_uri",
    )

    def __init__(
        self,
        *,
        cseq: int,
        granted: int,
        refresh_at: float,
        expires: int = 0,
        request_uri: str | None = None,
        alternatives: tuple[str, ...] = (),
        removed: frozenset[str] = NONE_REMOVED,
        plain: bool = False,
        auth: tuple[Answer, ...] = (),
        proxy_auth: tuple[Answer, ...] = (),
    ) -> None:
        #: The CSeq of the last request sent: the next is one more (RFC 3261 §10.2.4).
        self.cseq = cseq
        #: Granted by the registrar, and when the refresh is due (the machine's clock).
        self.granted = granted
        self.refresh_at = refresh_at
        #: The expiry asked for, when a 423 raised it above the configuration's (else 0).
        self.expires = expires
        #: The Request-URI, when a 3xx moved it from the configuration's registrar.
        self.request_uri = request_uri
        #: Redirect targets not yet tried.
        self.alternatives = alternatives
        #: Stale bindings of ours already asked to be removed (each once).
        self.removed = removed
        #: A 439 said the first hop lacks RFC 5626 outbound.
        self.plain = plain
        #: The digest answers to the registrar and to the proxy (``DigestSession.answers``).
        self.auth = auth
        self.proxy_auth = proxy_auth
