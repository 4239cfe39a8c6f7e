"""What an IMS registration does differently (3GPP TS 24.229 §5.1.1), sans I/O."""

from __future__ import annotations

import pytest

from sip.test_registration import CHALLENGE, answer, machine, sent
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.headers import parse_name_addr
from sipprofile.server.sip.registration import State
from sipprofile.server.sip.registration_events import Failed, Registered, Retrying

IMPI = "alice@ims.example.com"


def ims(**changes):
    settings = {
        "aor": "sip:alice@ims.example.com",
        "registrar": "sip:ims.example.com",
        "credentials": Credentials(IMPI, "secret"),
        "initial_authorization": True,
        "option_tags": ("path",),
        "temporary_retries": 1,
    }
    return machine(**(settings | changes))


def test_the_first_register_carries_the_private_identity_and_an_empty_response() -> None:
    [first] = sent(ims().register(0.0))
    assert first.headers.get_all("Authorization") == [
        f'Digest username="{IMPI}", realm="ims.example.com", uri="sip:ims.example.com", '
        'nonce="", response=""'
    ]
    assert first.headers.get("Supported") == "path"


def test_after_the_challenge_only_the_real_answer_is_sent() -> None:
    registration = ims()
    [first] = sent(registration.register(0.0))
    [second] = sent(registration.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1))
    [value] = second.headers.get_all("Authorization")
    assert 'response=""' not in value
    assert 'username="alice@ims.example.com"' in value
    assert 'nonce="' in value and 'nonce=""' not in value


def test_the_realm_given_is_used_instead_of_the_home_domain() -> None:
    registration = ims(credentials=Credentials(IMPI, "secret", "realm.example.net"))
    [first] = sent(registration.register(0.0))
    assert 'realm="realm.example.net"' in first.headers.get("Authorization", "")


def test_outbound_and_path_are_supported_once() -> None:
    [first] = sent(ims(outbound=True, instance_id="urn:uuid:x").register(0.0))
    assert first.headers.get("Supported") == "outbound, path"


@pytest.mark.parametrize("status", [408, 480, 500, 503, 504])
def test_a_temporary_failure_is_retried_once_then_fails(status: int) -> None:
    registration = ims()
    [first] = sent(registration.register(0.0))
    events = registration.receive(answer(first, status, "", ("Retry-After", "7")), 0.1)
    [retry] = [e for e in events if isinstance(e, Retrying)]
    assert retry.retry_at == pytest.approx(7.1)  # Retry-After honoured
    [again] = sent(registration.timer(7.1))
    events = registration.receive(answer(again, status), 7.2)
    [failed] = [e for e in events if isinstance(e, Failed)]
    assert "tried 2 times" in failed.message
    assert registration.state is State.FAILED
    assert sent(registration.timer(10_000.0)) == []  # and nothing more is sent


def test_a_timeout_counts_as_the_one_retry() -> None:
    registration = ims()
    sent(registration.register(0.0))
    events = registration.timer(32.0)  # Timer F
    assert any(isinstance(e, Retrying) for e in events)
    retry_at = next(e.retry_at for e in events if isinstance(e, Retrying))
    sent(registration.timer(retry_at))
    events = registration.timer(retry_at + 32.0)
    assert any(isinstance(e, Failed) for e in events)


def test_the_registered_identities_come_from_p_associated_uri() -> None:
    registration = ims()
    [first] = sent(registration.register(0.0))
    contact = first.headers.get("Contact", "")
    ok = answer(
        first,
        200,
        "OK",
        ("Contact", f"{parse_name_addr(contact)};expires=600000"),
        ("P-Associated-URI", "<sip:alice@ims.example.com>, <tel:+15551234>"),
        ("Service-Route", "<sip:orig@scscf.ims.example.com;lr>"),
    )
    [registered] = [e for e in registration.receive(ok, 0.1) if isinstance(e, Registered)]
    assert registered.aors == ("sip:alice@ims.example.com", "tel:+15551234")
    assert registered.service_route == ("sip:orig@scscf.ims.example.com;lr",)
    assert registered.expires == 600000


