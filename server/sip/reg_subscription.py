"""The subscriber side of the reg event package (RFC 3680; RFC 6665; TS 24.229 §5.1.1.3).

After an IMS registration the UE subscribes to the state of its own registration, so
that the network can tell it when the binding was deactivated (the S-CSCF dropped it,
TS 24.229 §5.1.1.7) or shortened (re-authenticate early, §5.1.1.5A) instead of leaving
it to find out at its next refresh. ``RegSubscription`` is that one subscription and
its dialog, sans I/O like ``Registration``: fed the time, responses and NOTIFYs, it
answers with events (requests and responses to send, what the network said) and the
next instant it wants to be woken.

What it gets right: the SUBSCRIBE goes along the registration's route set and is
refreshed at 90 % of what was granted, in the dialog, with an increasing CSeq; a NOTIFY
that arrives before the 2xx creates the dialog (RFC 6665 §4.1.2.4); every NOTIFY is
answered once through a server transaction, so a retransmission gets the same answer
and no second event; documents are applied in version order (RFC 3680 §5.2); and only
our own contact counts, never another UE's of the same identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from .digest import DigestSession, new_cnonce
from .errors import SipParseError
from .message import Headers, Request, Response
from .params import Params, find_param, parse_params
from .reg_subscription_events import (
    CONTENT_TYPE,
    UNSUBSCRIBED,
    Dialog,
    Event,
    RegistrationDeactivated,
    RegistrationShortened,
    SendResponse,
    Subscribed,
    SubscriptionConfig,
    SubscriptionFailed,
    SubscriptionState,
    SubscriptionTerminated,
)
from .reginfo import BindingView, ContactInfo, Reginfo, ReginfoError, parse_reginfo
from .register_response import challenges, delta_seconds, retry_after, uris
from .registration import REFRESH_AT
from .registration_events import SendRequest
from .server_transaction import ServerTransaction, response_bytes, transaction_key
from .transaction import T1, ClientTransaction, ResponseReceived, Send, TimedOut, TransportFailed
from .uri import check_uri, parse_uri
from .via import via_branch

__all__ = [
    "CONTENT_TYPE",
    "UNSUBSCRIBED",
    "Dialog",
    "Event",
    "RegSubscription",
    "RegistrationDeactivated",
    "RegistrationShortened",
    "SendRequest",
    "SendResponse",
    "Subscribed",
    "SubscriptionConfig",
    "SubscriptionFailed",
    "SubscriptionState",
    "SubscriptionTerminated",
    "response_bytes",
]

#: RFC 6665 §4.1.2.2: a refresh answered with one of these ends the subscription; after
#: any other failure it stays valid until it expires, so the refresh is tried again.
_ENDS_SUBSCRIPTION: Final = frozenset(
    {404, 405, 410, 416, 480, 481, 482, 483, 484, 485, 489, 501, 604}
)
#: How long the final NOTIFY is waited for once an un-SUBSCRIBE is answered.
_LINGER: Final = 64 * T1


@dataclass(slots=True)
class _Pending:
    """The SUBSCRIBE in flight."""

    tx: ClientTransaction
    branch: str
    cseq: int
    expires: int
    next_hop: str


def _subscription_state(value: str) -> tuple[str, Params]:
    """``active;expires=60`` as ``("active", (("expires", "60"),))``."""
    head, semicolon, rest = value.partition(";")
    return head.strip(" \t").lower(), parse_params(semicolon + rest) if semicolon else ()


def _loose(uri: str) -> bool:
    """Whether a route is a loose router (``;lr``, RFC 3261 §16.12.1.1)."""
    try:
        return parse_uri(uri).has_param("lr")
    except SipParseError:
        return True  # not a SIP URI: cannot be a Request-URI of ours either


class RegSubscription:
    """One reg-event subscription of one public identity, and its dialog."""

    def __init__(
        self,
        config: SubscriptionConfig,
        *,
        branch_factory: Callable[[], str],
        cnonce_factory: Callable[[], str] | None = None,
    ) -> None:
        """``SipParseError`` unless ``config.contact`` is a SIP URI (it is matched as one)."""
        self.config = config
        self._branch = branch_factory
        check_uri(config.contact)
        self._state = SubscriptionState.IDLE
        self._dialog: Dialog | None = None
        self._cseq = 0
        self._remote_cseq: int | None = None
        self._pending: _Pending | None = None
        self._asked = config.expires  # raised by a 423
        self._established = False  # a 2xx has accepted a SUBSCRIBE
        self._unsubscribe_wanted = False
        self._refresh_at: float | None = None
        self._expires_at: float | None = None
        self._linger_until: float | None = None
        self._servers: dict[tuple[str, ...], ServerTransaction] = {}
        self._view = BindingView(config.aor, config.contact)
        creds = config.credentials
        cnonces = cnonce_factory or new_cnonce
        self._auth = None if creds is None else DigestSession(creds, cnonce_factory=cnonces)

    @property
    def state(self) -> SubscriptionState:
        """Where the subscription is."""
        return self._state

    @property
    def dialog(self) -> Dialog | None:
        """The dialog, once a 2xx or a NOTIFY has created it."""
        return self._dialog

    # ------------------------------------------------------------------ requests

    def subscribe(self, now: float) -> list[Event]:
        """Send the SUBSCRIBE; on an active subscription, refresh it at once."""
        if self._state is SubscriptionState.TERMINATED:
            raise RuntimeError("the subscription is over: make a new one, with a new Call-ID")
        if self._pending is not None or self._state is SubscriptionState.UNSUBSCRIBING:
            return []
        if self._state is SubscriptionState.IDLE:
            self._state = SubscriptionState.SUBSCRIBING
        return self._send(now, self._asked)

    def unsubscribe(self, now: float) -> list[Event]:
        """SUBSCRIBE with Expires: 0 in the dialog (once the first SUBSCRIBE is answered).

        The final NOTIFY is still answered; the end is ``SubscriptionTerminated`` (or
        ``SubscriptionFailed`` when the first SUBSCRIBE fails meanwhile).
        """
        state = self._state
        if state is SubscriptionState.IDLE:
            self._state = SubscriptionState.TERMINATED
            return []
        if state is SubscriptionState.SUBSCRIBING:
            self._unsubscribe_wanted = True
            return []
        if state is SubscriptionState.ACTIVE:
            return self._unsubscribe_now(now)
        return []

    def _unsubscribe_now(self, now: float) -> list[Event]:
        self._state = SubscriptionState.UNSUBSCRIBING
        self._refresh_at = None
        return self._send(now, 0)

    def _send(self, now: float, expires: int) -> list[Event]:
        """A new SUBSCRIBE (a request in flight is abandoned: its answer no longer matters)."""
        self._cseq += 1
        branch = self._branch()
        data, next_hop = self._request(branch, expires)
        tx = ClientTransaction(data, reliable=self.config.reliable)
        self._pending = _Pending(tx, branch, self._cseq, expires, next_hop)
        return [SendRequest(e.data, branch, next_hop) for e in tx.start(now) if isinstance(e, Send)]

    def _request(self, branch: str, expires: int) -> tuple[bytes, str]:
        """The SUBSCRIBE's bytes and its next hop (the first Route, else the Request-URI)."""
        c = self.config
        dialog = self._dialog
        if dialog is None:
            uri, routes, to = c.aor, c.route, f"<{c.aor}>"
        elif dialog.route_set and not _loose(dialog.route_set[0]):  # RFC 3261 §12.2.1.1
            uri, routes = dialog.route_set[0], (*dialog.route_set[1:], dialog.remote_target)
            to = f"<{c.aor}>;tag={dialog.remote_tag}"
        else:
            uri, routes = dialog.remote_target, dialog.route_set
            to = f"<{c.aor}>;tag={dialog.remote_tag}"
        h = Headers()
        h.add("Via", f"SIP/2.0/{c.via_transport} {c.via_sent_by};branch={branch};rport")
        h.add("Max-Forwards", "70")
        for route in routes:
            h.add("Route", f"<{route}>")
        for name, value in [
            ("From", f"<{c.aor}>;tag={c.from_tag}"),
            ("To", to),
            ("Call-ID", c.call_id),
            ("CSeq", f"{self._cseq} SUBSCRIBE"),
            ("Contact", f"<{c.contact}>"),
            ("Event", "reg"),
            ("Accept", CONTENT_TYPE),
            ("Expires", str(expires)),
            ("User-Agent", c.user_agent),
        ]:
            h.add(name, value)
        for text in c.extra_headers:
            name, _, value = text.partition(":")
            h.add(name.strip(), value.strip())
        if self._auth is not None:
            for name, value in self._auth.authorize(method="SUBSCRIBE", uri=uri):
                h.add(name, value)
        h.add("Content-Length", "0")
        return Request("SUBSCRIBE", uri, h).to_bytes(), routes[0] if routes else uri

    # ------------------------------------------------------------------ responses

    def receive_response(self, response: Response, now: float) -> list[Event]:
        """A response arrived; those not to the SUBSCRIBE in flight are ignored."""
        pending = self._pending
        if pending is None or not self._answers(response, pending):
            return []
        events: list[Event] = []
        for event in pending.tx.receive(response, now):
            if isinstance(event, ResponseReceived) and event.final:
                events += self._final(response, pending, now)
        return events

    def _answers(self, response: Response, pending: _Pending) -> bool:
        """RFC 3261 §17.1.3: the branch of the top Via, and the CSeq (number and method)."""
        try:
            vias = response.headers.get_all("Via")
            return (
                bool(vias)
                and via_branch(vias[0]) == pending.branch
                and response.call_id == self.config.call_id
                and response.cseq == (pending.cseq, "SUBSCRIBE")
            )
        except SipParseError:
            return False

    def _final(self, response: Response, pending: _Pending, now: float) -> list[Event]:
        self._pending = None
        status = response.status
        if 200 <= status < 300:
            return self._accepted(response, pending, now)
        if status in (401, 407) and self._auth is not None:
            if self._auth.on_challenge(challenges(response, proxy=status == 407)) == "retry":
                return self._send(now, pending.expires)
        elif status == 423 and pending.expires:
            minimum = delta_seconds(response.headers.get("Min-Expires"))
            if minimum is not None and minimum > self._asked:
                self._asked = minimum
                return self._send(now, minimum)
        after = retry_after(response)
        reason = f"{status} {response.reason}".strip()
        fatal = status in _ENDS_SUBSCRIPTION
        return self._unsuccessful(
            pending, reason, None if after is None else int(after), fatal, now
        )

    def _accepted(self, response: Response, pending: _Pending, now: float) -> list[Event]:
        if pending.expires == 0:  # the un-SUBSCRIBE: the final NOTIFY is still to come
            self._linger_until = now + _LINGER
            return []
        if self._dialog is None:
            try:
                tag = response.to.param("tag")
            except SipParseError:
                tag = None
            if not tag:
                return self._end(SubscriptionFailed("the 2xx to SUBSCRIBE has no To tag", None))
            route_set = uris(response.headers.get_all("Record-Route"))[::-1]  # §12.1.2
            target = uris(response.headers.get_all("Contact"))
            self._dialog = Dialog(tag, route_set, target[0] if target else self.config.aor)
        granted = delta_seconds(response.headers.get("Expires"))
        if granted is None:  # RFC 6665 makes Expires mandatory; else a NOTIFY's, or ours
            notified = self._expires_at if not self._established else None
            granted = pending.expires if notified is None else max(0, round(notified - now))
        self._established = True
        if self._state is SubscriptionState.SUBSCRIBING:
            self._state = SubscriptionState.ACTIVE
        self._expires_at = now + granted
        self._refresh_at = now + granted * REFRESH_AT if granted else None
        events: list[Event] = [Subscribed(granted)]
        if self._unsubscribe_wanted:
            events += self._unsubscribe_now(now)
        return events

    def _unsuccessful(
        self, pending: _Pending, reason: str, after: int | None, fatal: bool, now: float
    ) -> list[Event]:
        """A SUBSCRIBE failed (final response, no answer or transport).

        A failed refresh leaves the subscription valid until it expires (RFC 6665
        §4.1.2.2) unless the response says it is gone: the refresh is tried again,
        half-way to the expiry (or after Retry-After, if sooner), until too little is left.
        """
        if pending.expires == 0:
            return self._end(SubscriptionTerminated(UNSUBSCRIBED))
        if not self._established or fatal:
            return self._end(SubscriptionFailed(reason, after))
        left = (self._expires_at or now) - now
        if left <= _LINGER:
            return self._end(SubscriptionFailed(f"{reason}; the subscription lapses", after))
        self._refresh_at = now + (left / 2 if after is None else min(after, left / 2))
        return []

    def transport_failed(self, reason: str, now: float) -> list[Event]:
        """The SUBSCRIBE could not be sent, or the connection carrying it closed."""
        pending = self._pending
        if pending is None:
            return []
        pending.tx.transport_error(reason)
        self._pending = None
        return self._unsuccessful(pending, f"transport failure: {reason}", None, False, now)

    def _end(self, event: Event) -> list[Event]:
        self._state = SubscriptionState.TERMINATED
        self._pending = None
        self._refresh_at = self._expires_at = self._linger_until = None
        return [event]

    # ------------------------------------------------------------------ NOTIFY

    def matches_notify(self, request: Request) -> bool:
        """Whether ``request`` is a NOTIFY of this subscription (else the caller sends 481).

        Call-ID, our From tag as its To tag, ``Event: reg``, and the From tag of the
        dialog once there is one. A NOTIFY before the 2xx matches too (RFC 6665
        §4.1.2.4: it creates the dialog). Once the subscription is over only
        retransmissions of NOTIFYs already answered match.
        """
        if request.method != "NOTIFY" or self._state is SubscriptionState.IDLE:
            return False
        try:
            event = (request.headers.get("Event") or "").partition(";")[0].strip(" \t")
            if (
                request.call_id != self.config.call_id
                or request.to.param("tag") != self.config.from_tag
                or event.lower() != "reg"
            ):
                return False
            if self._dialog is not None and request.from_.param("tag") != self._dialog.remote_tag:
                return False
            key = transaction_key(request)
        except SipParseError:
            return False
        return key in self._servers or self._state is not SubscriptionState.TERMINATED

    def receive_notify(self, request: Request, now: float) -> list[Event]:
        """Answer a NOTIFY of ours (``matches_notify``; others get nothing) and act on it.

        Answered once, through a server transaction: a retransmission gets the same
        response again and produces no event. 200 when taken in; 400 for a body that is
        not a reginfo document (nothing of it is acted on: a half-read document would
        leave our idea of the registration wrong), a missing Subscription-State or From
        tag; 415 for another content type; 500 for a CSeq lower than the last
        (RFC 3261 §12.2.2).
        """
        if not self.matches_notify(request):
            return []
        key = transaction_key(request)
        tx = self._servers.get(key)
        if tx is not None:
            return [SendResponse(data) for data in tx.receive(request, now)]
        tx = self._servers[key] = ServerTransaction(request, reliable=self.config.reliable)
        status, reason, events = self._notified(request, now)
        extra = [("Contact", f"<{self.config.contact}>")] if status == 200 else []
        if status == 415:
            extra = [("Accept", CONTENT_TYPE)]
        sent = tx.respond(response_bytes(request, status, reason, headers=extra), True, now)
        if tx.terminated:  # reliable transport: nothing to absorb
            del self._servers[key]
        return [SendResponse(data) for data in sent] + events

    def _notified(self, request: Request, now: float) -> tuple[int, str, list[Event]]:
        """Status and reason of the answer, and the events, of a new NOTIFY."""
        try:
            cseq, _ = request.cseq
            from_tag = request.from_.param("tag")
            value = request.headers.get("Subscription-State")
            substate, params = _subscription_state(value) if value else ("", ())
            targets = uris(request.headers.get_all("Contact"))
        except SipParseError:
            return 400, "Bad Request", []
        if not substate:
            return 400, "Missing Subscription-State", []
        if not from_tag:
            return 400, "Missing From tag", []
        if self._remote_cseq is not None and cseq < self._remote_cseq:
            return 500, "CSeq Out Of Order", []
        document = None
        if request.body:
            media = (request.headers.get("Content-Type") or "").partition(";")[0]
            if media.strip(" \t").lower() != CONTENT_TYPE:
                return 415, "Unsupported Media Type", []
            try:
                document = parse_reginfo(request.body)
            except ReginfoError:
                return 400, "Invalid reginfo document", []
        self._remote_cseq = cseq
        dialog = self._dialog
        if dialog is None:  # RFC 6665 §4.1.2.4; as the UAS of it, Record-Route in order
            route_set = uris(request.headers.get_all("Record-Route"))
            self._dialog = Dialog(from_tag, route_set, targets[0] if targets else self.config.aor)
        elif targets:  # NOTIFY is a target refresh request (RFC 6665 §4.1.2.4)
            self._dialog = replace(dialog, remote_target=targets[0])
        events = [] if document is None else self._apply(document, now)
        if substate == "terminated":
            reason = find_param(params, "reason") or ""
            ended = SubscriptionTerminated(reason, delta_seconds(find_param(params, "retry-after")))
            return 200, "OK", events + self._end(ended)
        expires = delta_seconds(find_param(params, "expires"))
        if expires is not None:  # the notifier may shorten the subscription
            self._expires_at = now + expires
            at = now + expires * REFRESH_AT
            if self._refresh_at is None or at < self._refresh_at:
                self._refresh_at = at
        return 200, "OK", events

    def _apply(self, document: Reginfo, now: float) -> list[Event]:
        """The events of a document (``BindingView`` says which facts are new).

        After a gap a refresh SUBSCRIBE is sent at once, so that the full document the
        notifier sends for it ends the wait (rather than the next refresh, days later).
        """
        news = self._view.apply(document)
        if news.need_full:
            idle = self._state is SubscriptionState.ACTIVE and self._pending is None
            return self._send(now, self._asked) if idle else []
        events: list[Event] = []
        for contact in news.contacts:
            event = _contact_event(contact)
            if event is not None and event not in events:
                events.append(event)
        if news.registration_ended and RegistrationDeactivated("terminated") not in events:
            events.append(RegistrationDeactivated("terminated"))
        return events

    # ------------------------------------------------------------------ time

    def timer(self, now: float) -> list[Event]:
        """Handle whatever is due at ``now``."""
        for key, server in list(self._servers.items()):
            server.timer(now)
            if server.terminated:
                del self._servers[key]
        events: list[Event] = []
        pending = self._pending
        if pending is not None:
            for event in pending.tx.timer(now):
                if isinstance(event, Send):
                    events.append(SendRequest(event.data, pending.branch, pending.next_hop))
                elif isinstance(event, (TimedOut, TransportFailed)):
                    self._pending = None
                    reason = "no answer to SUBSCRIBE (Timer F)"
                    events += self._unsuccessful(pending, reason, None, False, now)
        if self._state is SubscriptionState.UNSUBSCRIBING and self._linger_until is not None:
            if now >= self._linger_until:
                events += self._end(SubscriptionTerminated(UNSUBSCRIBED))
        elif self._state is SubscriptionState.ACTIVE and self._pending is None:
            if self._expires_at is not None and now >= self._expires_at:
                events += self._end(SubscriptionFailed("the subscription expired", None))
            elif self._refresh_at is not None and now >= self._refresh_at:
                self._refresh_at = None
                events += self._send(now, self._asked)
        return events

    def next_deadline(self) -> float | None:
        """When ``timer`` must next be called, or None."""
        times = [server.next_deadline() for server in self._servers.values()]
        if self._pending is not None:
            times.append(self._pending.tx.next_deadline())
        elif self._state is SubscriptionState.ACTIVE:
            times += [self._refresh_at, self._expires_at]
        elif self._state is SubscriptionState.UNSUBSCRIBING:
            times.append(self._linger_until)
        armed = [t for t in times if t is not None]
        return min(armed) if armed else None


def _contact_event(contact: ContactInfo) -> Event | None:
    """The event a state of our contact calls for, if any."""
    if contact.state == "terminated":
        return RegistrationDeactivated(contact.event, contact.retry_after)
    if contact.event == "shortened" and contact.expires is not None:
        return RegistrationShortened(contact.expires)
    return None
