"""The REGISTER state machine driven by a fake clock and hand-made responses."""

from __future__ import annotations

import itertools
import re

import pytest

from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Headers, Request, Response
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.registration import (
    Registration,
    RegistrationConfig,
    State,
)
from sipprofile.server.sip.registration_events import (
    Deregistered,
    Failed,
    Registered,
    Retrying,
    SendRequest,
    StateChanged,
)

CONTACT = "sip:3f2a9c1e7d5b4a60@192.0.2.10:5062"


def config(**changes) -> RegistrationConfig:
    base = {
        "aor": "sip:alice@example.com",
        "registrar": "sip:example.com",
        "contact": CONTACT,
        "call_id": "callid-1",
        "from_tag": "tag-1",
        "via_transport": "UDP",
        "via_sent_by": "192.0.2.10:5062",
        "reliable": False,
        "credentials": Credentials("alice", "alice-secret"),
    }
    base.update(changes)
    return RegistrationConfig(**base)


def machine(rng: float = 1.0, **changes) -> Registration:
    branches = (f"z9hG4bK-{n}" for n in itertools.count(1))
    return Registration(
        config(**changes),
        branch_factory=lambda: next(branches),
        random=lambda: rng,
        cnonce_factory=lambda: "cnonce",
    )


def sent(events) -> list[Request]:
    out = []
    for event in events:
        if isinstance(event, SendRequest):
            message = parse_message(event.data)
            assert isinstance(message, Request)
            out.append(message)
    return out


def answer(request: Request, status: int, reason: str = "", *extra: tuple[str, str]) -> Response:
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", (request.headers.get("To") or "") + ";tag=srv")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.headers.get("CSeq") or "")
    for name, value in extra:
        headers.add(name, value)
    return Response(status, reason or {200: "OK"}.get(status, "X"), headers)


CHALLENGE = (
    "WWW-Authenticate",
    'Digest realm="example.com", nonce="n1", qop="auth", algorithm=MD5',
)


def registered(reg: Registration, now: float = 0.0, expires: int = 1800) -> Request:
    """Drive a fresh registration through 401 and 200; returns the authorized request."""
    [first] = sent(reg.register(now))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), now))
    reg.receive(answer(second, 200, "OK", ("Contact", f"<{CONTACT}>;expires={expires}")), now)
    return second


def test_first_register_then_digest_then_registered_with_our_expiry() -> None:
    reg = machine()
    events = reg.register(10.0)
    assert events[0] == StateChanged("registering")
    [first] = sent(events)
    assert first.method == "REGISTER"
    assert first.uri == "sip:example.com"
    assert first.call_id == "callid-1"
    assert first.cseq == (1, "REGISTER")
    assert first.headers.get("Expires") == "3600"
    assert first.headers.get("Authorization") is None
    events = reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 10.1)
    [second] = sent(events)
    assert second.cseq == (2, "REGISTER")
    assert second.call_id == first.call_id
    auth = second.headers.get("Authorization") or ""
    assert 'username="alice"' in auth and "nc=00000001" in auth
    ok = answer(
        second, 200, "OK",
        ("Contact", "<sip:other@198.51.100.1>;expires=3000"),  # another device's binding
        ("Contact", f"<{CONTACT}>;expires=1800"),
        ("Service-Route", "<sip:orig@edge.example.com;lr>"),
    )  # fmt: skip
    events = reg.receive(ok, 10.2)
    assert StateChanged("registered") in events
    [done] = [e for e in events if isinstance(e, Registered)]
    assert done.expires == 1800
    assert done.aors == ("sip:alice@example.com",)
    assert done.service_route == ("sip:orig@edge.example.com;lr",)
    assert reg.state is State.REGISTERED
    # UDP Timer K is pending first; the refresh is at 90 % of what was granted
    deadlines = []
    while (deadline := reg.next_deadline()) is not None and deadline < 10.2 + 1620:
        deadlines.append(deadline)
        assert reg.timer(deadline) == []
    assert reg.next_deadline() == pytest.approx(10.2 + 1800 * 0.9)


