"""The reg-event subscription (RFC 3680, RFC 6665, TS 24.229) driven by a fake clock."""

from __future__ import annotations

import itertools

import pytest

from sip.test_registration import sent
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.message import Headers, Request, Response
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.reg_subscription import (
    CONTENT_TYPE,
    UNSUBSCRIBED,
    Dialog,
    RegistrationDeactivated,
    RegistrationShortened,
    RegSubscription,
    SendRequest,
    SendResponse,
    Subscribed,
    SubscriptionConfig,
    SubscriptionFailed,
    SubscriptionState,
    SubscriptionTerminated,
    response_bytes,
)
from sipprofile.server.sip.transaction import T1

AOR = "sip:+15551234@ims.example.net"
CONTACT = "sip:3f2a9c1e@192.0.2.10:5062"
OTHER_UE = "sip:77aa@198.51.100.20:5060"
PCSCF = "sip:pcscf.ims.example.net:5060;lr"
SERVICE_ROUTE = "sip:orig@scscf.ims.example.net;lr"
NOTIFIER = "sip:scscf.ims.example.net:6060"
# the 2xx lists the farthest proxy first; the route set is the reverse (RFC 3261 §12.1.2)
RECORD_ROUTE = ("<sip:far.ims.example.net;lr>", "<sip:pcscf.ims.example.net:5060;lr>")
ROUTE_SET = ("sip:pcscf.ims.example.net:5060;lr", "sip:far.ims.example.net;lr")


def config(**changes: object) -> SubscriptionConfig:
    base: dict[str, object] = {
        "aor": AOR,
        "contact": CONTACT,
        "call_id": "sub-call-1",
        "from_tag": "ue-tag",
        "via_transport": "UDP",
        "via_sent_by": "192.0.2.10:5062",
        "reliable": False,
        "route": (PCSCF, SERVICE_ROUTE),
        "extra_headers": (
            f"P-Preferred-Identity: <{AOR}>",
            "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010001",
        ),
    }
    base.update(changes)
    return SubscriptionConfig(**base)  # type: ignore[arg-type]


def machine(**changes: object) -> RegSubscription:
    branches = (f"z9hG4bK-sub-{n}" for n in itertools.count(1))
    return RegSubscription(
        config(**changes), branch_factory=lambda: next(branches), cnonce_factory=lambda: "cn"
    )


def answers(events: list) -> list[Response]:
    out = []
    for event in events:
        if isinstance(event, SendResponse):
            message = parse_message(event.data)
            assert isinstance(message, Response)
            out.append(message)
    return out


def reports(events: list) -> list:
    return [e for e in events if not isinstance(e, SendRequest | SendResponse)]


def answer(request: Request, status: int, reason: str = "", *extra: tuple[str, str]) -> Response:
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    headers.add("From", request.header("From"))
    to = request.header("To")
    headers.add("To", to if "tag=" in to else to + ";tag=scscf-tag")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.header("CSeq"))
    for name, value in extra:
        headers.add(name, value)
    return Response(status, reason or {200: "OK", 202: "Accepted"}.get(status, "X"), headers)


def ok(request: Request, expires: int = 600000, *extra: tuple[str, str]) -> Response:
    return answer(
        request,
        200,
        "OK",
        ("Contact", f"<{NOTIFIER}>"),
        ("Expires", str(expires)),
        *[("Record-Route", rr) for rr in RECORD_ROUTE],
        *extra,
    )


def reginfo(version: int, *contacts: str, state: str = "full", reg: str = "active") -> bytes:
    return (
        f'<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo" '
        f'version="{version}" state="{state}"><registration aor="{AOR}" id="r1" state="{reg}">'
        f"{''.join(contacts)}</registration></reginfo>"
    ).encode()


def contact(
    uri: str = CONTACT, state: str = "active", event: str = "registered", extra: str = ""
) -> str:
    cid = "ours" if uri == CONTACT else "theirs"
    return f'<contact id="{cid}" state="{state}" event="{event}" {extra}><uri>{uri}</uri></contact>'


