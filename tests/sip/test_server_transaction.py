"""Non-INVITE server transaction (RFC 3261 §17.2.2) driven by a fake clock."""

from __future__ import annotations

import pytest

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Request, Response
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.server_transaction import (
    ServerTransaction,
    State,
    response_bytes,
    transaction_key,
)
from sipprofile.server.sip.transaction import T1

VIA = "SIP/2.0/UDP pcscf.example.net:5060;branch=z9hG4bKnotify1"


def notify(
    via: str = VIA, method: str = "NOTIFY", to: str = "<sip:a@example.net>;tag=ours"
) -> Request:
    text = (
        f"{method} sip:ue@192.0.2.10:5062 SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Via: SIP/2.0/UDP scscf.example.net;branch=z9hG4bKscscf\r\n"
        "From: <sip:a@example.net>;tag=theirs\r\n"
        f"To: {to}\r\n"
        "Call-ID: call-1\r\n"
        f"CSeq: 7 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def response(request: Request, status: int, reason: str) -> bytes:
    return response_bytes(request, status, reason)


def test_key_is_branch_sent_by_and_method() -> None:
    assert transaction_key(notify()) == transaction_key(notify())
    assert transaction_key(notify()) != transaction_key(notify(VIA.replace("notify1", "notify2")))
    assert transaction_key(notify()) != transaction_key(notify(VIA.replace("pcscf", "other")))
    assert transaction_key(notify()) != transaction_key(notify(method="INFO"))
    # sent-by host compares without case, like the host it is
    assert transaction_key(notify()) == transaction_key(notify(VIA.replace("pcscf", "PCSCF")))


def test_rfc2543_key_without_the_magic_cookie() -> None:
    old = "SIP/2.0/UDP pcscf.example.net:5060;branch=1234"
    key = transaction_key(notify(old))
    assert key[0] == "rfc2543"
    assert key == transaction_key(notify(old))
    assert key != transaction_key(notify(old, to="<sip:a@example.net>;tag=other"))


def test_key_needs_a_readable_via() -> None:
    request = notify()
    request.headers.remove("Via")
    with pytest.raises(SipParseError):
        transaction_key(request)
    tx = ServerTransaction(notify(), reliable=False)
    assert not tx.matches(request)


def test_udp_retransmissions_before_and_after_the_final_response() -> None:
    request = notify()
    tx = ServerTransaction(request, reliable=False)
    assert tx.state is State.TRYING
    assert tx.receive(request, 0.1) == []  # nothing to resend yet
    trying = response(request, 100, "Trying")
    assert tx.respond(trying, False, 0.2) == [trying]
    assert tx.state is State.PROCEEDING
    assert tx.receive(request, 0.3) == [trying]
    ok = response(request, 200, "OK")
    assert tx.respond(ok, True, 1.0) == [ok]
    assert tx.state is State.COMPLETED
    assert tx.receive(request, 2.0) == [ok]
    assert tx.receive(request, 3.0) == [ok]
    assert tx.respond(response(request, 500, "Oops"), True, 3.5) == []  # discarded
    assert tx.receive(notify(VIA.replace("notify1", "other")), 4.0) == []  # not ours
    assert tx.next_deadline() == pytest.approx(1.0 + 64 * T1)
    tx.timer(1.0 + 64 * T1 - 0.01)
    assert not tx.terminated
    tx.timer(1.0 + 64 * T1)
    assert tx.terminated
    assert tx.next_deadline() is None
    assert tx.receive(request, 40.0) == []


def test_reliable_transport_terminates_with_the_final_response() -> None:
    request = notify(VIA.replace("UDP", "TCP"))
    tx = ServerTransaction(request, reliable=True)
    ok = response(request, 200, "OK")
    assert tx.respond(ok, True, 0.0) == [ok]
    assert tx.terminated  # Timer J is zero
    assert tx.next_deadline() is None
    assert tx.receive(request, 0.1) == []


def test_transport_error_ends_the_transaction() -> None:
    tx = ServerTransaction(notify(), reliable=False)
    tx.respond(response(notify(), 200, "OK"), True, 0.0)
    tx.transport_error()
    assert tx.terminated
    assert tx.next_deadline() is None


def test_response_copies_what_rfc3261_8_2_6_says() -> None:
    request = notify()
    data = response_bytes(request, 200, "OK", headers=[("Contact", "<sip:ue@192.0.2.10:5062>")])
    parsed = parse_message(data)
    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason) == (200, "OK")
    assert parsed.headers.get_all("Via") == request.headers.get_all("Via")
    assert parsed.header("From") == request.header("From")
    assert parsed.header("To") == request.header("To")  # has a tag already: kept
    assert parsed.call_id == "call-1"
    assert parsed.cseq == (7, "NOTIFY")
    assert parsed.header("Contact") == "<sip:ue@192.0.2.10:5062>"
    assert parsed.body == b""


def test_response_adds_a_to_tag_the_same_for_every_retransmission() -> None:
    request = notify(to="<sip:a@example.net>")
    first = parse_message(response_bytes(request, 481, "Call/Transaction Does Not Exist"))
    again = parse_message(response_bytes(notify(to="<sip:a@example.net>"), 481, "x"))
    tag = first.to.param("tag")
    assert tag
    assert again.to.param("tag") == tag
    chosen = parse_message(response_bytes(request, 481, "x", to_tag="mine"))
    assert chosen.to.param("tag") == "mine"


def test_response_refuses_an_unwritable_reason() -> None:
    with pytest.raises(SipParseError):
        response_bytes(notify(), 400, "bad\r\nInjected: 1")
