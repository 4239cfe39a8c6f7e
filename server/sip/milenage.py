"""Milenage: the 3GPP authentication functions f1, f1*, f2, f3, f4, f5 and f5* (TS 35.206).

An IMS profile without a modem answers AKA challenges (``aka.py``) from the subscriber
key K and the operator variant OPc it stores, the computation a USIM does on the card.
Milenage is the algorithm set 3GPP specifies for that (TS 35.205/35.206), with AES-128
(``aes128.py``) as its kernel E_K and the constants c1..c5, r1..r5 of TS 35.206 §4.1,
which every deployed Milenage uses. Conformance: the test sets of TS 35.207/35.208.

All values are bytes in the order of the specification (most significant first):
K, OP, OPc, RAND 16 bytes; SQN and AK 6; AMF 2; MAC-A, MAC-S and RES 8; CK, IK 16.
"""

from __future__ import annotations

from typing import Final

from .aes128 import Aes128

__all__ = ["Milenage", "opc_from_op"]

# TS 35.206 §4.1: the rotations r1..r5 (in bits, all multiples of 8) and the 128-bit
# constants c1..c5 (zero but for a single bit at the end).
_R1: Final = 64
_R2: Final = 0
_R3: Final = 32
_R4: Final = 64
_R5: Final = 96
_C1: Final = bytes(16)
_C2: Final = bytes(15) + b"\x01"
_C3: Final = bytes(15) + b"\x02"
_C4: Final = bytes(15) + b"\x04"
_C5: Final = bytes(15) + b"\x08"


def _check(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _xor(a: bytes, b: bytes) -> bytes:
    """Bitwise xor of two byte strings of the same length."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _rot(x: bytes, bits: int) -> bytes:
    """rot(x, r) of TS 35.206 §4.1: cyclic rotation of the 128-bit x by r bits to the left."""
    n = bits // 8
    return x[n:] + x[:n]


def opc_from_op(k: bytes, op: bytes) -> bytes:
    """OPc = OP xor E_K(OP) (TS 35.206 §4.1), the form a USIM stores instead of OP."""
    _check("K", k, 16)
    _check("OP", op, 16)
    return _xor(Aes128(k).encrypt(op), op)


class Milenage:
    """The Milenage functions for one subscriber (K, OPc).

    The key schedule of K is computed once here, because one authentication evaluates
    several functions under the same K. Each method recomputes TEMP = E_K(RAND xor OPc)
    (one block): keeping no per-RAND state makes the object safe to reuse.
    """

    def __init__(self, k: bytes, opc: bytes) -> None:
        """Use the subscriber key ``k`` and ``opc`` (16 bytes each; ``ValueError``)."""
        _check("K", k, 16)
        _check("OPc", opc, 16)
        self._aes = Aes128(k)
        self._opc = bytes(opc)

    def __repr__(self) -> str:
        """No key material: the object may end up in a log or a traceback."""
        return "Milenage(<K>, <OPc>)"

    def _temp(self, rand: bytes) -> bytes:
        _check("RAND", rand, 16)
        return self._aes.encrypt(_xor(rand, self._opc))

    def _out(self, temp: bytes, bits: int, const: bytes) -> bytes:
        """OUTn = E_K(rot(TEMP xor OPc, rn) xor cn) xor OPc, for n = 2..5."""
        opc = self._opc
        return _xor(self._aes.encrypt(_xor(_rot(_xor(temp, opc), bits), const)), opc)

    def _out1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc, IN1 = SQN||AMF||SQN||AMF."""
        _check("SQN", sqn, 6)
        _check("AMF", amf, 2)
        temp = self._temp(rand)
        opc = self._opc
        in1 = sqn + amf + sqn + amf
        return _xor(self._aes.encrypt(_xor(_xor(temp, _rot(_xor(in1, opc), _R1)), _C1)), opc)

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A (8 bytes): the network authentication code carried in AUTN."""
        return self._out1(rand, sqn, amf)[:8]

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S (8 bytes): the resynchronisation code the USIM puts in AUTS."""
        return self._out1(rand, sqn, amf)[8:]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES 8 bytes, CK 16, IK 16, AK 6): f2, f3, f4 and f5 of one RAND together.

        Together because a USIM needs all four from the same TEMP: AK to read SQN out of
        AUTN, then RES, CK and IK for the answer.
        """
        temp = self._temp(rand)
        out2 = self._out(temp, _R2, _C2)
        ck = self._out(temp, _R3, _C3)
        ik = self._out(temp, _R4, _C4)
        return out2[8:16], ck, ik, out2[0:6]

    def f5star(self, rand: bytes) -> bytes:
        """AK* (6 bytes): the anonymity key that conceals SQN_MS in AUTS."""
        return self._out(self._temp(rand), _R5, _C5)[:6]