def notify(
    *,
    cseq: int = 1,
    body: bytes = b"",
    substate: str = "active;expires=600000",
    branch: str = "z9hG4bK-n1",
    from_tag: str = "scscf-tag",
    to_tag: str = "ue-tag",
    call_id: str = "sub-call-1",
    event: str = "reg",
    target: str = NOTIFIER,
    record_route: tuple[str, ...] = (),
    content_type: str = CONTENT_TYPE,
) -> Request:
    lines = [
        f"NOTIFY {CONTACT} SIP/2.0",
        f"Via: SIP/2.0/UDP pcscf.ims.example.net:5060;branch={branch}",
        f"Via: SIP/2.0/UDP scscf.ims.example.net:6060;branch={branch}-s",
        "Max-Forwards: 69",
        f"From: <{AOR}>;tag={from_tag}",
        f"To: <{AOR}>;tag={to_tag}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} NOTIFY",
        f"Event: {event}",
        f"Subscription-State: {substate}",
        f"Contact: <{target}>",
        *[f"Record-Route: {rr}" for rr in record_route],
        *([f"Content-Type: {content_type}"] if body else []),
        f"Content-Length: {len(body)}",
        "",
        "",
    ]
    message = parse_message("\r\n".join(lines).encode() + body)
    assert isinstance(message, Request)
    return message


def subscribed(sub: RegSubscription, now: float = 0.0, expires: int = 600000) -> Request:
    """Subscribe and accept with a 200; returns the SUBSCRIBE."""
    [request] = sent(sub.subscribe(now))
    assert sub.receive_response(ok(request, expires), now) == [Subscribed(expires)]
    return request


def notified(sub: RegSubscription, now: float = 0.0, **kwargs: object) -> list:
    """Deliver a NOTIFY; asserts it was answered 200 exactly once; returns the reports."""
    events = sub.receive_notify(notify(**kwargs), now)  # type: ignore[arg-type]
    [response] = answers(events)
    assert response.status == 200, response.reason
    return reports(events)


# ------------------------------------------------------------------ SUBSCRIBE


def test_subscribe_request_content() -> None:
    sub = machine()
    events = sub.subscribe(0.0)
    assert sub.state is SubscriptionState.SUBSCRIBING
    [event] = events
    assert isinstance(event, SendRequest)
    assert event.next_hop == PCSCF
    [request] = sent(events)
    assert request.method == "SUBSCRIBE"
    assert request.uri == AOR
    [via] = request.via
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.10", 5062)
    assert via.branch == event.branch == "z9hG4bK-sub-1"
    assert via.rport_requested
    h = request.headers
    assert h.get("Max-Forwards") == "70"
    assert h.get_all("Route") == [f"<{PCSCF}>", f"<{SERVICE_ROUTE}>"]
    assert request.from_.uri == AOR and request.from_.param("tag") == "ue-tag"
    assert request.to.uri == AOR and request.to.param("tag") is None
    assert request.call_id == "sub-call-1"
    assert request.cseq == (1, "SUBSCRIBE")
    assert h.get("Contact") == f"<{CONTACT}>"
    assert h.get("Event") == "reg"
    assert h.get("Accept") == CONTENT_TYPE
    assert h.get("Expires") == "600000"
    assert h.get("User-Agent") == "sipprofiled"
    assert h.get("P-Preferred-Identity") == f"<{AOR}>"
    assert h.get("P-Access-Network-Info", "").startswith("3GPP-E-UTRAN-FDD")
    assert h.get("Content-Length") == "0" and request.body == b""
    assert sub.subscribe(0.1) == []  # already on its way


def test_without_a_route_the_request_goes_to_the_aor() -> None:
    sub = machine(route=())
    [event] = sub.subscribe(0.0)
    assert isinstance(event, SendRequest)
    assert event.next_hop == AOR
    assert sent([event])[0].headers.get_all("Route") == []


def test_2xx_creates_the_dialog_and_schedules_the_refresh_at_90_percent() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(100.0))
    events = sub.receive_response(ok(request, 3600), 100.5)
    assert events == [Subscribed(3600)]
    assert sub.state is SubscriptionState.ACTIVE
    assert sub.dialog == Dialog("scscf-tag", ROUTE_SET, NOTIFIER)
    assert sub.next_deadline() == pytest.approx(100.5 + 3600 * 0.9)
    assert sub.receive_response(ok(request, 3600), 101.0) == []  # retransmitted 200


