"""Responses reach whoever sent the request with their top Via's branch.

The dispatcher reads the usual top Via (ours, its branch the first parameter) by
finding the branch's text; every other spelling is read in full. The handler then
reads the whole Via as it matches the response to its request (``answers`` in
``register_response``, tested in tests/sip/test_registration.py): a Via unreadable
after the branch reaches it, and it acts on nothing.
"""

from __future__ import annotations

import pytest

from sipprofile.server.sip.message import Response
from sipprofile.server.transport.dispatch import Dispatcher


def response(top_via: str) -> bytes:
    return (
        f"SIP/2.0 200 OK\r\nVia: {top_via}\r\nVia: SIP/2.0/UDP proxy.test;branch=z9hG4bKp\r\n"
        "From: <sip:a@x.test>;tag=1\r\nTo: <sip:a@x.test>;tag=2\r\n"
        "Call-ID: c@x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def delivered(top_via: str, branches: tuple[str, ...] = ("z9hG4bKa", "z9hG4bKb")) -> list[str]:
    """The branches whose handlers got the response with ``top_via``."""
    dispatcher = Dispatcher()
    got: list[str] = []
    for branch in branches:
        dispatcher.expect(branch, lambda _r, branch=branch: got.append(branch))

    def no_reply(_data: bytes) -> None:
        raise AssertionError("a response is never answered")

    dispatcher.deliver(response(top_via), no_reply)
    return got


@pytest.mark.parametrize(
    ("top_via", "to"),
    [
        ("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa", ["z9hG4bKa"]),
        ("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb;rport=5060;received=127.0.0.1",
         ["z9hG4bKb"]),
        # the branch elsewhere, or spelt otherwise: read in full
        ("SIP/2.0/UDP 127.0.0.1:5060;rport=5060;branch=z9hG4bKb", ["z9hG4bKb"]),
        ("SIP/2.0/UDP 127.0.0.1:5060;BRANCH=z9hG4bKb", ["z9hG4bKb"]),
        ("SIP/2.0/UDP 127.0.0.1:5060 ; branch = z9hG4bKb ;rport", ["z9hG4bKb"]),
        # a quoted value that looks like a branch is no branch
        ('SIP/2.0/UDP 127.0.0.1:5060;x="y;branch=z9hG4bKa";branch=z9hG4bKb', ["z9hG4bKb"]),
        # nobody's, or unreadable before the branch: nowhere
        ("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc", []),
        ("SIP/2.0/UDP bad host;x=;branch=z9hG4bKa", []),
        # the branch first: its handler reads the rest (and refuses this one)
        ("SIP/2.0/UDP bad host;branch=z9hG4bKa", ["z9hG4bKa"]),
        ("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa0", []),
    ],
)  # fmt: skip
def test_a_response_goes_where_its_top_via_says(top_via: str, to: list[str]) -> None:
    assert delivered(top_via) == to


def test_a_response_with_a_foreign_via_before_ours_goes_to_nobody() -> None:
    """The top Via is the one that counts: ours second is a proxy's business."""
    assert delivered("SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKother") == []


def test_requests_are_not_routed_by_branch() -> None:
    dispatcher = Dispatcher()
    got: list[Response] = []
    dispatcher.expect("z9hG4bKa", got.append)
    answers: list[bytes] = []
    ping = (
        b"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKa\r\n"
        b"From: <sip:r@x.test>;tag=9\r\nTo: <sip:u@x.test>\r\nCall-ID: p@x\r\n"
        b"CSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    dispatcher.deliver(ping, answers.append)
    assert got == []
    assert answers and answers[0].startswith(b"SIP/2.0 200 OK\r\n")
