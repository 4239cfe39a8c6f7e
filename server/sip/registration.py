"""The REGISTER client of one profile (RFC 3261 §10), sans I/O.

``Registration`` is fed the time, responses and transport failures, and answers with
events: bytes to send, state changes, registered / deregistered / failed reports,
and the next instant it wants to be woken. The asyncio session around it owns the
sockets and the single timer; tests drive it with a fake clock and hand-made
responses. This module takes the inputs; ``registration_outcomes`` sends and reads
the answers (one class hierarchy, split for size).

What it gets right, because peers get it wrong (reference/peers.md): one Call-ID and
an increasing CSeq for the life of the binding; the granted expiry read from *our*
Contact in the 200 (the registrar lists every binding of the AOR) and a refresh at
90 % of it; 423 answered with Min-Expires; digest answered once per challenge, never
looping; 3xx followed by q-value; temporary failures retried with an exponential,
jittered backoff honouring Retry-After; permanent ones reported, not hammered; and a
deregistration that removes only our own Contact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .digest import Answer, Credentials, DigestSession, new_cnonce
from .message import Response
from .register_security import SecurityAgreement
from .registration_config import BACKOFF_BASE, BACKOFF_CAP, RegistrationConfig
from .registration_events import (
    AUTHENTICATION_FAILED,
    FORBIDDEN,
    REJECTED,
    TIMEOUT,
    TRANSPORT_FAILED,
    Event,
    SendRequest,
    State,
)
from .registration_outcomes import REFRESH_AT, REFRESH_EARLIEST, RegistrationBase, _Backoff
from .registration_rest import NONE_REMOVED, RegistrationRest
from .transaction import ResponseReceived, Send, TimedOut, TransportFailed

__all__ = [
    "AUTHENTICATION_FAILED",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "FORBIDDEN",
    "REFRESH_AT",
    "REFRESH_EARLIEST",
    "REJECTED",
    "TIMEOUT",
    "TRANSPORT_FAILED",
    "Registration",
    "RegistrationConfig",
    "RegistrationRest",
    "State",
]


class Registration(RegistrationBase):
    """One binding at one registrar."""

    def __init__(
        self,
        config: RegistrationConfig,
        *,
        branch_factory: Callable[[], str],
        random: Callable[[], float],
        cnonce_factory: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self._writer = None  # written on the first send, again after a change of config
        self._contact_checked = None  # our Contact, known to be a SIP URI
        self.state = State.UNREGISTERED
        self._branch = branch_factory
        self._random = random
        self._cseq = config.first_cseq - 1
        self._expires = config.expires
        self._request_uri = config.registrar
        self._alternatives = []
        self._pending = None
        self._refresh_at = None
        self._backoff = _Backoff()
        self._want_registered = False
        self._cnonce = cnonce_factory or new_cnonce
        self._auth = self._digest(config.credentials)
        self._proxy_auth = self._digest(config.proxy_credentials)
        self.granted = 0
        #: Stale bindings of ours already asked to be removed (once each: a registrar
        #: that keeps them must not make us loop).
        self._removed = NONE_REMOVED  # shared until there is one
        #: The configuration changed while a REGISTER was in flight: send it again.
        self._resend = False
        #: A 439 said the first hop lacks RFC 5626 outbound: no reg-id from then on.
        self._plain = False
        #: RFC 3329 security agreement with the first hop, when the profile asks for it.
        self._security = (
            SecurityAgreement(tls=config.via_transport == "TLS")
            if config.security_agreement
            else None
        )

    # ------------------------------------------------------------------ rest

    def at_rest(self) -> bool:
        """Registered, wanted, and nothing to do until the refresh.

        Nothing in flight or waiting to be sent again, no backoff, and no RFC 3329
        agreement (whose negotiated state lives with the connection's security).
        """
        return (
            self.state is State.REGISTERED
            and self._pending is None
            and self._want_registered
            and not self._resend
            and self._backoff.retry_at is None
            and self._security is None
            and self._refresh_at is not None
        )

    def rest(self) -> RegistrationRest:
        """What ``resumed`` needs to go on as this machine would (``at_rest`` only)."""
        if not self.at_rest():
            raise ValueError("only a registration at rest can be laid to rest")
        assert self._refresh_at is not None  # at_rest says so
        config = self.config
        return RegistrationRest(
            cseq=self._cseq,
            granted=self.granted,
            refresh_at=self._refresh_at,
            expires=self._expires if self._expires != config.expires else 0,
            request_uri=self._request_uri if self._request_uri != config.registrar else None,
            alternatives=tuple(self._alternatives),
            removed=self._removed,
            plain=self._plain,
            auth=self._auth.answers() if self._auth is not None else (),
            proxy_auth=self._proxy_auth.answers() if self._proxy_auth is not None else (),
        )

    @classmethod
    def resumed(
        cls,
        config: RegistrationConfig,
        rest: RegistrationRest,
        *,
        branch_factory: Callable[[], str],
        random: Callable[[], float],
        cnonce_factory: Callable[[], str] | None = None,
    ) -> Registration:
        """The machine ``rest`` was taken from, registered, on ``config``.

        ``config`` is made anew from the same profile and flow, with the same Call-ID
        and From tag: what the machine sends next is what it would have sent.
        """
        machine = cls(config, branch_factory=branch_factory, random=random,
                      cnonce_factory=cnonce_factory)  # fmt: skip
        machine.state = State.REGISTERED
        machine._want_registered = True
        machine._cseq = rest.cseq
        machine.granted = rest.granted
        machine._refresh_at = rest.refresh_at
        machine._expires = rest.expires or config.expires
        machine._request_uri = rest.request_uri or config.registrar
        machine._alternatives = list(rest.alternatives)
        machine._removed = rest.removed
        if rest.plain:
            machine._plain = True
            machine.config = replace(config, outbound=False)
        machine._auth = machine._digest(config.credentials, rest.auth)
        machine._proxy_auth = machine._digest(config.proxy_credentials, rest.proxy_auth)
        return machine

    def _digest(
        self, credentials: Credentials | None, answers: tuple[Answer, ...] = ()
    ) -> DigestSession | None:
        """The digest state answering with ``credentials`` (None: no credentials)."""
        if credentials is None:
            return None
        return DigestSession(credentials, cnonce_factory=self._cnonce, answers=answers)

    # ------------------------------------------------------------------ inputs

    def register(self, now: float) -> list[Event]:
        """Register (or refresh at once) and stay registered until ``deregister``."""
        self._want_registered = True
        self._backoff.retry_at = None
        if self._pending is not None and not self._pending.deregister:
            return []  # already on its way
        return self._send(now, deregister=False)

    def deregister(self, now: float) -> list[Event]:
        """Remove our binding (Expires: 0 for our Contact only)."""
        self._want_registered = False
        self._refresh_at = None
        self._backoff = _Backoff()
        if self.state in (State.UNREGISTERED, State.FAILED) and self._pending is None:
            return []
        if self.state is State.RETRYING and self._pending is None:
            return self._deregistered(None, now)
        return self._send(now, deregister=True)

    def update(self, config: RegistrationConfig, now: float) -> list[Event]:
        """New Contact parameters or headers: a registered binding is updated in place."""
        self.config = self._same_dialog(config)
        if self.state is State.REGISTERED and self._pending is None:
            return self._send(now, deregister=False)
        if self._pending is not None and not self._pending.deregister:
            self._resend = True  # the request in flight still has the old values
        return []

    def _same_dialog(self, config: RegistrationConfig) -> RegistrationConfig:
        """``config`` in this registration's dialog (Call-ID, From tag), 439 kept."""
        outbound = config.outbound and not self._plain
        old = self.config
        return replace(config, call_id=old.call_id, from_tag=old.from_tag, outbound=outbound)

    def set_credentials(
        self, credentials: Credentials | None, proxy_credentials: Credentials | None
    ) -> None:
        """New credentials: kept registrations stay, the next challenge gets these."""
        self.config = replace(
            self.config, credentials=credentials, proxy_credentials=proxy_credentials
        )
        self._auth = self._digest(credentials)
        self._proxy_auth = self._digest(proxy_credentials)

    def rebind(
        self, config: RegistrationConfig, now: float, *, unsent: str | None = None
    ) -> list[Event]:
        """Continue on a new flow (new connection or next hop): re-send what was due.

        A request in flight on the old flow is abandoned and sent again, with the new
        flow's Via and Contact; a registered binding is refreshed through the new
        flow. Call-ID, From tag and the current Request-URI are kept; ``unsent`` names
        the branch of a request that never left, whose CSeq may then be used again.
        """
        pending = self._pending
        self._pending = None
        if pending is not None and pending.branch == unsent:
            self._cseq = pending.cseq - 1
        self.config = self._same_dialog(config)
        if pending is not None:
            return self._send(now, deregister=pending.deregister)
        if self.state is State.REGISTERED and self._want_registered:
            return self._send(now, deregister=False)
        return []

    def suspend(self) -> None:
        """The network is gone: drop what is in flight and every timer; keep the dialog.

        Nothing can be sent, so nothing is. Call-ID, CSeq and the last Contact stay:
        when the network returns, ``rebind`` and ``register`` refresh the binding (same
        Call-ID, higher CSeq), and one left at an old address is removed as stale.
        """
        self._pending = None
        self._refresh_at = None
        self._backoff = _Backoff()
        self._resend = False
        self.state = State.UNREGISTERED
        self.granted = 0

    def shorten(self, expires: int, now: float) -> list[Event]:
        """The network shortened our binding to ``expires`` seconds: refresh earlier.

        An IMS reg-event NOTIFY says so (RFC 3680 ``shortened``); the refresh moves to
        90 % of the new time if that is sooner, or happens now if none is left.
        """
        if self.state is not State.REGISTERED:
            return []
        if expires <= 0:
            return self.register(now)
        due = now + REFRESH_AT * expires
        if self._refresh_at is None or due < self._refresh_at:
            self._refresh_at = due
        return []

    def receive(self, response: Response, now: float) -> list[Event]:
        """A response arrived on the transport; strays and retransmissions are ignored."""
        pending = self._pending
        if pending is None or not self._matches(response, pending):
            return []
        events: list[Event] = []
        for event in pending.tx.receive(response, now):
            if isinstance(event, ResponseReceived) and event.final:
                events += self._on_final(response, now)
        return events

    def transport_failed(self, reason: str, now: float) -> list[Event]:
        """The transport could not send, or the connection carrying us closed."""
        pending = self._pending
        if pending is not None:
            pending.tx.transport_error(reason)
            self._pending = None
            if pending.deregister:
                return self._deregistered(f"transport failure: {reason}", now)
            message = f"transport failure: {reason}"
            return self._temporary(now, TRANSPORT_FAILED, message, None, next_server=True)
        if self.state is State.REGISTERED:
            # the flow our binding lives on is gone: register again on a new one
            return self._send(now, deregister=False)
        return []

    def timer(self, now: float) -> list[Event]:
        """Handle whatever is due at ``now``."""
        events: list[Event] = []
        pending = self._pending
        if pending is not None:
            for event in pending.tx.timer(now):
                if isinstance(event, Send):
                    events.append(SendRequest(event.data, pending.branch, self._next_hop()))
                elif isinstance(event, TimedOut):
                    self._pending = None
                    if pending.deregister:
                        return events + self._deregistered("no answer from the registrar", now)
                    message = f"no answer from {pending.request_uri} in 32 s"
                    events += self._temporary(now, TIMEOUT, message, None, next_server=True)
                elif isinstance(event, TransportFailed):
                    return events + self.transport_failed(event.reason, now)
            if self._pending is not None and self._pending.tx.terminated:
                self._pending = None
        if self._refresh_at is not None and now >= self._refresh_at and self._pending is None:
            self._refresh_at = None
            events += self._send(now, deregister=False)
        retry_at = self._backoff.retry_at
        if retry_at is not None and now >= retry_at and self._pending is None:
            self._backoff.retry_at = None
            events += self._send(now, deregister=False)
        return events

    def next_deadline(self) -> float | None:
        """When ``timer`` must next be called, or None.

        Without building lists: the session asks after every event it feeds.
        """
        best = self._refresh_at
        retry = self._backoff.retry_at
        if retry is not None and (best is None or retry < best):
            best = retry
        if self._pending is not None:
            tx = self._pending.tx.next_deadline()
            if tx is not None and (best is None or tx < best):
                best = tx
        return best
