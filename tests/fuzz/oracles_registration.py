"""What the ``registration`` target checks: a REGISTER's response, whatever it holds.

``Registration.receive`` must not raise on any response to the REGISTER in flight, and
must leave the machine waiting for something at a finite time. Here are the machines,
at several points of their life, that the responses are fed to.
Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from typing import Any

# Our Contact and the machines' configuration: the unit tests' own
# (tests/sip/test_registration.py), so the two exercise the same registration.
from sip.test_registration import CONTACT
from sip.test_registration import config as _config

from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Headers, Response
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.registration import Registration, State
from sipprofile.server.sip.registration_events import SendRequest


def _machine(**changes: Any) -> Registration:
    branches = (f"z9hG4bK-{n}" for n in itertools.count(1))
    return Registration(
        _config(**changes),
        branch_factory=lambda: next(branches),
        random=lambda: 0.5,
        cnonce_factory=lambda: "cnonce",
    )


def _answer(request_data: bytes, status: int, *extra: tuple[str, str]) -> Response:
    request = parse_message(request_data)
    lines = [(n, v) for n, v in request.headers if n in ("Via", "From", "Call-ID", "CSeq")]
    lines += [("To", f"{request.headers.get('To')};tag=srv"), *extra]
    return Response(status, "X", Headers(lines))


def _requests(events: Iterable[object]) -> list[SendRequest]:
    return [e for e in events if isinstance(e, SendRequest)]


def _scenarios() -> list[tuple[Registration, Callable[[], list[SendRequest]]]]:
    """Machines about to have a REGISTER in flight, each at another point of its life."""
    fresh = _machine()
    ims = _machine(
        aor="sip:alice@ims.example.com",
        registrar="sip:ims.example.com",
        credentials=Credentials("alice@ims.example.com", "secret"),
        proxy_credentials=Credentials("alice", "proxy-secret", "proxy.example.org"),
        initial_authorization=True,
        security_agreement=True,
        outbound=True,
        instance_id="urn:uuid:00000000-0000-1000-8000-000A95A0E128",
        option_tags=("path",),
        temporary_retries=1,
        route=("sip:pcscf.ims.example.com;lr",),
    )
    refreshing = _machine()
    leaving = _machine()

    def refresh() -> list[SendRequest]:
        [first] = _requests(refreshing.register(0.0))
        challenge = ("WWW-Authenticate", 'Digest realm="example.com", nonce="n1", qop="auth"')
        [second] = _requests(refreshing.receive(_answer(first.data, 401, challenge), 0.1))
        ok = _answer(second.data, 200, ("Contact", f"<{CONTACT}>;expires=600"))
        refreshing.receive(ok, 0.2)
        assert refreshing.state is State.REGISTERED
        return _requests(refreshing.timer(1000.0))  # the refresh is due

    def deregister() -> list[SendRequest]:
        leaving.register(0.0)
        return _requests(leaving.deregister(0.1))

    return [
        (fresh, lambda: _requests(fresh.register(0.0))),
        (ims, lambda: _requests(ims.register(0.0))),
        (refreshing, refresh),
        (leaving, deregister),
    ]


_LIVE = (State.REGISTERING, State.DEREGISTERING, State.RETRYING, State.REGISTERED)


def check_registration(data: bytes) -> None:
    """A REGISTER's response, whatever it says, moves the machine on without raising.

    ``data`` is a response in which ``$BRANCH`` and ``$CSEQ`` stand for the branch
    and CSeq number of the REGISTER in flight, so that it matches it (RFC 3261
    §17.1.3). ``Registration.receive`` must not raise, whatever the headers hold
    (the functions it reads them with skip what they cannot read), and must leave
    the machine alive: in a state that waits for something, with a finite deadline.
    """
    for machine, start in _scenarios():
        [request] = start()
        message = parse_message(request.data)
        branch = message.via[0].branch or ""
        number = str(message.cseq[0])
        wire = data.replace(b"$BRANCH", branch.encode()).replace(b"$CSEQ", number.encode())
        try:
            response = parse_message(wire)  # the transport's limits
        except SipParseError:
            continue
        if not isinstance(response, Response):
            continue
        machine.receive(response, 0.5)
        deadline = machine.next_deadline()
        assert deadline is None or math.isfinite(deadline), deadline
        if machine.state in _LIVE:
            assert deadline is not None, f"{machine.state} with nothing to wait for"
