"""How ``Registration`` sends and what the answers mean: the machine's second half.

``registration.py`` takes the inputs (register, deregister, responses, timers, a new
flow); this module holds what they lead to: writing and sending a REGISTER, reading a
final response (2xx, challenges, 423, 3xx, temporary and permanent failures) and the
outcomes (state changes, backoff, failed, deregistered). Split for size; one class
hierarchy, so the compiled build dispatches it as one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Final

from .digest import DigestSession
from .message import Response
from .register_auth import authorization_lines
from .register_request import RegisterWriter, sent_via
from .register_response import (
    answers,
    challenges,
    delta_seconds,
    granted_expiry,
    redirect_targets,
    registered_event,
    retry_after,
    stale_bindings,
)
from .register_security import SecurityAgreement
from .registration_config import BACKOFF_CAP, RegistrationConfig
from .registration_events import (
    AUTHENTICATION_FAILED,
    FORBIDDEN,
    REJECTED,
    SECURITY_AGREEMENT_FAILED,
    TIMEOUT,
    Deregistered,
    Event,
    Failed,
    Retrying,
    SendRequest,
    State,
    StateChanged,
    UsimSequence,
)
from .transaction import ClientTransaction, Send
from .uri import check_uri

#: Refresh when this share of the granted time has passed (linphone and baresip do too)
#: at the latest ...
REFRESH_AT: Final = 0.9
#: ... and at the earliest when this share has: each refresh falls at random in
#: between. Registrations made together (thousands at a gateway's start) would
#: otherwise refresh together for ever, a wave every 0.9 x expires; spread over 15 %
#: of the expiry (9 min of an hour), each refresh cycle flattens them further.
REFRESH_EARLIEST: Final = 0.75

#: Responses after which trying again later can help (RFC 3261 §21 and peers' practice).
_TEMPORARY: Final = frozenset({408, 480, 500, 503, 504})


# ``__init__`` written out (``init=False``): mypyc (setup.py) compiles it, while the one
# ``@dataclass`` generates stays interpreted, about 10x slower to construct.
@dataclass(slots=True, init=False)
class _Pending:
    """The request in flight and why it was sent."""

    tx: ClientTransaction
    branch: str
    cseq: int
    cseq_text: str  # the CSeq header value as sent
    expires: int
    deregister: bool
    request_uri: str

    def __init__(
        self,
        tx: ClientTransaction,
        branch: str,
        cseq: int,
        cseq_text: str,
        expires: int,
        deregister: bool,
        request_uri: str,
    ) -> None:
        self.tx = tx
        self.branch = branch
        self.cseq = cseq
        self.cseq_text = cseq_text
        self.expires = expires
        self.deregister = deregister
        self.request_uri = request_uri


@dataclass(slots=True, init=False)
class _Backoff:
    failures: int
    retry_at: float | None

    def __init__(self, failures: int = 0, retry_at: float | None = None) -> None:
        self.failures = failures
        self.retry_at = retry_at


class RegistrationBase:
    """The state of one registration and what requests and answers do to it."""

    config: RegistrationConfig
    state: State
    granted: int
    _writer: RegisterWriter | None
    _contact_checked: str | None
    _branch: Callable[[], str]
    _random: Callable[[], float]
    _cseq: int
    _expires: int
    _request_uri: str
    _alternatives: list[str]
    _pending: _Pending | None
    _refresh_at: float | None
    _backoff: _Backoff
    _want_registered: bool
    _auth: DigestSession | None
    _proxy_auth: DigestSession | None
    _removed: frozenset[str]
    _resend: bool
    _plain: bool
    _security: SecurityAgreement | None

    def register(self, now: float) -> list[Event]:
        """Register (``Registration.register``): a deregistration's end may ask for it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ sending

    def _next_hop(self) -> str:
        return self.config.route[0] if self.config.route else self._request_uri

    def _send(self, now: float, *, deregister: bool, remove: Sequence[str] = ()) -> list[Event]:
        self._resend = False  # whatever changed goes out now
        self._cseq += 1
        expires = 0 if deregister else self._expires
        branch = self._branch()
        writer = self._writer
        if writer is None or writer.config is not self.config:
            writer = self._writer = RegisterWriter(self.config)
        data = writer.write(
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
        branch = pending.branch
        return answers(response, self.config.call_id, pending.cseq, pending.cseq_text, branch,
                       sent_via(self.config, branch))  # fmt: skip

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
            return self._registered(response, now, pending.branch)
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

    def _registered(self, response: Response, now: float, branch: str) -> list[Event]:
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
        spread = REFRESH_AT - REFRESH_EARLIEST
        self._refresh_at = now + granted * (REFRESH_EARLIEST + spread * self._random())
        events = [] if self.state is State.REGISTERED else self._become(State.REGISTERED)
        config = self.config
        event = registered_event(response, granted, contact, config.aor, config.outbound,
                                 sent_via(self.config, branch))  # fmt: skip
        if self._security is not None:
            event = replace(event, negotiated_security=self._security.negotiated)
        events.append(event)
        stale = [u for u in stale_bindings(response, contact) if u not in self._removed]
        if stale or self._resend:  # an earlier run's or address's binding; new values
            self._removed = self._removed.union(stale)
            events += self._send(now, deregister=False, remove=stale)
        else:  # at rest until the refresh: the written lines (~0.8 KB) are made again then
            self._writer = None
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
        minimum = delta_seconds(value)  # not int(): see delta_seconds
        if minimum is None or minimum <= self._expires:
            return self._failed(REJECTED, f"423 Interval Too Brief with Min-Expires {value!r}")
        self._expires = minimum
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