def test_refresh_keeps_call_id_and_increases_cseq_with_preemptive_auth() -> None:
    reg = machine()
    registered(reg, expires=600)
    refresh_at = 540.0
    events = reg.timer(5.0)  # Timer K
    assert sent(events) == []
    events = reg.timer(refresh_at)
    [refresh] = sent(events)
    assert StateChanged("registering") not in events  # a refresh is not a state change
    assert refresh.call_id == "callid-1"
    assert refresh.cseq == (3, "REGISTER")
    assert "nc=00000002" in (refresh.headers.get("Authorization") or "")


def test_wrong_password_fails_after_two_registers() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    again = ("WWW-Authenticate", 'Digest realm="example.com", nonce="n2", qop="auth"')
    events = reg.receive(answer(second, 401, "Unauthorized", again), 0.2)
    assert sent(events) == []
    [failure] = [e for e in events if isinstance(e, Failed)]
    assert failure.error == "AuthenticationFailed"
    assert reg.state is State.FAILED
    assert reg.next_deadline() is None or reg.timer(reg.next_deadline() or 0) == []


def test_no_credentials_is_authentication_failed() -> None:
    reg = machine(credentials=None)
    [first] = sent(reg.register(0.0))
    events = reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1)
    assert [e.error for e in events if isinstance(e, Failed)] == ["AuthenticationFailed"]


def test_423_uses_min_expires() -> None:
    reg = machine(expires=30)
    [first] = sent(reg.register(0.0))
    [second] = sent(
        reg.receive(answer(first, 423, "Interval Too Brief", ("Min-Expires", "60")), 0.1)
    )
    assert second.headers.get("Expires") == "60"
    assert second.cseq == (2, "REGISTER")
    events = reg.receive(answer(second, 423, "Interval Too Brief", ("Min-Expires", "60")), 0.2)
    assert [e.error for e in events if isinstance(e, Failed)] == ["Rejected"]


def test_503_retry_after_is_honoured() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    events = reg.receive(answer(first, 503, "Service Unavailable", ("Retry-After", "120")), 1.0)
    [retry] = [e for e in events if isinstance(e, Retrying)]
    assert retry.retry_at == pytest.approx(121.0)
    assert reg.state is State.RETRYING
    assert sent(reg.timer(120.0)) == []  # Timer K of the old transaction only
    events = reg.timer(121.0)
    assert StateChanged("registering") in events
    assert len(sent(events)) == 1


@pytest.mark.parametrize(("rng", "share"), [(0.0, 0.75), (0.5, 0.825), (1.0, 0.9)])
def test_refreshes_fall_at_random_between_75_and_90_percent(rng: float, share: float) -> None:
    """Registrations made together must not refresh together for ever."""
    reg = machine(rng=rng)
    registered(reg, now=1.0, expires=1000)
    assert reg.next_deadline() == pytest.approx(1.0 + 1000 * share)


@pytest.mark.parametrize(("rng", "factor"), [(1.0, 1.0), (0.0, 0.5)])
def test_backoff_doubles_from_30s_to_a_cap_of_1800s_with_jitter(rng: float, factor: float) -> None:
    reg = machine(rng=rng, reliable=True)
    now = 0.0
    delays = []
    for _ in range(8):
        events = reg.register(now) if reg.state is not State.RETRYING else reg.timer(now)
        [request] = sent(events)
        events = reg.receive(answer(request, 500, "Server Internal Error"), now)
        [retry] = [e for e in events if isinstance(e, Retrying)]
        delays.append(retry.retry_at - now)
        now = retry.retry_at
    expected = [min(30 * 2**n, 1800) * factor for n in range(8)]
    assert delays == pytest.approx(expected)


def test_udp_timeout_is_retrying_with_timeout_error() -> None:
    reg = machine()
    sent(reg.register(0.0))
    events = []
    while (deadline := reg.next_deadline()) is not None and deadline <= 32.0:
        events += reg.timer(deadline)
    assert len(sent(events)) >= 5  # Timer E retransmissions
    [retry] = [e for e in events if isinstance(e, Retrying)]
    assert retry.error == "Timeout"