def test_a_shortened_binding_is_refreshed_earlier() -> None:
    registration = ims(credentials=None, initial_authorization=False)
    [first] = sent(registration.register(0.0))
    contact = first.headers.get("Contact", "")
    registration.receive(answer(first, 200, "OK", ("Contact", f"{contact};expires=3600")), 0.0)
    assert registration.next_deadline() == 0.9 * 3600
    assert registration.shorten(100, 50.0) == []
    assert registration.next_deadline() == 50.0 + 90.0
    registration.shorten(1000, 60.0)  # later than planned: the earlier refresh stands
    assert registration.next_deadline() == 140.0
    [refresh] = sent(registration.timer(140.0))
    assert refresh.cseq[0] == first.cseq[0] + 1
    registration.receive(answer(refresh, 200, "OK", ("Contact", f"{contact};expires=3600")), 140.1)
    [again] = sent(registration.shorten(0, 141.0))  # nothing left: refreshed at once
    assert again.cseq[0] == refresh.cseq[0] + 1


def test_shortening_means_nothing_unless_registered() -> None:
    registration = ims()
    sent(registration.register(0.0))
    assert registration.shorten(10, 1.0) == []


# ---------------------------------------------------------------- RFC 3329 sec-agree


def agreeing(**changes):
    return ims(security_agreement=True, option_tags=("path", "sec-agree"), **changes)


def ok_for(request):
    contact = request.headers.get("Contact", "")
    return answer(request, 200, "OK", ("Contact", f"{contact};expires=600000"))


def test_the_first_register_offers_digest_and_requires_sec_agree() -> None:
    [first] = sent(agreeing().register(0.0))
    assert first.headers.get("Security-Client") == "digest"  # UDP: no tls to offer
    assert first.headers.get("Require") == "sec-agree"
    assert first.headers.get("Proxy-Require") == "sec-agree"
    assert first.headers.get("Supported") == "path, sec-agree"
    assert first.headers.get("Security-Verify") is None


def test_a_494_is_answered_with_security_verify_and_the_choice_shows_when_registered() -> None:
    registration = agreeing()
    [first] = sent(registration.register(0.0))
    server = "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96, digest;q=0.1;d-alg=md5"
    [second] = sent(registration.receive(answer(first, 494, "", ("Security-Server", server)), 0.1))
    assert second.headers.get("Security-Verify") == server  # the server's list, as received
    [third] = sent(registration.receive(answer(second, 401, "", CHALLENGE), 0.2))
    assert third.headers.get("Security-Verify") == server  # on every later request
    assert 'response=""' not in (third.headers.get("Authorization") or "")
    events = registration.receive(ok_for(third), 0.3)
    [registered] = [e for e in events if isinstance(e, Registered)]
    assert registered.negotiated_security == "digest"


def test_a_401_carrying_the_list_agrees_too() -> None:
    registration = agreeing()
    [first] = sent(registration.register(0.0))
    challenge = answer(first, 401, "", CHALLENGE, ("Security-Server", "digest;q=0.2"))
    [second] = sent(registration.receive(challenge, 0.1))
    assert second.headers.get("Security-Verify") == "digest;q=0.2"


def test_a_registrar_without_sec_agree_gets_the_request_without_it() -> None:
    registration = agreeing()
    [first] = sent(registration.register(0.0))
    refused = answer(first, 420, "Bad Extension", ("Unsupported", "sec-agree"))
    [second] = sent(registration.receive(refused, 0.1))
    for name in ("Security-Client", "Require", "Proxy-Require", "Security-Verify"):
        assert second.headers.get(name) is None, name
    [registered] = [e for e in registration.receive(ok_for(second), 0.2)
                    if isinstance(e, Registered)]  # fmt: skip
    assert registered.negotiated_security == ""


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("Security-Server", "ipsec-3gpp;q=0.1;alg=hmac-md5-96"), "offers ipsec-3gpp"),
        (("Warning", '399 pcscf "no list"'), "without a Security-Server"),
        (("Security-Server", "digest;q=7"), "cannot be read"),
    ],
)
def test_no_agreement_fails_with_security_agreement_failed(extra, words) -> None:
    registration = agreeing()
    [first] = sent(registration.register(0.0))
    events = registration.receive(answer(first, 494, "", extra), 0.1)
    [failed] = [e for e in events if isinstance(e, Failed)]
    assert failed.error == "SecurityAgreementFailed"
    assert words in failed.message
    assert sent(events) == []


def test_a_second_494_after_agreeing_fails_instead_of_looping() -> None:
    registration = agreeing()
    [first] = sent(registration.register(0.0))
    [second] = sent(registration.receive(answer(first, 494, "", ("Security-Server", "digest")), 0))
    events = registration.receive(answer(second, 494, "", ("Security-Server", "digest")), 0.1)
    assert [e.error for e in events if isinstance(e, Failed)] == ["SecurityAgreementFailed"]
