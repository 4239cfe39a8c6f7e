"""STUN Binding requests and answers (RFC 5389), as RFC 5626 §4.4.2 keep-alives use them.

Bytes in, values out, nothing else: the UDP endpoint tells STUN from SIP by the first
bytes (``is_stun``), and a keep-alive sends ``binding_request`` and reads the answer
with ``mapped_address``, which returns the address the server saw us at (XOR-MAPPED-
ADDRESS, else MAPPED-ADDRESS) or None for anything that is not the success answer to
that very request: another transaction id, an error answer, a truncated or garbled
message. Nothing here raises on network input.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

MAGIC_COOKIE: Final = 0x2112A442
_COOKIE_BYTES: Final = struct.pack("!I", MAGIC_COOKIE)
BINDING_REQUEST: Final = 0x0001
BINDING_SUCCESS: Final = 0x0101
_MAPPED_ADDRESS: Final = 0x0001
_XOR_MAPPED_ADDRESS: Final = 0x0020
_HEADER: Final = struct.Struct("!HHI12s")
_ATTRIBUTE: Final = struct.Struct("!HH")


def is_stun(data: bytes) -> bool:
    """Whether a datagram is STUN: the top two bits zero and the magic cookie (§6).

    A SIP message starts with a letter, so the two never mix on one port.
    """
    return len(data) >= 20 and data[0] < 0x40 and data[4:8] == _COOKIE_BYTES


def binding_request(transaction_id: bytes) -> bytes:
    """A Binding request without attributes; ``transaction_id`` is 12 random bytes."""
    if len(transaction_id) != 12:
        raise ValueError("a STUN transaction id has 12 bytes")
    return _HEADER.pack(BINDING_REQUEST, 0, MAGIC_COOKIE, transaction_id)


def transaction_id(data: bytes) -> bytes:
    """The transaction id of a STUN message (``is_stun`` checked first)."""
    return data[8:20]


def mapped_address(data: bytes, expected_id: bytes) -> tuple[str, int] | None:
    """``(address, port)`` of a Binding success answering ``expected_id``, else None."""
    if not is_stun(data):
        return None
    kind, length, _, tid = _HEADER.unpack_from(data)
    if kind != BINDING_SUCCESS or tid != expected_id or len(data) != 20 + length:
        return None
    plain: tuple[str, int] | None = None
    at = 20
    while at + 4 <= len(data):
        attribute, size = _ATTRIBUTE.unpack_from(data, at)
        value = data[at + 4 : at + 4 + size]
        if len(value) != size:
            return None  # an attribute running past the end
        if attribute == _XOR_MAPPED_ADDRESS:
            return _address(value, tid, xor=True)
        if attribute == _MAPPED_ADDRESS and plain is None:
            plain = _address(value, tid, xor=False)
        at += 4 + size + (-size % 4)  # attributes are padded to 4 bytes
    return plain


def _address(value: bytes, tid: bytes, *, xor: bool) -> tuple[str, int] | None:
    if len(value) < 4:
        return None
    family = value[1]
    port = struct.unpack_from("!H", value, 2)[0]
    raw = value[4:]
    if family == 0x01 and len(raw) == 4:
        mask = _COOKIE_BYTES
    elif family == 0x02 and len(raw) == 16:
        mask = _COOKIE_BYTES + tid
    else:
        return None
    if xor:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, mask, strict=True))
    return str(ipaddress.ip_address(raw)), port