def test_refresh_is_in_the_dialog_routed_by_record_route_to_the_remote_target() -> None:
    sub = machine()
    subscribed(sub, 0.0, expires=1000)
    assert sub.timer(899.0) == []
    events = sub.timer(900.0)
    [event] = events
    assert isinstance(event, SendRequest)
    assert event.next_hop == ROUTE_SET[0]
    [refresh] = sent(events)
    assert refresh.uri == NOTIFIER
    assert refresh.headers.get_all("Route") == [f"<{r}>" for r in ROUTE_SET]
    assert refresh.to.param("tag") == "scscf-tag"
    assert refresh.from_.param("tag") == "ue-tag"
    assert refresh.call_id == "sub-call-1"
    assert refresh.cseq == (2, "SUBSCRIBE")
    assert refresh.headers.get("Expires") == "600000"
    assert sub.receive_response(ok(refresh, 600000), 901.0) == [Subscribed(600000)]
    assert sub.next_deadline() == pytest.approx(901.0 + 540000)


def test_strict_router_in_the_route_set_becomes_the_request_uri() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    strict = answer(
        request, 200, "OK", ("Contact", f"<{NOTIFIER}>"), ("Expires", "100"),
        ("Record-Route", "<sip:strict.example.net>"),
    )  # fmt: skip
    sub.receive_response(strict, 0.0)
    [refresh] = sent(sub.subscribe(1.0))
    assert refresh.uri == "sip:strict.example.net"
    assert refresh.headers.get_all("Route") == [f"<{NOTIFIER}>"]


def test_2xx_without_a_to_tag_cannot_make_a_dialog() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    response = ok(request)
    response.headers.set("To", f"<{AOR}>")
    [failed] = sub.receive_response(response, 0.0)
    assert isinstance(failed, SubscriptionFailed)
    assert sub.state is SubscriptionState.TERMINATED


def test_expires_of_the_2xx_else_the_notify_else_ours() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    notified(sub, 0.1, substate="active;expires=1200")
    no_expires = answer(request, 200, "OK", ("Contact", f"<{NOTIFIER}>"))
    assert sub.receive_response(no_expires, 0.1) == [Subscribed(1200)]
    other = machine()
    [request] = sent(other.subscribe(0.0))
    assert other.receive_response(answer(request, 202), 0.0) == [Subscribed(600000)]


# ------------------------------------------------------------------ NOTIFY


def test_notify_is_answered_once_and_a_retransmission_gets_the_same_answer() -> None:
    sub = machine()
    subscribed(sub)
    gone = contact(state="terminated", event="deactivated")
    request = notify(cseq=1, body=reginfo(0, gone))
    events = sub.receive_notify(request, 1.0)
    [response] = answers(events)
    assert reports(events) == [RegistrationDeactivated("deactivated")]
    assert response.status == 200
    assert response.headers.get_all("Via") == request.headers.get_all("Via")
    assert response.to.param("tag") == "ue-tag"
    assert response.cseq == (1, "NOTIFY")
    assert response.header("Contact") == f"<{CONTACT}>"
    again = sub.receive_notify(notify(cseq=1, body=reginfo(0, gone)), 2.0)
    assert again == [e for e in events if isinstance(e, SendResponse)]  # same bytes, no event
    # Timer J forgets the transaction; a very late copy is a new NOTIFY, old news by version
    deadline = sub.next_deadline()
    assert deadline == pytest.approx(1.0 + 64 * T1)
    sub.timer(deadline)
    assert notified(sub, 60.0, cseq=1, body=reginfo(0, gone)) == []