@pytest.mark.parametrize(
    ("status", "next_server"), [(503, True), (500, False), (504, False), (408, False)]
)
def test_only_503_asks_for_the_next_server(status: int, next_server: bool) -> None:
    """RFC 3263 §4.3: a 503 means "try another server"; a 500 or 408 is this request's."""
    reg = machine()
    [first] = sent(reg.register(0.0))
    [retry] = [e for e in reg.receive(answer(first, status), 1.0) if isinstance(e, Retrying)]
    assert retry.next_server is next_server


def test_no_answer_and_a_failed_transport_ask_for_the_next_server() -> None:
    reg = machine()
    sent(reg.register(0.0))
    events = []
    while (deadline := reg.next_deadline()) is not None and deadline <= 32.0:
        events += reg.timer(deadline)
    [retry] = [e for e in events if isinstance(e, Retrying)]
    assert (retry.error, retry.next_server) == ("Timeout", True)
    reg = machine(reliable=True)
    sent(reg.register(0.0))
    [retry] = [
        e for e in reg.transport_failed("connection refused", 0.1) if isinstance(e, Retrying)
    ]
    assert (retry.error, retry.next_server) == ("TransportFailed", True)


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, "Forbidden"), (404, "Rejected"), (488, "Rejected"), (603, "Rejected")],
)
def test_permanent_failures(status: int, error: str) -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    events = reg.receive(answer(first, status), 0.1)
    assert [e.error for e in events if isinstance(e, Failed)] == [error]
    assert reg.state is State.FAILED


def test_redirect_follows_highest_q_first() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    moved = answer(first, 302, "Moved",
                   ("Contact", "<sip:low.example.com>;q=0.2"),
                   ("Contact", "<sip:high.example.com>;q=0.9"))  # fmt: skip
    [second] = sent(reg.receive(moved, 0.1))
    assert second.uri == "sip:high.example.com"
    [third] = sent(reg.receive(answer(second, 302, "Moved"), 0.2))
    assert third.uri == "sip:low.example.com"


def test_deregister_sends_expires_zero_for_our_contact_only() -> None:
    reg = machine()
    registered(reg)
    events = reg.deregister(100.0)
    assert StateChanged("deregistering") in events
    [bye] = sent(events)
    assert bye.headers.get("Expires") == "0"
    assert bye.headers.get_all("Contact") == [f"<{CONTACT}>;expires=0"]
    assert bye.cseq == (3, "REGISTER")
    events = reg.receive(answer(bye, 200), 100.1)
    assert Deregistered(None) in events
    assert reg.state is State.UNREGISTERED
    assert reg.next_deadline() is None or sent(reg.timer(reg.next_deadline() or 0)) == []


def test_stray_response_with_old_cseq_is_ignored() -> None:
    reg = machine(reliable=True)
    first = registered(reg)
    assert reg.receive(answer(first, 200, "OK", ("Contact", f"<{CONTACT}>;expires=5")), 1.0) == []
    assert reg.granted == 1800


def test_200_without_our_contact_is_rejected() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    events = reg.receive(
        answer(first, 200, "OK", ("Contact", "<sip:someone@else>;expires=60")), 0.1
    )
    assert [e.error for e in events if isinstance(e, Failed)] == ["Rejected"]


def test_lost_flow_while_registered_registers_again() -> None:
    reg = machine(reliable=True)
    registered(reg)
    events = reg.transport_failed("connection closed", 50.0)
    [again] = sent(events)
    assert again.cseq == (3, "REGISTER")


def test_rebind_resends_pending_with_new_via_and_reuses_an_unsent_cseq() -> None:
    reg = machine(reliable=True)
    [first] = sent(reg.register(0.0))
    moved = config(reliable=True, via_sent_by="192.0.2.10:40000",
                   contact="sip:3f2a9c1e7d5b4a60@192.0.2.10:40000;transport=tcp")  # fmt: skip
    [again] = sent(reg.rebind(moved, 1.0, unsent=first.via[0].branch))
    assert again.cseq == first.cseq  # the first never left: its number is free
    assert again.call_id == first.call_id
    assert "40000" in (again.headers.get("Via") or "")
    [third] = sent(reg.rebind(moved, 2.0))  # this one did leave: a new number
    assert third.cseq == (2, "REGISTER")


