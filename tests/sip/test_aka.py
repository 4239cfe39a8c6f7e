"""The software USIM: AUTN checks, SQN freshness, AUTS, nonces, Digest passwords, settings.

The network side (the AuC building AUTN, the HSS checking AUTS) is written here from
Milenage, whose functions test_milenage.py pins to the published test data.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.sip.aka import (
    DELTA,
    SQN_MAX,
    AkaError,
    AkaResult,
    UsimKeys,
    auts_param,
    digest_password,
    run_aka,
    split_nonce,
)
from sipprofile.server.sip.milenage import Milenage

h = bytes.fromhex

# TS 35.208 §4.3 set 3 (see test_milenage.py) as the subscriber.
K = h("fec86ba6eb707ed08905757b1bb44b8f")
OP = h("dbc59adcb6f9a0ef735477b7fadf8374")
OPC = h("1006020f0a478bf6b699f15c062e42b3")
RAND = h("9f7c8d021accf4db213ccff0c7f71a6a")
AMF = h("8000")  # not 0000, so a MAC-S computed with the challenge's AMF would not verify


def keys(sqn: int = 1000) -> UsimKeys:
    return UsimKeys(k=K, opc=OPC, amf=AMF, sqn=sqn)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def network_autn(sqn: int, *, rand: bytes = RAND, amf: bytes = AMF, k: bytes = K) -> bytes:
    """AUTN as the AuC builds it (TS 33.102 §6.3.2): (SQN xor AK) || AMF || MAC-A."""
    m = Milenage(k, OPC)
    sqn_bytes = sqn.to_bytes(6, "big")
    ak = m.f2345(rand)[3]
    return xor(sqn_bytes, ak) + amf + m.f1(rand, sqn_bytes, amf)


def network_resync(auts: bytes, *, rand: bytes = RAND) -> int | None:
    """SQN_MS as the HSS reads it from AUTS (TS 33.102 §6.3.5), None if MAC-S is wrong."""
    m = Milenage(K, OPC)
    sqn_ms = xor(auts[:6], m.f5star(rand))
    if m.f1star(rand, sqn_ms, b"\x00\x00") != auts[6:]:
        return None
    return int.from_bytes(sqn_ms, "big")


# --- the successful path ------------------------------------------------------------


def test_fresh_challenge_is_answered() -> None:
    result = run_aka(keys(1000), RAND, network_autn(1032))
    res, ck, ik, _ak = Milenage(K, OPC).f2345(RAND)
    assert result.outcome == "ok"
    assert (result.res, result.ck, result.ik) == (res, ck, ik)
    assert result.auts == b""
    assert result.sqn == 1032


def test_published_vector_end_to_end() -> None:
    # TS 35.208 set 3 with its own SQN and AMF: AUTN from the literal f5 and f1 values.
    autn = xor(h("9d0277595ffc"), h("33484dc2136b")) + h("725c") + h("9cabc3e99baf7281")
    result = run_aka(keys(0x9D0277595FFC - 1), RAND, autn)
    assert result.outcome == "ok"
    assert result.res.hex() == "8011c48c0c214ed2"
    assert result.ck.hex() == "5dbdbb2954e8f3cde665b046179a5098"
    assert result.ik.hex() == "59a92d3b476a0443487055cf88b2307b"
    assert result.sqn == 0x9D0277595FFC


@pytest.mark.parametrize("ahead", [1, 2, 32, DELTA - 1, DELTA])
def test_sqn_window_accepts(ahead: int) -> None:
    result = run_aka(keys(5000), RAND, network_autn(5000 + ahead))
    assert result.outcome == "ok"
    assert result.sqn == 5000 + ahead


def test_first_challenge_from_a_new_usim() -> None:
    assert run_aka(keys(0), RAND, network_autn(1)).outcome == "ok"
    assert run_aka(keys(0), RAND, network_autn(0)).outcome == "sync-failure"


def test_accepted_sqn_then_replay_is_refused() -> None:
    autn = network_autn(2000)
    first = run_aka(keys(1000), RAND, autn)
    assert first.outcome == "ok"
    usim = dataclasses.replace(keys(1000), sqn=first.sqn)  # what the caller persists
    again = run_aka(usim, RAND, autn)
    assert again.outcome == "sync-failure"
    assert again.sqn == 2000
    assert network_resync(again.auts) == 2000


def test_sqn_arithmetic_at_the_top_of_the_range() -> None:
    assert run_aka(keys(SQN_MAX - 1), RAND, network_autn(SQN_MAX)).outcome == "ok"
    assert run_aka(keys(SQN_MAX), RAND, network_autn(SQN_MAX)).outcome == "sync-failure"


# --- synchronisation failures ----------------------------------------------------------


@pytest.mark.parametrize(
    ("highest", "challenge"),
    [
        (1000, 1000),  # the same SQN again: a replay
        (1000, 999),  # older
        (1000, 0),
        (1000, 1000 + DELTA + 1),  # too far ahead
        (0, SQN_MAX),
        (SQN_MAX, 5),
    ],
)
def test_stale_or_far_sqn_is_a_sync_failure(highest: int, challenge: int) -> None:
    result = run_aka(keys(highest), RAND, network_autn(challenge))
    assert result.outcome == "sync-failure"
    assert (result.res, result.ck, result.ik) == (b"", b"", b"")
    assert result.sqn == highest
    assert len(result.auts) == 14
    # The HSS recovers SQN_MS and checks MAC-S, computed with AMF 0000.
    assert network_resync(result.auts) == highest


def test_auts_mac_uses_the_resync_amf_not_the_challenges() -> None:
    result = run_aka(keys(1000), RAND, network_autn(10, amf=AMF))
    m = Milenage(K, OPC)
    sqn_ms = (1000).to_bytes(6, "big")
    assert result.auts[6:] == m.f1star(RAND, sqn_ms, b"\x00\x00")
    assert result.auts[6:] != m.f1star(RAND, sqn_ms, AMF)
    assert result.auts[:6] == xor(sqn_ms, m.f5star(RAND))


def test_auts_of_another_rand_does_not_verify() -> None:
    result = run_aka(keys(1000), RAND, network_autn(10))
    assert network_resync(result.auts, rand=bytes(16)) is None


# --- MAC failures ------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(16))
def test_any_altered_autn_octet_is_a_mac_failure(index: int) -> None:
    # Octets 0-5 change SQN, 6-7 AMF, 8-15 the MAC: all are covered by MAC-A.
    autn = bytearray(network_autn(2000))
    autn[index] ^= 0x01
    result = run_aka(keys(1000), RAND, bytes(autn))
    assert result == AkaResult("mac-failure", b"", b"", b"", b"", 1000)


def test_altered_rand_is_a_mac_failure() -> None:
    rand = bytearray(RAND)
    rand[7] ^= 0x80
    assert run_aka(keys(1000), bytes(rand), network_autn(2000)).outcome == "mac-failure"


def test_wrong_k_is_a_mac_failure() -> None:
    other_k = bytes(16)
    assert run_aka(keys(1000), RAND, network_autn(2000, k=other_k)).outcome == "mac-failure"


def test_wrong_opc_is_a_mac_failure() -> None:
    usim = UsimKeys(k=K, opc=OP, amf=AMF, sqn=1000)  # OP stored where OPc was expected
    assert run_aka(usim, RAND, network_autn(2000)).outcome == "mac-failure"


def test_mac_is_checked_before_freshness() -> None:
    # A forged AUTN with a stale SQN must not produce an AUTS (which would be an oracle).
    autn = bytearray(network_autn(5))
    autn[15] ^= 0x01
    assert run_aka(keys(1000), RAND, bytes(autn)).outcome == "mac-failure"


@pytest.mark.parametrize(("rand", "autn"), [(bytes(15), bytes(16)), (bytes(16), bytes(17))])
def test_wrong_lengths(rand: bytes, autn: bytes) -> None:
    with pytest.raises(AkaError, match="must be 16 bytes"):
        run_aka(keys(), rand, autn)


# --- nonces --------------------------------------------------------------------------------


def test_split_nonce() -> None:
    autn = network_autn(2000)
    nonce = base64.b64encode(RAND + autn).decode()
    assert split_nonce(nonce) == (RAND, autn, b"")


def test_split_nonce_with_server_data() -> None:
    autn = network_autn(2000)
    nonce = base64.b64encode(RAND + autn + b"server-specific").decode()
    assert split_nonce(nonce) == (RAND, autn, b"server-specific")


def test_split_nonce_without_padding() -> None:
    raw = RAND + bytes(16) + b"xy"  # 34 bytes: base64 ends in "=="
    nonce = base64.b64encode(raw).decode()
    assert nonce.endswith("==")
    assert split_nonce(nonce.rstrip("=")) == (RAND, bytes(16), b"xy")
    assert split_nonce(nonce[:-1]) == (RAND, bytes(16), b"xy")


@pytest.mark.parametrize(
    "nonce",
    [
        "",
        "not base64 at all!",
        base64.b64encode(bytes(31)).decode(),  # one byte short of RAND || AUTN
        base64.b64encode(bytes(32)).decode()[:-1] + "é",
        base64.b64encode(bytes(32)).decode() + "A",  # 4n+1 characters: never base64
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),  # "-" and "_" are not RFC 4648 §4
        " " + base64.b64encode(bytes(32)).decode(),
    ],
)
def test_bad_nonces(nonce: str) -> None:
    with pytest.raises(AkaError):
        split_nonce(nonce)


@given(st.text(max_size=200))
def test_split_nonce_on_any_text_raises_only_aka_error(text: str) -> None:
    try:
        rand, autn, rest = split_nonce(text)
    except AkaError:
        return
    assert (len(rand), len(autn)) == (16, 16)
    assert base64.b64decode(text + "=" * (-len(text) % 4)) == rand + autn + rest


@given(st.binary(min_size=32, max_size=120))
def test_split_nonce_round_trip(raw: bytes) -> None:
    assert split_nonce(base64.b64encode(raw).decode()) == (raw[:16], raw[16:32], raw[32:])


# --- Digest passwords and the auts parameter ----------------------------------------------


def _ok() -> AkaResult:
    result = run_aka(keys(1000), RAND, network_autn(1001))
    assert result.outcome == "ok"
    return result


def test_akav1_password_is_res() -> None:
    result = _ok()
    assert digest_password("AKAv1-MD5", result) == result.res
    assert digest_password("akav1-md5", result) == result.res


def test_akav2_password() -> None:
    result = _ok()
    # RFC 4169 §3: base64(PRF(RES || IK || CK, "http-digest-akav2-password")), PRF = HMAC-MD5.
    key = result.res + result.ik + result.ck
    mac = hmac.new(key, b"http-digest-akav2-password", hashlib.md5).digest()
    expected = base64.b64encode(mac)
    assert digest_password("AKAv2-MD5", result) == expected
    assert digest_password("akav2-md5", result) == expected
    assert len(expected) == 24


@pytest.mark.parametrize("algorithm", ["MD5", "AKAv1-SHA-256", "AKAv3-MD5", ""])
def test_password_for_other_algorithms(algorithm: str) -> None:
    with pytest.raises(AkaError, match="not a Digest AKA algorithm"):
        digest_password(algorithm, _ok())


@pytest.mark.parametrize("challenge", [5, 3000])
def test_no_password_without_success(challenge: int) -> None:
    autn = bytearray(network_autn(challenge))
    if challenge == 3000:
        autn[12] ^= 0x10  # mac-failure; 5 is a sync-failure
    result = run_aka(keys(1000), RAND, bytes(autn))
    assert result.outcome != "ok"
    with pytest.raises(AkaError, match=result.outcome):
        digest_password("AKAv1-MD5", result)


def test_auts_param() -> None:
    result = run_aka(keys(1000), RAND, network_autn(5))
    text = auts_param(result.auts)
    assert base64.b64decode(text, validate=True) == result.auts
    assert len(text) == 20


def test_auts_param_length() -> None:
    with pytest.raises(AkaError, match="14 bytes"):
        auts_param(bytes(13))


def test_result_repr_hides_secrets() -> None:
    result = _ok()
    text = repr(result)
    for secret in (result.res, result.ck, result.ik):
        assert secret.hex() not in text
        assert repr(secret) not in text
    assert "'ok'" in text


# --- settings --------------------------------------------------------------------------------

K_HEX = K.hex()
OP_HEX = OP.hex()
OPC_HEX = OPC.hex()


def test_from_settings_with_op() -> None:
    usim = UsimKeys.from_settings(K_HEX, OP_HEX, None, "8000", 7)
    assert usim == UsimKeys(k=K, opc=OPC, amf=h("8000"), sqn=7)


def test_from_settings_with_opc_any_case() -> None:
    usim = UsimKeys.from_settings(K_HEX.upper(), None, OPC_HEX.upper(), "B9b9", 0)
    assert usim == UsimKeys(k=K, opc=OPC, amf=h("b9b9"), sqn=0)


def test_from_settings_empty_string_is_unset() -> None:
    assert UsimKeys.from_settings(K_HEX, "", OPC_HEX, "0000", 0).opc == OPC
    assert UsimKeys.from_settings(K_HEX, OP_HEX, "", "0000", 0).opc == OPC


@pytest.mark.parametrize(
    ("op", "opc", "match"),
    [
        (OP_HEX, OPC_HEX, "not both"),
        (None, None, "neither"),
        ("", None, "neither"),
        ("", "", "neither"),
    ],
)
def test_from_settings_op_xor_opc(op: str | None, opc: str | None, match: str) -> None:
    with pytest.raises(AkaError, match=match):
        UsimKeys.from_settings(K_HEX, op, opc, "8000", 0)


SECRETS = (K_HEX, OP_HEX, OPC_HEX)


def _assert_no_secret(error: AkaError) -> None:
    text = str(error).lower()
    for secret in SECRETS:
        for i in range(0, len(secret) - 7):
            assert secret[i : i + 8] not in text, text


@pytest.mark.parametrize(
    ("k", "op", "opc", "amf", "match"),
    [
        (K_HEX[:-2], OP_HEX, None, "8000", "K must be 32 hex digits"),
        (K_HEX + "00", OP_HEX, None, "8000", "K must be 32 hex digits"),
        (K_HEX[:-1] + "g", OP_HEX, None, "8000", "K must be hexadecimal"),
        (K_HEX[:16] + " " + K_HEX[17:], OP_HEX, None, "8000", "K must be hexadecimal"),
        (K_HEX, OP_HEX[:-1] + "z", None, "8000", "OP must be hexadecimal"),
        (K_HEX, OP_HEX + "0", None, "8000", "OP must be 32 hex digits"),
        (K_HEX, None, OPC_HEX[:30], "8000", "OPc must be 32 hex digits"),
        (K_HEX, None, "x" + OPC_HEX[1:], "8000", "OPc must be hexadecimal"),
        (K_HEX, None, OPC_HEX, "800", "AMF must be 4 hex digits"),
        (K_HEX, None, OPC_HEX, "80000", "AMF must be 4 hex digits"),
        (K_HEX, None, OPC_HEX, "80g0", "AMF must be hexadecimal"),
        ("\uff10" * 32, None, OPC_HEX, "8000", "K must be hexadecimal"),  # fullwidth zeros
    ],
)
def test_from_settings_refuses_bad_values_without_quoting_them(
    k: str, op: str | None, opc: str | None, amf: str, match: str
) -> None:
    with pytest.raises(AkaError, match=match) as caught:
        UsimKeys.from_settings(k, op, opc, amf, 0)
    _assert_no_secret(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None


@pytest.mark.parametrize("sqn", [-1, SQN_MAX + 1])
def test_from_settings_sqn_range(sqn: int) -> None:
    with pytest.raises(AkaError, match="SQN"):
        UsimKeys.from_settings(K_HEX, None, OPC_HEX, "8000", sqn)


@pytest.mark.parametrize(
    ("k", "opc", "amf"), [(bytes(15), OPC, AMF), (K, bytes(17), AMF), (K, OPC, bytes(1))]
)
def test_keys_lengths(k: bytes, opc: bytes, amf: bytes) -> None:
    with pytest.raises(AkaError, match="must be"):
        UsimKeys(k=k, opc=opc, amf=amf, sqn=0)


def test_keys_repr_hides_k_and_opc() -> None:
    text = repr(UsimKeys.from_settings(K_HEX, OP_HEX, None, "8000", 0))
    assert K.hex() not in text
    assert repr(K) not in text
    assert repr(OPC) not in text
    assert "sqn=0" in text


def test_aka_error_is_a_value_error() -> None:
    assert issubclass(AkaError, ValueError)