def test_notify_before_the_2xx_creates_the_dialog() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    early = notify(record_route=RECORD_ROUTE[::-1])  # the NOTIFY's own path: nearest first
    assert sub.matches_notify(early)
    events = sub.receive_notify(early, 0.05)
    assert [r.status for r in answers(events)] == [200]
    assert sub.dialog == Dialog("scscf-tag", ROUTE_SET, NOTIFIER)  # in order, as its UAS
    assert sub.state is SubscriptionState.SUBSCRIBING
    assert sub.receive_response(ok(request, 3600), 0.1) == [Subscribed(3600)]
    assert sub.dialog == Dialog("scscf-tag", ROUTE_SET, NOTIFIER)


def test_notify_contact_refreshes_the_remote_target() -> None:
    sub = machine()
    subscribed(sub)
    notified(sub, 1.0, target="sip:scscf2.ims.example.net")
    assert sub.dialog is not None and sub.dialog.remote_target == "sip:scscf2.ims.example.net"
    assert sub.dialog.route_set == ROUTE_SET  # the route set never changes


@pytest.mark.parametrize(
    ("event", "extra", "expected"),
    [
        ("deactivated", "", RegistrationDeactivated("deactivated")),
        ("rejected", "", RegistrationDeactivated("rejected")),
        ("unregistered", "", RegistrationDeactivated("unregistered")),
        ("probation", 'retry-after="30"', RegistrationDeactivated("probation", 30)),
    ],
)
def test_our_contact_terminated_reports_registration_deactivated(
    event: str, extra: str, expected: RegistrationDeactivated
) -> None:
    sub = machine()
    subscribed(sub)
    assert notified(sub, 1.0, cseq=1, body=reginfo(0, contact())) == []
    body = reginfo(1, contact(state="terminated", event=event, extra=extra), state="partial")
    assert notified(sub, 2.0, cseq=2, branch="z9hG4bK-n2", body=body) == [expected]


def test_shortened_contact_reports_the_new_expiry_once() -> None:
    sub = machine()
    subscribed(sub)
    shortened = contact(event="shortened", extra='expires="180"')
    assert notified(sub, 1.0, body=reginfo(0, shortened)) == [RegistrationShortened(180)]
    # the full document after a refresh restates it: not news
    assert notified(sub, 2.0, cseq=2, branch="z9hG4bK-n2", body=reginfo(1, shortened)) == []


def test_our_registration_terminated_without_our_contact() -> None:
    sub = machine()
    subscribed(sub)
    body = reginfo(0, contact(OTHER_UE, state="terminated", event="expired"), reg="terminated")
    assert notified(sub, 1.0, body=body) == [RegistrationDeactivated("terminated")]


def test_another_ues_contact_is_ignored() -> None:
    sub = machine()
    subscribed(sub)
    body = reginfo(
        0,
        contact(OTHER_UE, state="terminated", event="deactivated"),
        contact(OTHER_UE.replace("77aa", "88bb"), event="shortened", extra='expires="5"'),
        contact(),
    )
    assert notified(sub, 1.0, body=body) == []


def test_document_versions() -> None:
    sub = machine()
    subscribed(sub, expires=3600)
    n = itertools.count(1)

    def deliver(body: bytes) -> list:
        cseq = next(n)
        events = sub.receive_notify(notify(cseq=cseq, branch=f"z9hG4bK-v{cseq}", body=body), 1.0)
        assert [r.status for r in answers(events)] == [200]
        return [e for e in events if not isinstance(e, SendResponse)]

    short = contact(event="shortened", extra='expires="100"')
    assert deliver(reginfo(0, contact())) == []
    assert deliver(reginfo(1, short, state="partial")) == [RegistrationShortened(100)]
    gone = contact(state="terminated", event="deactivated")
    assert deliver(reginfo(1, gone, state="partial")) == []  # equal version: ignored
    assert deliver(reginfo(0, gone)) == []  # lower, even full: ignored
    # a gap: partials are ignored until a full document, which a refresh asks for
    events = deliver(reginfo(3, gone, state="partial"))
    [refresh] = sent(events)
    assert refresh.cseq == (2, "SUBSCRIBE") and refresh.to.param("tag") == "scscf-tag"
    assert deliver(reginfo(4, gone, state="partial")) == []
    assert sub.receive_response(ok(refresh, 3600), 1.5) == [Subscribed(3600)]
    assert deliver(reginfo(5, gone)) == [RegistrationDeactivated("deactivated")]