def test_rebind_of_a_registered_binding_refreshes_through_the_new_flow() -> None:
    reg = machine(reliable=True)
    registered(reg)
    [refresh] = sent(reg.rebind(config(reliable=True), 5.0))
    assert refresh.cseq == (3, "REGISTER")
    assert reg.state is State.REGISTERED


# --- the REGISTER on the wire (written from the config, checked once per config) ------


def wire(events) -> bytes:
    [data] = [event.data for event in events if isinstance(event, SendRequest)]
    return data


def test_register_bytes_are_exactly_as_headers_would_write_them() -> None:
    reg = machine(
        route=("sip:proxy.example.com;lr",),
        extra_headers=("X-App: dialer", "content-length: 9"),
        contact_params=(("+sip.instance", '"<urn:uuid:1>"'),),
    )
    assert wire(reg.register(0.0)) == (
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport\r\n"
        b"Max-Forwards: 70\r\n"
        b"Route: <sip:proxy.example.com;lr>\r\n"
        b"From: <sip:alice@example.com>;tag=tag-1\r\n"
        b"To: <sip:alice@example.com>\r\n"
        b"Call-ID: callid-1\r\n"
        b"CSeq: 1 REGISTER\r\n"
        b'Contact: <sip:3f2a9c1e7d5b4a60@192.0.2.10:5062>;+sip.instance="<urn:uuid:1>"\r\n'
        b"Expires: 3600\r\n"
        b"User-Agent: sipprofiled\r\n"
        b"X-App: dialer\r\n"
        b"Content-Length: 0\r\n"  # where the extra one stood, with the true length
        b"\r\n"
    )


def test_answer_to_a_challenge_carries_authorization_after_the_extra_headers() -> None:
    reg = machine(extra_headers=("X-App: dialer",))
    first = parse_message(wire(reg.register(0.0)))
    assert isinstance(first, Request)
    data = wire(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    lines = data.decode().split("\r\n")
    assert lines[-5].startswith("X-App: ")
    assert lines[-4].startswith('Authorization: Digest username="alice", realm="example.com"')
    assert lines[-3:] == ["Content-Length: 0", "", ""]


def test_deregister_sets_expires_zero_on_a_contact_that_has_expires() -> None:
    reg = machine(reliable=True, contact_params=(("Expires", "60"), ("expires", "70")))
    registered(reg)
    [bye] = sent(reg.deregister(5.0))
    assert bye.headers.get_all("Contact") == [f"<{CONTACT}>;Expires=0"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"extra_headers": ("Bad Name: x",)}, "header name 'Bad Name' is not a token"),
        ({"user_agent": " ua"}, "value of User-Agent header ' ua' has control"),
        ({"contact": "sip:bad host@x"}, "contains ' ', which must be %-escaped"),
        ({"registrar": "<sip:x>"}, "Request-URI '<sip:x>' does not start with a scheme"),
        ({"via_sent_by": "h\x01"}, "value of Via header"),
    ],
)
def test_a_config_that_cannot_be_sent_fails_when_sending_each_time(changes, error) -> None:
    reg = machine(**changes)  # built without complaint, as before: checked when used
    for now in (0.0, 1.0):
        with pytest.raises(SipParseError, match=re.escape(error)):
            reg.register(now)


def test_our_contact_is_checked_as_a_sip_uri_when_the_200_arrives() -> None:
    reg = machine(contact="sip:a@h;lr;LR")  # sendable, but no valid SIP URI
    [first] = sent(reg.register(0.0))
    with pytest.raises(SipParseError, match="appears more than once"):
        reg.receive(answer(first, 200, "OK", ("Contact", "<sip:a@h;lr;LR>;expires=60")), 0.1)


STALE = "sip:3f2a9c1e7d5b4a60@192.0.2.10:40999"  # our user part, an earlier run's port


