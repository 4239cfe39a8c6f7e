"""STUN Binding (RFC 5389) as keep-alives use it: the RFC 5769 vector and bad input."""

from __future__ import annotations

import ipaddress
import os
import struct

from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.transport.stun import (
    MAGIC_COOKIE,
    binding_request,
    is_stun,
    mapped_address,
    transaction_id,
)

TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
# RFC 5769 §2.2: sample IPv4 response (SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
# FINGERPRINT); the mapped address is 192.0.2.1 port 32853.
RFC5769_IPV4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96"
)


def success(tid: bytes, *attributes: bytes) -> bytes:
    body = b"".join(attributes)
    return struct.pack("!HHI12s", 0x0101, len(body), MAGIC_COOKIE, tid) + body


def xor_mapped(address: str, port: int, tid: bytes) -> bytes:
    ip = ipaddress.ip_address(address)
    mask = struct.pack("!I", MAGIC_COOKIE) + (tid if ip.version == 6 else b"")
    raw = bytes(a ^ b for a, b in zip(ip.packed, mask, strict=False))
    value = struct.pack("!BBH", 0, 1 if ip.version == 4 else 2, port ^ 0x2112) + raw
    return struct.pack("!HH", 0x0020, len(value)) + value


def test_the_rfc_5769_ipv4_response() -> None:
    assert is_stun(RFC5769_IPV4)
    assert transaction_id(RFC5769_IPV4) == TID
    assert mapped_address(RFC5769_IPV4, TID) == ("192.0.2.1", 32853)


def test_ipv6_and_the_plain_mapped_address() -> None:
    six = success(TID, xor_mapped("2001:db8:1234:5678:11:2233:4455:6677", 32853, TID))
    assert mapped_address(six, TID) == ("2001:db8:1234:5678:11:2233:4455:6677", 32853)
    plain = struct.pack("!HH", 0x0001, 8) + struct.pack("!BBH", 0, 1, 5060) + bytes([10, 0, 0, 7])
    assert mapped_address(success(TID, plain), TID) == ("10.0.0.7", 5060)


def test_a_request_is_twenty_bytes_with_the_cookie_and_id() -> None:
    request = binding_request(TID)
    assert request == bytes.fromhex("000100002112a442") + TID
    assert is_stun(request)


def test_what_is_not_our_answer_is_none() -> None:
    good = success(TID, xor_mapped("198.51.100.7", 5555, TID))
    assert mapped_address(good, TID) == ("198.51.100.7", 5555)
    assert mapped_address(good, os.urandom(12)) is None  # another transaction
    error = struct.pack("!HHI12s", 0x0111, 0, MAGIC_COOKIE, TID)
    assert mapped_address(error, TID) is None  # an error answer
    assert mapped_address(good[:-2], TID) is None  # truncated
    assert mapped_address(binding_request(TID), TID) is None  # a request, not an answer
    assert mapped_address(b"SIP/2.0 200 OK\r\n\r\n" + bytes(20), TID) is None
    assert not is_stun(b"REGISTER sip:x SIP/2.0\r\n\r\n")
    assert not is_stun(b"\r\n\r\n")


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    mapped_address(data, TID)
    mapped_address(b"\x01\x01" + data[:2] + struct.pack("!I", MAGIC_COOKIE) + TID + data, TID)
