"""The REGISTER client of one profile (RFC 3261 §10), sans I/O.

``Registration`` is fed the time, responses and transport failures, and answers with
events: bytes to send, state changes, registered / deregistered / failed reports,
and the next instant it wants to be woken. The asyncio session around it owns the
sockets and the single timer; tests drive it with a fake clock and hand-made
responses.

What it gets right, because peers get it wrong (reference/peers.md): one Call-ID and
an increasing CSeq for the life of the binding; the granted expiry read from *our*
Contact in the 200 (the registrar lists every binding of the AOR) and a refresh at
90 % of it; 423 answered with Min-Expires; digest answered once per challenge, never
looping; 3xx followed by q-value; temporary failures retried with an exponential,
jittered backoff honouring Retry-After; permanent ones reported, not hammered; and a
deregistration that removes only our own Contact.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Final

from .digest import Credentials, DigestSession
from .message import Response
from .register_auth import authorization_lines
from .register_request import RegisterWriter
from .register_response import (
    answers,
    challenges,
    granted_expiry,
    redirect_targets,
    registered_event,
    retry_after,
    stale_bindings,
)
from .register_security import SecurityAgreement
from .registration_config import BACKOFF_BASE, BACKOFF_CAP, RegistrationConfig
from .registration_events import (
    AUTHENTICATION_FAILED,
    FORBIDDEN,
    REJECTED,
    SECURITY_AGREEMENT_FAILED,
    TIMEOUT,
    TRANSPORT_FAILED,
    Deregistered,
    Event,
    Failed,
    Retrying,
    SendRequest,
    State,
    StateChanged,
    UsimSequence,
)
from .transaction import ClientTransaction, ResponseReceived, Send, TimedOut, TransportFailed
from .uri import check_uri

__all__ = [
    "AUTHENTICATION_FAILED",
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "FORBIDDEN",
    "REFRESH_AT",
    "REJECTED",
    "TIMEOUT",
    "TRANSPORT_FAILED",
    "Registration",
    "RegistrationConfig",
    "State",
]

#: Refresh when this share of the granted time has passed (linphone and baresip do too).
REFRESH_AT: Final = 0.9

#: Responses after which trying again later can help (RFC 3261 §21 and peers' practice).
_TEMPORARY: Final = frozenset({408, 480, 500, 503, 504})


@dataclass(slots=True)
class _Pending:
    """The request in flight and why it was sent."""

    tx: ClientTransaction
    branch: str
    cseq: int
    cseq_text: str  # the CSeq header value as sent
    expires: int
    deregister: bool
    request_uri: str


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    retry_at: float | None = None


class Registration:
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
        self._writer = RegisterWriter(config)  # rebuilt when config is replaced
        self._contact_checked: str | None = None  # our Contact, known to be a SIP URI
        self.state = State.UNREGISTERED
        self._branch = branch_factory
        self._random = random
        self._cseq = config.first_cseq - 1
        self._expires = config.expires
        self._request_uri = config.registrar
        self._alternatives: list[str] = []
        self._pending: _Pending | None = None
        self._refresh_at: float | None = None
        self._backoff = _Backoff()
        self._want_registered = False
        kwargs = {"cnonce_factory": cnonce_factory} if cnonce_factory else {}
        self._digest_kwargs = kwargs
        self._auth = DigestSession(config.credentials, **kwargs) if config.credentials else None
        self._proxy_auth = (
            DigestSession(config.proxy_credentials, **kwargs) if config.proxy_credentials else None
        )
        self.granted: int = 0
        #: Stale bindings of ours already asked to be removed (once each: a registrar
        #: that keeps them must not make us loop).
        self._removed: set[str] = set()
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
        self._auth = DigestSession(credentials, **self._digest_kwargs) if credentials else None
        self._proxy_auth = (
            DigestSession(proxy_credentials, **self._digest_kwargs) if proxy_credentials else None
        )

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
        """When ``timer`` must next be called, or None."""
        candidates = [self._refresh_at, self._backoff.retry_at]
        if self._pending is not None:
            candidates.append(self._pending.tx.next_deadline())
        armed = [c for c in candidates if c is not None]
        return min(armed) if armed else None

    # ------------------------------------------------------------------ sending

    def _next_hop(self) -> str:
        return self.config.route[0] if self.config.route else self._request_uri

    def _send(self, now: float, *, deregister: bool, remove: Sequence[str] = ()) -> list[Event]:
        self._resend = False  # whatever changed goes out now
        self._cseq += 1
        expires = 0 if deregister else self._expires
        branch = self._branch()
        if self._writer.config is not self.config:
            self._writer = RegisterWriter(self.config)
        data = self._writer.write(
            request_uri=self._request_uri,
            branch=branch,
            cseq=self._cseq,
            expires=expires,
            authorization=self._authorization(),
            remove=remove,
        )
        tx = ClientTransaction(data, reliable=self.config.reliable)
        cseq = self._cseq
        self._pending = _Pending(
            tx, branch, cseq, f"{cseq} REGISTER", expires, deregister, self._request_uri
        )
        state = State.DEREGISTERING if deregister else State.REGISTERING
        events = [] if self.state is State.REGISTERED and not deregister else self._become(state)
        next_hop = self._next_hop()
        for event in tx.start(now):
            if isinstance(event, Send):
                events.append(SendRequest(event.data, branch, next_hop))
        return events

    def _authorization(self) -> Iterator[tuple[str, str]]:
        """The lines that change per request: sec-agree's, then the digest answers."""
        lines = authorization_lines(self._auth, self._proxy_auth, self.config, self._request_uri)
        if self._security is None:  # the usual case: no second generator to go through
            return lines
        return itertools.chain(self._security.lines(), lines)

    # ------------------------------------------------------------------ responses

    def _matches(self, response: Response, pending: _Pending) -> bool:
        """Whether ``response`` answers the request in flight (RFC 3261 §17.1.3)."""
        call_id = self.config.call_id
        return answers(response, call_id, pending.cseq, pending.cseq_text, pending.branch)

    def _on_final(self, response: Response, now: float) -> list[Event]:
        pending = self._pending
        assert pending is not None
        self._pending = None
        status = response.status
        security = self._security
        if security is not None and status >= 400:  # 494, 420, or a 401 with its list
            outcome = security.on_response(response)
            if outcome == "retry":
                return self._send(now, deregister=pending.deregister)
            if outcome == "failed":
                if pending.deregister:
                    return self._deregistered(security.failure, now)
                return self._failed(SECURITY_AGREEMENT_FAILED, security.failure)
        if 200 <= status < 300:
            if pending.deregister:
                return self._deregistered(None, now)
            return self._registered(response, now)
        if status in (401, 407):
            return self._challenged(response, now, pending)
        if status == 423 and not pending.deregister:
            return self._interval_too_brief(response, now)
        if status == 439 and self.config.outbound and not pending.deregister:
            # RFC 5626 §4.2.2: the first hop lacks outbound; register without reg-id
            self._plain = True
            self.config = replace(self.config, outbound=False)
            return self._send(now, deregister=False)
        if 300 <= status < 400 and not pending.deregister:
            return self._redirected(response, now)
        reason = f"{status} {response.reason}".strip()
        if pending.deregister:
            return self._deregistered(f"the registrar answered {reason}", now)
        if status in _TEMPORARY or 500 <= status < 600:
            return self._temporary(now, TIMEOUT if status == 408 else REJECTED, reason,
                                   retry_after(response), next_server=status == 503)  # fmt: skip
        if status == 403:
            return self._failed(FORBIDDEN, f"the registrar refused the registration: {reason}")
        return self._failed(REJECTED, f"the registrar rejected the registration: {reason}")

    def _registered(self, response: Response, now: float) -> list[Event]:
        contact = self.config.contact
        if contact != self._contact_checked:
            check_uri(contact)  # SipParseError, as parse_uri says, if our Contact is none
            self._contact_checked = contact
        granted = granted_expiry(response, contact, self._expires)
        if granted is None:
            return self._failed(
                REJECTED, "the registrar answered 200 OK but did not list our Contact"
            )
        if granted <= 0:
            return self._failed(REJECTED, "the registrar granted an expiry of 0 seconds")
        self.granted = granted
        self._backoff = _Backoff()
        self._refresh_at = now + granted * REFRESH_AT
        events = [] if self.state is State.REGISTERED else self._become(State.REGISTERED)
        config = self.config
        event = registered_event(response, granted, contact, config.aor, config.outbound)
        if self._security is not None:
            event = replace(event, negotiated_security=self._security.negotiated)
        events.append(event)
        stale = [u for u in stale_bindings(response, contact) if u not in self._removed]
        if stale or self._resend:  # an earlier run's or address's binding; new values
            self._removed.update(stale)
            events += self._send(now, deregister=False, remove=stale)
        return events

    def _challenged(self, response: Response, now: float, pending: _Pending) -> list[Event]:
        proxy = response.status == 407
        session = self._proxy_auth if proxy else self._auth
        if session is None and proxy:
            session = self._auth  # the registrar's credentials, offered to the proxy
        if session is None:
            return self._failed(
                AUTHENTICATION_FAILED,
                "the registrar asks for credentials but the profile has none",
            )
        if session.on_challenge(challenges(response, proxy=proxy)) == "failed":
            who = "proxy" if proxy else "registrar"
            return self._failed(
                AUTHENTICATION_FAILED,
                session.failure
                or f"the {who} did not accept the credentials (wrong user name, realm or password)",
            )
        sqn = session.take_sqn()
        accepted: list[Event] = [] if sqn is None else [UsimSequence(sqn)]
        return accepted + self._send(now, deregister=pending.deregister)

    def _interval_too_brief(self, response: Response, now: float) -> list[Event]:
        value = (response.headers.get("Min-Expires") or "").strip()
        if not value.isdigit() or int(value) <= self._expires:
            return self._failed(REJECTED, f"423 Interval Too Brief with Min-Expires {value!r}")
        self._expires = int(value)
        return self._send(now, deregister=False)

    def _redirected(self, response: Response, now: float) -> list[Event]:
        self._alternatives = redirect_targets(response) + self._alternatives
        if not self._alternatives:
            return self._failed(REJECTED, f"{response.status} redirect without a Contact")
        self._request_uri = self._alternatives.pop(0)
        return self._send(now, deregister=False)

    # ------------------------------------------------------------------ outcomes

    def _become(self, state: State) -> list[Event]:
        if state is self.state:
            return []
        self.state = state
        return [StateChanged(state._value_)]  # .value, without the descriptor call

    def _temporary(
        self,
        now: float,
        error: str,
        message: str,
        retry_after: float | None,
        *,
        next_server: bool = False,
    ) -> list[Event]:
        backoff = self._backoff
        retries = self.config.temporary_retries
        if retries is not None and backoff.failures >= retries:
            return self._failed(error, f"{message} (tried {retries + 1} times)")
        delay = min(self.config.retry_base * 2**backoff.failures, BACKOFF_CAP)
        delay *= 0.5 + 0.5 * self._random()
        if retry_after is not None:
            delay = retry_after
        backoff.failures += 1
        backoff.retry_at = now + delay
        self._refresh_at = None
        retrying = Retrying(error, message, backoff.retry_at, next_server)
        return [*self._become(State.RETRYING), retrying]

    def _failed(self, error: str, message: str) -> list[Event]:
        self._refresh_at = None
        self._backoff = _Backoff()
        self._want_registered = False
        return [*self._become(State.FAILED), Failed(error, message)]

    def _deregistered(self, problem: str | None, now: float) -> list[Event]:
        self.granted = 0
        events = [*self._become(State.UNREGISTERED), Deregistered(problem)]
        if self._want_registered:  # register() arrived while we were deregistering
            events += self.register(now)
        return events
