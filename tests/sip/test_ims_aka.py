"""IMS AKA in the REGISTER machine: RFC 3310 / RFC 4169 challenges answered by the USIM.

The network side (AUTN from the AuC, the digest check of the S-CSCF, AUTS checked by
the HSS) is written here from Milenage and hashlib; test_aka.py and test_milenage.py
pin those pieces to published data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import pytest

from sip.test_aka import OPC, K, network_autn, network_resync
from sip.test_registration import answer, sent
from sipprofile.server.sip.aka import UsimKeys
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.milenage import Milenage
from sipprofile.server.sip.registration import Registration, RegistrationConfig, State
from sipprofile.server.sip.registration_events import Failed, Registered, UsimSequence

IMPI = "alice@ims.example.com"
REALM = "ims.example.com"
REGISTRAR = "sip:ims.example.com"


def registration(sqn: int = 1000, password: str = "") -> Registration:
    usim = UsimKeys(k=K, opc=OPC, amf=bytes.fromhex("8000"), sqn=sqn)
    config = RegistrationConfig(
        aor="sip:alice@ims.example.com",
        registrar=REGISTRAR,
        contact="sip:3f2a9c1e7d5b4a60@192.0.2.10:5062",
        call_id="call-1",
        from_tag="tag-1",
        via_transport="UDP",
        via_sent_by="192.0.2.10:5062",
        reliable=False,
        credentials=Credentials(IMPI, password, usim=usim),
        initial_authorization=True,
    )
    branches = iter(f"z9hG4bK-{n}" for n in range(1, 100))
    return Registration(
        config, branch_factory=lambda: next(branches), random=lambda: 1.0,
        cnonce_factory=lambda: "cnonce",
    )  # fmt: skip


def aka_challenge(sqn: int, algorithm: str = "AKAv1-MD5", k: bytes = K) -> tuple[bytes, str]:
    rand = os.urandom(16)
    nonce = base64.b64encode(rand + network_autn(sqn, rand=rand, k=k)).decode()
    header = f'Digest realm="{REALM}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
    return rand, header


def params(authorization: str) -> dict[str, str]:
    """The parameters of our Authorization value (none of ours holds ", " inside)."""
    out: dict[str, str] = {}
    for part in authorization.removeprefix("Digest ").split(", "):
        name, _, value = part.partition("=")
        out[name] = value.strip('"')
    return out


def expected_response(p: dict[str, str], password: bytes) -> str:
    """What the S-CSCF computes (RFC 3310 §3.1: RFC 2617 digest with RES as password)."""
    md5 = hashlib.md5
    ha1 = md5(f"{p['username']}:{p['realm']}:".encode() + password).hexdigest()
    ha2 = md5(f"REGISTER:{p['uri']}".encode()).hexdigest()
    text = f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}"
    return md5(text.encode()).hexdigest()


def network_res(rand: bytes) -> tuple[bytes, bytes, bytes]:
    res, ck, ik, _ = Milenage(K, OPC).f2345(rand)
    return res, ck, ik


def ok(request):
    contact = request.headers.get("Contact", "")
    return answer(request, 200, "OK", ("Contact", f"{contact};expires=600000"))


def test_an_akav1_challenge_is_answered_with_res_and_the_new_sqn_reported() -> None:
    reg = registration(sqn=1000)
    [first] = sent(reg.register(0.0))
    assert 'response=""' in (first.headers.get("Authorization") or "")
    rand, header = aka_challenge(1001)
    events = reg.receive(answer(first, 401, "Unauthorized", ("WWW-Authenticate", header)), 0.1)
    assert UsimSequence(1001) in events  # to be stored
    [second] = sent(events)
    p = params(second.headers.get("Authorization") or "")
    assert p["username"] == IMPI and p["algorithm"] == "AKAv1-MD5" and "auts" not in p
    res, _, _ = network_res(rand)
    assert p["response"] == expected_response(p, res)
    events = reg.receive(ok(second), 0.2)
    assert any(isinstance(e, Registered) for e in events)


def test_an_akav2_challenge_uses_the_rfc_4169_password() -> None:
    reg = registration()
    [first] = sent(reg.register(0.0))
    rand, header = aka_challenge(1001, "AKAv2-MD5")
    [second] = sent(reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1))
    p = params(second.headers.get("Authorization") or "")
    res, ck, ik = network_res(rand)
    password = base64.b64encode(
        hmac.new(res + ik + ck, b"http-digest-akav2-password", hashlib.md5).digest()
    )
    assert p["algorithm"] == "AKAv2-MD5"
    assert p["response"] == expected_response(p, password)


def test_a_stale_sequence_number_resynchronises_then_registers() -> None:
    reg = registration(sqn=5000)
    [first] = sent(reg.register(0.0))
    rand, header = aka_challenge(4000)  # behind the USIM: a replay, or a lost HSS state
    events = reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1)
    assert not any(isinstance(e, UsimSequence) for e in events)
    [resync] = sent(events)
    p = params(resync.headers.get("Authorization") or "")
    auts = base64.b64decode(p["auts"])
    assert network_resync(auts, rand=rand) == 5000  # the HSS learns the USIM's SQN
    assert p["response"] == expected_response(p, b"")  # RFC 3310 §3.4: empty password
    _, header = aka_challenge(5001)  # the HSS's next vector, in step again
    events = reg.receive(answer(resync, 401, "", ("WWW-Authenticate", header)), 0.2)
    assert UsimSequence(5001) in events
    [third] = sent(events)
    assert "auts" not in params(third.headers.get("Authorization") or "")
    assert any(isinstance(e, Registered) for e in reg.receive(ok(third), 0.3))


def test_a_second_resynchronisation_in_a_row_fails() -> None:
    reg = registration(sqn=5000)
    [first] = sent(reg.register(0.0))
    _, header = aka_challenge(4000)
    [resync] = sent(reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1))
    _, header = aka_challenge(4001)  # the network did not resynchronise
    events = reg.receive(answer(resync, 401, "", ("WWW-Authenticate", header)), 0.2)
    [failed] = [e for e in events if isinstance(e, Failed)]
    assert failed.error == "AuthenticationFailed" and "sequence" in failed.message


def test_a_network_that_fails_authentication_is_authentication_failed() -> None:
    reg = registration()
    [first] = sent(reg.register(0.0))
    _, header = aka_challenge(1001, k=bytes(16))  # an AuC without our K: a false network
    events = reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1)
    [failed] = [e for e in events if isinstance(e, Failed)]
    assert failed.error == "AuthenticationFailed"
    assert "AUTN" in failed.message
    assert sent(events) == []
    assert reg.state is State.FAILED


@pytest.mark.parametrize("nonce", ["not base64!", base64.b64encode(b"short").decode()])
def test_an_unreadable_aka_nonce_fails_clearly(nonce: str) -> None:
    reg = registration()
    [first] = sent(reg.register(0.0))
    header = f'Digest realm="{REALM}", nonce="{nonce}", algorithm=AKAv1-MD5'
    events = reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1)
    [failed] = [e for e in events if isinstance(e, Failed)]
    assert "cannot be read" in failed.message


def test_a_wrong_res_is_not_answered_twice() -> None:
    reg = registration()
    [first] = sent(reg.register(0.0))
    _, header = aka_challenge(1001)
    [second] = sent(reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1))
    _, header = aka_challenge(1002)  # the S-CSCF refused our RES and challenges afresh
    events = reg.receive(answer(second, 401, "", ("WWW-Authenticate", header)), 0.2)
    assert [e.error for e in events if isinstance(e, Failed)] == ["AuthenticationFailed"]


def test_without_usim_keys_an_aka_challenge_cannot_be_answered() -> None:
    config_reg = registration()
    config_reg.set_credentials(Credentials(IMPI, "password"), None)
    [first] = sent(config_reg.register(0.0))
    _, header = aka_challenge(1001)
    events = config_reg.receive(answer(first, 401, "", ("WWW-Authenticate", header)), 0.1)
    assert [e.error for e in events if isinstance(e, Failed)] == ["AuthenticationFailed"]