def test_a_binding_of_an_earlier_run_is_removed_in_one_more_register() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.0))
    both = ("Contact", f"<{STALE}>;expires=1200, <{CONTACT}>;expires=1800")
    events = reg.receive(answer(second, 200, "OK", both), 0.1)
    [event] = [e for e in events if isinstance(e, Registered)]
    assert event.expires == 1800  # ours, not the stale one listed first
    [removal] = sent(events)
    assert removal.call_id == second.call_id and removal.cseq[0] == second.cseq[0] + 1
    assert removal.headers.get_all("Contact") == [f"<{CONTACT}>", f"<{STALE}>;expires=0"]
    assert removal.headers.get("Expires") == "3600"
    assert reg.state is State.REGISTERED
    # a registrar that keeps listing it: asked once, never again (no loop)
    events = reg.receive(answer(removal, 200, "OK", both), 0.2)
    assert sent(events) == []
    assert reg.state is State.REGISTERED


def test_a_rewritten_contact_alone_is_ours_and_nothing_is_removed() -> None:
    """Our Contact not listed as sent: the same-user binding is ours, rewritten (NAT)."""
    reg = machine()
    [first] = sent(reg.register(0.0))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.0))
    rewritten = ("Contact", f"<{STALE}>;expires=900")
    events = reg.receive(answer(second, 200, "OK", rewritten), 0.1)
    assert [e.expires for e in events if isinstance(e, Registered)] == [900]
    assert sent(events) == []


def test_bindings_of_other_devices_are_left_alone() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.0))
    others = ("Contact", f"<sip:alice@198.51.100.9:5060>;expires=300, <{CONTACT}>;expires=1800")
    assert sent(reg.receive(answer(second, 200, "OK", others), 0.1)) == []


def test_a_contact_changed_while_a_register_is_in_flight_goes_out_after_it() -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    moved = "sip:3f2a9c1e7d5b4a60@198.51.100.7:5555"
    assert sent(reg.update(config(contact=moved), 0.05)) == []  # one request at a time
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    assert second.headers.get("Contact") == f"<{moved}>"  # the retry carries it already
    events = reg.receive(answer(second, 200, "OK", ("Contact", f"<{moved}>;expires=60")), 0.2)
    assert sent(events) == []  # nothing left to send again
    [again] = sent(reg.update(config(contact=CONTACT), 0.3))
    assert again.headers.get("Contact") == f"<{CONTACT}>"
    assert reg.update(config(contact=moved), 0.35) == []
    events = reg.receive(answer(again, 200, "OK", ("Contact", f"<{CONTACT}>;expires=60")), 0.4)
    [resent] = sent(events)
    assert resent.headers.get("Contact") == f"<{moved}>"


INSTANCE = "urn:uuid:00000000-0000-4000-8000-0000000000aa"


def test_outbound_registers_with_instance_and_reg_id() -> None:
    """RFC 5626 §4.2: +sip.instance and reg-id in the Contact, Supported: outbound, path."""
    reg = machine(instance_id=INSTANCE, outbound=True)
    [first] = sent(reg.register(0.0))
    [contact] = first.headers.get_all("Contact")
    assert contact == f'<{CONTACT}>;+sip.instance="<{INSTANCE}>";reg-id=1'
    assert first.headers.get("Supported") == "outbound, path"
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.0))
    granted = ("Contact", f"<{CONTACT}>;expires=600;reg-id=1")
    extra = [granted, ("Require", "outbound"), ("Flow-Timer", "25")]
    events = reg.receive(answer(second, 200, "OK", *extra), 0.1)
    [event] = [e for e in events if isinstance(e, Registered)]
    assert (event.expires, event.flow_timer, event.outbound) == (600, 25, True)
    # un-REGISTER: the same Contact, expires=0
    [bye] = sent(reg.deregister(1.0))
    assert bye.headers.get("Contact") == (
        f'<{CONTACT}>;+sip.instance="<{INSTANCE}>";reg-id=1;expires=0'
    )


def test_a_registrar_without_outbound_says_so_by_not_requiring_it() -> None:
    reg = machine(instance_id=INSTANCE, outbound=True)
    second = registered(reg)
    assert second.headers.get("Supported") == "outbound, path"
    [refresh] = sent(reg.register(1.0))
    events = reg.receive(answer(refresh, 200, "OK", ("Contact", f"<{CONTACT}>;expires=60")), 1.1)
    [event] = [e for e in events if isinstance(e, Registered)]
    assert (event.flow_timer, event.outbound) == (None, False)