def test_terminated_subscription_state_ends_the_subscription() -> None:
    sub = machine()
    subscribed(sub)
    request = notify(substate="terminated;reason=probation;retry-after=60")
    events = sub.receive_notify(request, 5.0)
    assert [r.status for r in answers(events)] == [200]
    assert reports(events) == [SubscriptionTerminated("probation", 60)]
    assert sub.state is SubscriptionState.TERMINATED
    assert answers(sub.receive_notify(request, 6.0))  # its retransmission is still answered
    later = notify(cseq=2, branch="z9hG4bK-late")
    assert not sub.matches_notify(later)  # the caller answers 481
    assert sub.receive_notify(later, 7.0) == []
    assert sub.timer(1000.0) == []
    assert sub.next_deadline() is None


def test_a_body_that_is_not_reginfo_gets_400_and_no_event() -> None:
    sub = machine()
    subscribed(sub)
    bad = notify(body=b"<reginfo")
    events = sub.receive_notify(bad, 1.0)
    [response] = answers(events)
    assert response.status == 400 and "reginfo" in response.reason
    assert reports(events) == []
    assert sub.receive_notify(bad, 1.5) == [events[0]]  # retransmission: the same answer
    assert sub.state is SubscriptionState.ACTIVE


def test_another_content_type_gets_415_with_accept() -> None:
    sub = machine()
    subscribed(sub)
    events = sub.receive_notify(notify(body=b"{}", content_type="application/json"), 1.0)
    [response] = answers(events)
    assert response.status == 415
    assert response.header("Accept") == CONTENT_TYPE
    assert reports(events) == []
    body = reginfo(0, contact(state="terminated", event="rejected"))
    typed = notify(cseq=2, branch="z9hG4bK-n2", body=body, content_type=f"{CONTENT_TYPE};x=1")
    assert reports(sub.receive_notify(typed, 2.0)) == [RegistrationDeactivated("rejected")]


def test_missing_subscription_state_gets_400() -> None:
    sub = machine()
    subscribed(sub)
    request = notify()
    request.headers.remove("Subscription-State")
    [response] = answers(sub.receive_notify(request, 1.0))
    assert response.status == 400


def test_a_lower_cseq_is_out_of_order() -> None:
    sub = machine()
    subscribed(sub)
    notified(sub, 1.0, cseq=5, branch="z9hG4bK-a")
    [response] = answers(sub.receive_notify(notify(cseq=4, branch="z9hG4bK-b"), 2.0))
    assert response.status == 500


@pytest.mark.parametrize(
    "changes",
    [{"call_id": "other"}, {"to_tag": "not-ours"}, {"event": "presence"}, {"from_tag": "fork"}],
)
def test_matches_notify_needs_call_id_tags_and_event(changes: dict) -> None:
    sub = machine()
    assert not sub.matches_notify(notify())  # nothing subscribed yet
    subscribed(sub)
    assert sub.matches_notify(notify())
    assert sub.matches_notify(notify(event="reg;id=1"))
    assert not sub.matches_notify(notify(**changes))
    assert sub.receive_notify(notify(**changes), 1.0) == []


def test_response_bytes_for_the_caller_481() -> None:
    stray = notify(to_tag="x")
    stray.headers.set("To", f"<{AOR}>")
    response = parse_message(response_bytes(stray, 481, "Call/Transaction Does Not Exist"))
    assert isinstance(response, Response)
    assert response.status == 481 and response.to.param("tag")


# ------------------------------------------------------------------ unsubscribe


def test_unsubscribe_then_the_final_notify() -> None:
    sub = machine()
    subscribed(sub)
    notified(sub, 1.0, body=reginfo(0, contact()))
    [request] = sent(sub.unsubscribe(10.0))
    assert sub.state is SubscriptionState.UNSUBSCRIBING
    assert request.headers.get("Expires") == "0"
    assert request.uri == NOTIFIER and request.to.param("tag") == "scscf-tag"
    assert request.cseq == (2, "SUBSCRIBE")
    assert sub.receive_response(ok(request, 0), 10.1) == []
    final = notified(sub, 10.2, cseq=2, branch="z9hG4bK-n2", substate="terminated;reason=timeout")
    assert final == [SubscriptionTerminated("timeout")]
    assert sub.state is SubscriptionState.TERMINATED
    assert sub.unsubscribe(11.0) == []


