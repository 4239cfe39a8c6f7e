"""What the registrar saw of us: Via received/rport of a response (RFC 3261, RFC 3581)."""

from __future__ import annotations

import pytest

from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.register_response import learned_address


def response_with_via(via: str) -> object:
    return parse_message(
        (
            f"SIP/2.0 200 OK\r\nVia: {via}\r\nVia: SIP/2.0/UDP proxy.test;branch=z9hG4bKp\r\n"
            "From: <sip:a@x.test>;tag=1\r\nTo: <sip:a@x.test>;tag=2\r\n"
            "Call-ID: c\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )


@pytest.mark.parametrize(
    ("via", "learned"),
    [
        ("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;received=198.51.100.4;rport=40000",
         "198.51.100.4:40000"),
        ("SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK1;received=198.51.100.4", "198.51.100.4:5062"),
        ("SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1;received=198.51.100.4", "198.51.100.4:5060"),
        ("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport=7000", "10.0.0.2:7000"),
        ("SIP/2.0/UDP [2001:db8::2]:5060;branch=z9hG4bK1;received=2001:db8::9;rport=9",
         "[2001:db8::9]:9"),
        ("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport", ""),  # asked, not answered
        ("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1", ""),
        ("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1;rport=99999", ""),  # nonsense: ignored
    ],
)  # fmt: skip
def test_learned_address(via: str, learned: str) -> None:
    assert learned_address(response_with_via(via)) == learned  # type: ignore[arg-type]