def test_439_falls_back_to_a_plain_registration_for_good() -> None:
    """RFC 5626 §4.2.2: First Hop Lacks Outbound Support: again without reg-id."""
    reg = machine(instance_id=INSTANCE, outbound=True)
    [first] = sent(reg.register(0.0))
    [plain] = sent(reg.receive(answer(first, 439, "First Hop Lacks Outbound Support"), 0.1))
    assert plain.headers.get("Contact") == f'<{CONTACT}>;+sip.instance="<{INSTANCE}>"'
    assert plain.headers.get("Supported") is None
    assert plain.cseq[0] == first.cseq[0] + 1
    assert reg.state is State.REGISTERING
    # a new configuration from the session (outbound asked again) stays plain
    reg.update(config(instance_id=INSTANCE, outbound=True), 0.2)
    [second] = sent(reg.receive(answer(plain, 401, "Unauthorized", CHALLENGE), 0.3))
    assert "reg-id" not in (second.headers.get("Contact") or "")


def with_top_via(response: Response, top: str) -> Response:
    """``response`` with ``top`` for its Via (our requests carry one)."""
    response.headers.set("Via", top)
    return response


SENT_VIA = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1"  # machine()'s first request


@pytest.mark.parametrize(
    "top",
    [
        SENT_VIA + ";;rport",  # ours as sent, then a stray ';': no Via, so no answer
        SENT_VIA + "0;rport=5062",  # a longer branch: another request's
        SENT_VIA + ";rport=5062;received=bad host",
        "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-2;rport",
        "SIP/2.0/UDP 192.0.2.10:5062;rport;branch=z9hG4bK-0",
    ],
)
def test_a_response_whose_top_via_is_not_ours_is_not_acted_on(top: str) -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    assert reg.receive(with_top_via(answer(first, 401, "Unauthorized", CHALLENGE), top), 0.1) == []
    assert reg.state is State.REGISTERING


@pytest.mark.parametrize(
    ("top", "learned"),
    [
        (SENT_VIA + ";rport=40000;received=203.0.113.7", "203.0.113.7:40000"),  # as sent
        (SENT_VIA + " ; rport = 40000", "192.0.2.10:40000"),  # spaced: read in full
        ("sip/2.0/udp 192.0.2.10:5062;BRANCH=z9hG4bK-1;received=203.0.113.7", "203.0.113.7:5062"),
        ("SIP/2.0/UDP 192.0.2.10:5062;rport=9;branch=z9hG4bK-1", "192.0.2.10:9"),
        (SENT_VIA, ""),
    ],
)
def test_our_via_is_ours_however_the_registrar_writes_it(top: str, learned: str) -> None:
    """Our Via as sent is read from the branch on; written otherwise, it is read in full."""
    reg = machine()
    [first] = sent(reg.register(0.0))
    events = reg.receive(with_top_via(answer(first, 401, "Unauthorized", CHALLENGE), top), 0.1)
    [second] = sent(events)
    ok = answer(second, 200, "OK", ("Contact", f"<{CONTACT}>;expires=60"))
    top_ok = top.replace("z9hG4bK-1", "z9hG4bK-2")
    [done] = [e for e in reg.receive(with_top_via(ok, top_ok), 0.2) if isinstance(e, Registered)]
    assert done.public_address == learned
    assert done.expires == 60


@pytest.mark.parametrize(
    ("contact", "expires"),
    [
        (f"<{CONTACT}>;expires=60", 60),
        (f"<{CONTACT}> ; expires = 61", 61),
        (f'<{CONTACT}>;+sip.instance="<urn:uuid:x>";expires=62', 62),
        (f"<{CONTACT}>;expires=60;;", 1800),  # unreadable: the Expires header's
        (f"<{CONTACT}>", 1800),
        (f"<{CONTACT}>;expires=junk", 1800),
    ],
)
def test_the_expiry_of_our_one_listed_binding(contact: str, expires: int) -> None:
    reg = machine()
    [first] = sent(reg.register(0.0))
    [second] = sent(reg.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    ok = answer(second, 200, "OK", ("Contact", contact), ("Expires", "1800"))
    [done] = [e for e in reg.receive(ok, 0.2) if isinstance(e, Registered)]
    assert done.expires == expires