def test_unsubscribe_without_a_final_notify_ends_after_64_t1() -> None:
    sub = machine()
    subscribed(sub)
    [request] = sent(sub.unsubscribe(10.0))
    sub.receive_response(ok(request, 0), 10.5)
    assert sub.next_deadline() == pytest.approx(10.5 + 64 * T1)
    assert sub.timer(10.5 + 64 * T1) == [SubscriptionTerminated(UNSUBSCRIBED)]
    assert sub.next_deadline() is None


def test_unsubscribe_while_subscribing_waits_for_the_2xx() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    assert sub.unsubscribe(0.1) == []
    events = sub.receive_response(ok(request), 0.2)
    assert reports(events) == [Subscribed(600000)]
    [unsubscribe] = sent(events)
    assert unsubscribe.headers.get("Expires") == "0"


def test_unsubscribe_answered_481_ends_it() -> None:
    sub = machine()
    subscribed(sub)
    [request] = sent(sub.unsubscribe(1.0))
    assert sub.receive_response(answer(request, 481), 1.1) == [SubscriptionTerminated(UNSUBSCRIBED)]


def test_unsubscribe_before_subscribe_sends_nothing() -> None:
    sub = machine()
    assert sub.unsubscribe(0.0) == []
    assert sub.state is SubscriptionState.TERMINATED
    with pytest.raises(RuntimeError):
        sub.subscribe(1.0)


# ------------------------------------------------------------------ failures

CHALLENGE = ("WWW-Authenticate", 'Digest realm="ims.example.net", nonce="n1", qop="auth"')


