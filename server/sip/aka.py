"""A software USIM for IMS registration: Digest AKA (RFC 3310, RFC 4169) from stored keys.

An ``ims`` profile without a modem answers ``Digest`` challenges with
``algorithm=AKAv1-MD5`` or ``AKAv2-MD5`` from the keys the profile stores (K, OP or OPc,
AMF and the highest SQN accepted so far). This module is the card's part of that:

* ``split_nonce``: RFC 3310 §3.2, the nonce is base64(RAND || AUTN || server data);
* ``run_aka``: TS 33.102 §6.3.3, check AUTN (MAC, then SQN freshness) and compute RES,
  CK, IK, or the AUTS of a synchronisation failure (§6.3.5), with Milenage (TS 35.206);
* ``digest_password``: the Digest password, RES for AKAv1 (RFC 3310 §3.1, §3.3), base64 of
  HMAC-MD5(RES||IK||CK, "http-digest-akav2-password") for AKAv2 (RFC 4169 §3);
* ``auts_param``: the ``auts`` Authorization parameter (RFC 3310 §3.4).

No I/O and no clock. SQN is state the caller keeps: ``run_aka`` takes the highest
accepted SQN in ``UsimKeys.sqn`` and returns the new one in ``AkaResult.sqn``, which
the caller must persist before answering, or a replay of the same challenge would be
accepted again after a restart. Key material never appears in messages or reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Final, Literal

from .milenage import Milenage, opc_from_op

__all__ = [
    "DELTA",
    "SQN_MAX",
    "AkaError",
    "AkaOutcome",
    "AkaResult",
    "UsimKeys",
    "auts_param",
    "digest_password",
    "run_aka",
    "split_nonce",
]

#: SQN is a 48-bit counter (TS 33.102 §6.3.2 and Annex C).
SQN_MAX: Final = 2**48 - 1

#: How far ahead of the highest accepted SQN a challenge's SQN may be (TS 33.102 Annex C,
#: the limit Δ that protects the counter against wrap-around). A challenge with a valid MAC
#: comes from the network, which may skip SQN values (unused vectors, the IND part of
#: SEQ || IND in Annex C), so Δ must be far above any honest jump; but one accepted jump to near
#: 2^48 would leave the counter no room, so it must also be far below the range. 2^28
#: means at least 2^20 accepted jumps before the 48-bit counter is spent.
DELTA: Final = 2**28

#: RFC 4169 §3: the text PRF(RES||IK||CK, ...) is applied to for the AKAv2 password.
_AKAV2_PASSWORD_LABEL: Final = b"http-digest-akav2-password"

_RESYNC_AMF: Final = b"\x00\x00"  # TS 33.102 §6.3.3: MAC-S uses a dummy AMF of zeros
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

AkaOutcome = Literal["ok", "sync-failure", "mac-failure"]


class AkaError(ValueError):
    """Unusable input (a bad nonce, a bad setting). Messages never contain key material."""


def _from_hex(name: str, text: str, size: int) -> bytes:
    """``size`` bytes from exactly ``2 * size`` hex digits, either case.

    Stricter than ``bytes.fromhex`` (no spaces), and the message names the setting but
    never quotes it: a K or OP pasted into the wrong field must not reach a log.
    """
    if len(text) != 2 * size:
        raise AkaError(f"{name} must be {2 * size} hex digits ({size} bytes), got {len(text)}")
    if not all(c in _HEX_DIGITS for c in text):
        raise AkaError(f"{name} must be hexadecimal (0-9, a-f)")
    return bytes.fromhex(text)


@dataclass(frozen=True, slots=True)
class UsimKeys:
    """What a USIM holds: K, OPc, the AMF of the subscription, the highest accepted SQN.

    ``amf`` is not used to check challenges (the USIM takes AMF from AUTN, TS 33.102
    §6.3.3); it is kept because a profile stores it with the other keys. ``sqn`` starts at
    0 and is replaced after each successful ``run_aka`` by ``AkaResult.sqn``.
    """

    k: bytes = field(repr=False)
    opc: bytes = field(repr=False)
    amf: bytes
    sqn: int

    def __post_init__(self) -> None:
        """Refuse impossible values, so ``run_aka`` never meets them."""
        for name, value, size in (("K", self.k, 16), ("OPc", self.opc, 16), ("AMF", self.amf, 2)):
            if len(value) != size:
                raise AkaError(f"{name} must be {size} bytes, got {len(value)}")
        if not 0 <= self.sqn <= SQN_MAX:
            raise AkaError(f"SQN must be between 0 and 2**48 - 1, got {self.sqn}")

    @classmethod
    def from_settings(
        cls, k_hex: str, op_hex: str | None, opc_hex: str | None, amf_hex: str, sqn: int
    ) -> UsimKeys:
        """Keys from a profile's text settings: exactly one of OP and OPc (None or "": unset).

        OP is turned into OPc here (TS 35.206 §4.1), as a USIM personalised with OP would.
        """
        has_op = bool(op_hex)
        has_opc = bool(opc_hex)
        if has_op and has_opc:
            raise AkaError("exactly one of OP and OPc must be set, not both")
        if not has_op and not has_opc:
            raise AkaError("exactly one of OP and OPc must be set, and neither is")
        k = _from_hex("K", k_hex, 16)
        if op_hex:
            opc = opc_from_op(k, _from_hex("OP", op_hex, 16))
        else:
            opc = _from_hex("OPc", opc_hex or "", 16)
        return cls(k=k, opc=opc, amf=_from_hex("AMF", amf_hex, 2), sqn=sqn)


@dataclass(frozen=True, slots=True)
class AkaResult:
    """The USIM's answer to one challenge.

    ``outcome``:

    * ``"ok"``: the network is authentic and the challenge fresh; ``res``, ``ck``, ``ik``
      are set and ``sqn`` is the new highest accepted SQN (persist it);
    * ``"sync-failure"``: authentic but SQN out of range (a replay, or too far ahead);
      ``auts`` (14 bytes) lets the network resynchronise (RFC 3310 §3.4); ``sqn`` is
      unchanged;
    * ``"mac-failure"``: the challenge does not come from our network (or the stored keys
      are wrong); nothing is computed and ``sqn`` is unchanged.

    RES, CK and IK are left out of the repr: they are the password and the session keys.
    """

    outcome: AkaOutcome
    res: bytes = field(repr=False)
    ck: bytes = field(repr=False)
    ik: bytes = field(repr=False)
    auts: bytes
    sqn: int


def split_nonce(nonce: str) -> tuple[bytes, bytes, bytes]:
    """(RAND, AUTN, server data) from a Digest AKA nonce (RFC 3310 §3.2).

    The nonce is base64 (RFC 4648 §4, the standard alphabet) of RAND (16 bytes) || AUTN
    (16 bytes) || optional server data. Missing ``=`` padding is tolerated, as some
    servers leave it out; anything else that is not base64 is an ``AkaError``.
    """
    try:
        raw = base64.b64decode(nonce + "=" * (-len(nonce) % 4), validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        raise AkaError("the AKA nonce is not base64 (RFC 3310 §3.2)") from None
    if len(raw) < 32:
        raise AkaError(
            f"the AKA nonce holds {len(raw)} bytes, fewer than RAND and AUTN (32, RFC 3310 §3.2)"
        )
    return raw[:16], raw[16:32], raw[32:]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def run_aka(keys: UsimKeys, rand: bytes, autn: bytes) -> AkaResult:
    """What a USIM answers to (RAND, AUTN) (TS 33.102 §6.3.3).

    AUTN = (SQN xor AK) || AMF || MAC-A. The USIM computes AK = f5(RAND), recovers SQN and
    checks MAC-A = f1(SQN, RAND, AMF) in constant time; a mismatch is ``"mac-failure"``.
    Then SQN must be fresh: ``keys.sqn < SQN <= keys.sqn + DELTA``, the simple form of
    Annex C with one counter (an SQN at or below the highest accepted is a replay). If not,
    the answer is ``"sync-failure"`` with AUTS = (SQN_MS xor AK*) || MAC-S, where SQN_MS
    is ``keys.sqn``, AK* = f5*(RAND) and MAC-S = f1*(SQN_MS, RAND, AMF = 0000) (§6.3.5).
    """
    if len(rand) != 16:
        raise AkaError(f"RAND must be 16 bytes, got {len(rand)}")
    if len(autn) != 16:
        raise AkaError(f"AUTN must be 16 bytes, got {len(autn)}")
    milenage = Milenage(keys.k, keys.opc)
    res, ck, ik, ak = milenage.f2345(rand)
    sqn_bytes = _xor(autn[0:6], ak)
    amf = autn[6:8]
    xmac = milenage.f1(rand, sqn_bytes, amf)
    if not hmac.compare_digest(xmac, autn[8:16]):
        return AkaResult("mac-failure", b"", b"", b"", b"", keys.sqn)
    sqn = int.from_bytes(sqn_bytes, "big")
    if keys.sqn < sqn <= keys.sqn + DELTA:
        return AkaResult("ok", res, ck, ik, b"", sqn)
    sqn_ms = keys.sqn.to_bytes(6, "big")
    auts = _xor(sqn_ms, milenage.f5star(rand)) + milenage.f1star(rand, sqn_ms, _RESYNC_AMF)
    return AkaResult("sync-failure", b"", b"", b"", auts, keys.sqn)


def digest_password(algorithm: str, result: AkaResult) -> bytes:
    """The password the Digest computation uses after a successful ``run_aka``.

    * ``AKAv1-MD5`` (RFC 3310 §3.1, §3.3): RES itself, raw bytes (not text: hash them as they
      are, never decoded and re-encoded);
    * ``AKAv2-MD5`` (RFC 4169 §3): base64 of PRF(RES||IK||CK, "http-digest-akav2-password")
      with HMAC-MD5 as the PRF, the key being RES||IK||CK; returned as its ASCII bytes.

    The algorithm name is compared without regard to case, as Digest does elsewhere.
    ``AkaError`` for another algorithm, or for a result that is not ``"ok"``.
    """
    if result.outcome != "ok":
        raise AkaError(f"no Digest password after an AKA {result.outcome}")
    name = algorithm.lower()
    if name == "akav1-md5":
        return result.res
    if name == "akav2-md5":
        key = result.res + result.ik + result.ck
        prf = hmac.new(key, _AKAV2_PASSWORD_LABEL, hashlib.md5).digest()
        return base64.b64encode(prf)
    raise AkaError(f"not a Digest AKA algorithm: {algorithm[:40]!r}")


def auts_param(auts: bytes) -> str:
    """The value of the ``auts`` Authorization parameter: base64 of AUTS (RFC 3310 §3.4).

    The caller quotes it, as for any quoted-string parameter.
    """
    if len(auts) != 14:
        raise AkaError(f"AUTS must be 14 bytes, got {len(auts)}")
    return base64.b64encode(auts).decode("ascii")