def test_401_is_answered_once_with_credentials_and_a_second_401_fails() -> None:
    sub = machine(credentials=Credentials("alice@ims.example.net", "secret"))
    [first] = sent(sub.subscribe(0.0))
    [second] = sent(sub.receive_response(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    assert second.cseq == (2, "SUBSCRIBE")
    auth = second.headers.get("Authorization") or ""
    assert 'uri="sip:+15551234@ims.example.net"' in auth and "nc=00000001" in auth
    events = sub.receive_response(answer(second, 401, "Unauthorized", CHALLENGE), 0.2)
    [failed] = events
    assert isinstance(failed, SubscriptionFailed) and failed.reason.startswith("401")
    assert sub.state is SubscriptionState.TERMINATED
    assert sub.next_deadline() is None


def test_407_is_answered_with_proxy_authorization() -> None:
    sub = machine(credentials=Credentials("alice", "secret"))
    [first] = sent(sub.subscribe(0.0))
    challenge = ("Proxy-Authenticate", 'Digest realm="proxy", nonce="p1"')
    [second] = sent(sub.receive_response(answer(first, 407, "Proxy Auth", challenge), 0.1))
    assert second.headers.get("Proxy-Authorization")
    assert sub.receive_response(ok(second), 0.2) == [Subscribed(600000)]


def test_401_without_credentials_fails() -> None:
    sub = machine()
    [first] = sent(sub.subscribe(0.0))
    [failed] = sub.receive_response(answer(first, 401, "Unauthorized", CHALLENGE), 0.1)
    assert isinstance(failed, SubscriptionFailed)


def test_no_answer_fails_after_retransmissions_at_64_t1() -> None:
    sub = machine()
    sub.subscribe(0.0)
    times: list[float] = []
    events: list = []
    while (deadline := sub.next_deadline()) is not None:
        new = sub.timer(deadline)
        times += [deadline] * len(sent(new))
        events += reports(new)
    assert times[:3] == [0.5, 1.5, 3.5]  # Timer E
    assert len(events) == 1 and isinstance(events[0], SubscriptionFailed)
    assert sub.state is SubscriptionState.TERMINATED


def test_tcp_never_retransmits_and_keeps_no_server_transaction() -> None:
    sub = machine(reliable=True, via_transport="TCP")
    [request] = sent(sub.subscribe(0.0))
    assert sub.next_deadline() == pytest.approx(64 * T1)  # Timer F only
    sub.receive_response(ok(request, 1000), 0.1)
    notified(sub, 0.2)
    assert sub.next_deadline() == pytest.approx(0.1 + 900)


def test_rejection_reports_retry_after() -> None:
    sub = machine()
    [request] = sent(sub.subscribe(0.0))
    busy = answer(request, 503, "Service Unavailable", ("Retry-After", "120"))
    assert sub.receive_response(busy, 0.1) == [SubscriptionFailed("503 Service Unavailable", 120)]


def test_transport_failure_of_the_first_subscribe_fails() -> None:
    sub = machine(reliable=True)
    sub.subscribe(0.0)
    [failed] = sub.transport_failed("connection reset", 0.1)
    assert isinstance(failed, SubscriptionFailed) and "connection reset" in failed.reason


def test_423_is_retried_with_min_expires() -> None:
    sub = machine(expires=60)
    [first] = sent(sub.subscribe(0.0))
    brief = answer(first, 423, "Interval Too Brief", ("Min-Expires", "3600"))
    [second] = sent(sub.receive_response(brief, 0.1))
    assert second.headers.get("Expires") == "3600"


def test_refresh_answered_481_ends_the_subscription() -> None:
    sub = machine()
    subscribed(sub, expires=1000)
    [refresh] = sent(sub.timer(900.0))
    [failed] = sub.receive_response(answer(refresh, 481), 900.1)
    assert isinstance(failed, SubscriptionFailed)
    assert sub.state is SubscriptionState.TERMINATED


def test_refresh_failing_otherwise_keeps_the_subscription_and_tries_again() -> None:
    sub = machine()
    subscribed(sub, expires=1000)
    [refresh] = sent(sub.timer(900.0))
    assert sub.receive_response(answer(refresh, 500), 900.0) == []
    assert sub.state is SubscriptionState.ACTIVE
    assert sub.next_deadline() == pytest.approx(950.0)  # half-way to the expiry
    [again] = sent(sub.timer(950.0))
    assert again.cseq == (3, "SUBSCRIBE")
    assert sub.receive_response(answer(again, 500), 950.0) == []
    [late] = sent(sub.timer(975.0))
    [failed] = sub.receive_response(answer(late, 500), 975.0)  # 25 s left: it lapses
    assert isinstance(failed, SubscriptionFailed) and "lapses" in failed.reason


def test_notify_expires_brings_the_refresh_forward() -> None:
    sub = machine()
    subscribed(sub, expires=600000)
    notified(sub, 10.0, substate="active;expires=100")
    assert sub.next_deadline() == pytest.approx(10.0 + 64 * T1)  # the NOTIFY's Timer J
    assert sub.timer(10.0 + 64 * T1) == []
    assert sub.next_deadline() == pytest.approx(10.0 + 90.0)
    [refresh] = sent(sub.timer(100.0))
    assert refresh.cseq == (2, "SUBSCRIBE")


def test_a_subscription_that_lapsed_unrefreshed_fails_rather_than_refreshes() -> None:
    # the machine was not woken in time (a suspended laptop): nothing is left to refresh
    sub = machine()
    subscribed(sub, expires=1000)
    assert sub.timer(1000.0) == [SubscriptionFailed("the subscription expired", None)]
    assert sub.state is SubscriptionState.TERMINATED


def test_a_notify_without_from_tag_gets_400() -> None:
    sub = machine()
    sub.subscribe(0.0)
    request = notify()
    request.headers.set("From", f"<{AOR}>")
    [response] = answers(sub.receive_notify(request, 0.1))
    assert response.status == 400
    assert sub.dialog is None


def test_transport_failure_with_nothing_in_flight_is_nothing() -> None:
    sub = machine()
    subscribed(sub)
    assert sub.transport_failed("closed", 1.0) == []
    assert sub.state is SubscriptionState.ACTIVE
