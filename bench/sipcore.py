"""``python -m bench.sipcore [-n N] [--rounds R] [--profile]``: CPU of the SIP core alone.

Why: the daemon's CPU per registration is what ``bench.registrations`` compares with
Kamailio's, and a large share of it is the sans-I/O core (``server/sip``). That share
is measured here without sockets, asyncio, D-Bus or a registrar, so a change to the
core shows up as a number in seconds rather than in a noisy end-to-end run.

One registration is what the daemon does for an always-on profile with digest: build
the ``Registration``, build the first REGISTER, parse Kamailio's 401 (``qop=auth``),
compute the digest answer and build the second REGISTER, parse the 200 OK that lists
our Contact with ``;expires=3600``, and let the state machine reach ``registered``.
The responses are written as Kamailio writes them and prepared before the clock
starts (branches, tags and nonces are drawn in advance), so only the core is timed;
one registration is first checked against responses derived from the requests it
really sent, so the prepared ones cannot drift from what the core expects.

Prints microseconds per registration: the best round (least disturbed by other work
on the machine) and the median.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import secrets
import statistics
import time
from dataclasses import dataclass

from sipprofile.server.sip import compiled
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.message import Response
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.registration import Registration, RegistrationConfig, State
from sipprofile.server.sip.registration_events import Event, SendRequest

REGISTRAR = "sip:127.0.0.1:5060"
SENT_BY = "127.0.0.1:40000"
SERVER = "kamailio (5.6.3 (x86_64/linux))"
TO_TAG = "b27e1a1d33761e85846fc98f5f3a7e58.3fa3"


@dataclass(frozen=True, slots=True)
class Case:
    """Everything one registration needs, drawn before timing starts."""

    config: RegistrationConfig
    branches: tuple[str, str]
    unauthorized: bytes  # the 401 answering the first REGISTER
    ok: bytes  # the 200 answering the second


def _response(status: str, fields: dict[str, str], extra: str) -> bytes:
    """A response to a REGISTER with the header fields ``fields``, as Kamailio writes it."""
    via = fields["Via"].replace(";rport", ";rport=40000") + ";received=127.0.0.1"
    lines = [
        f"SIP/2.0 {status}",
        f"Via: {via}",
        f"From: {fields['From']}",
        f"To: {fields['To']};tag={TO_TAG}",
        f"Call-ID: {fields['Call-ID']}",
        f"CSeq: {fields['CSeq']}",
        extra,
        f"Server: {SERVER}",
        "Content-Length: 0",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


def _request_fields(request: bytes) -> dict[str, str]:
    """The first value of each header of a request we sent (test-side reading)."""
    fields: dict[str, str] = {}
    for line in request.decode().split("\r\n")[1:]:
        if not line:
            break
        name, _, value = line.partition(": ")
        fields.setdefault(name, value)
    return fields


def _challenge(nonce: str) -> str:
    return f'WWW-Authenticate: Digest realm="example.test", nonce="{nonce}", qop="auth"'


def make_case(i: int) -> Case:
    """Registration number ``i``: its config, branches and the registrar's answers."""
    aor = f"sip:user{i:06d}@example.test"
    config = RegistrationConfig(
        aor=aor,
        registrar=REGISTRAR,
        contact=f"sip:{secrets.token_hex(8)}@{SENT_BY}",
        call_id=secrets.token_hex(12) + "@sipprofiled",
        from_tag=secrets.token_hex(6),
        via_transport="UDP",
        via_sent_by=SENT_BY,
        reliable=False,
        credentials=Credentials(f"user{i:06d}", f"pass{i:06d}", None),
        user_agent="sipprofiled/0.1",
    )
    branches = ("z9hG4bK" + secrets.token_hex(10), "z9hG4bK" + secrets.token_hex(10))
    nonce = secrets.token_hex(20)
    common = {
        "From": f"<{aor}>;tag={config.from_tag}",
        "To": f"<{aor}>",
        "Call-ID": config.call_id,
    }
    first = {**common, "Via": f"SIP/2.0/UDP {SENT_BY};branch={branches[0]};rport"}
    second = {**common, "Via": f"SIP/2.0/UDP {SENT_BY};branch={branches[1]};rport"}
    unauthorized = _response("401 Unauthorized", {**first, "CSeq": "1 REGISTER"}, _challenge(nonce))
    ok = _response(
        "200 OK", {**second, "CSeq": "2 REGISTER"}, f"Contact: <{config.contact}>;expires=3600"
    )
    return Case(config, branches, unauthorized, ok)


def _parse_response(data: bytes) -> Response:
    """``parse_message`` for data known to be a response (as the session's dispatch does)."""
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


def _sent(events: list[Event]) -> bytes:
    """The bytes of the one request in ``events``."""
    [data] = [e.data for e in events if isinstance(e, SendRequest)]
    return data


def register(case: Case) -> Registration:
    """One registration through the core: what is timed."""
    machine = Registration(
        case.config, branch_factory=iter(case.branches).__next__, random=lambda: 0.5
    )
    machine.register(0.0)
    machine.receive(_parse_response(case.unauthorized), 0.01)
    machine.receive(_parse_response(case.ok), 0.02)
    return machine


def check(case: Case) -> None:
    """Run ``case`` answering what was really sent; the prepared responses must match."""
    machine = Registration(
        case.config, branch_factory=iter(case.branches).__next__, random=lambda: 0.5
    )
    first = _request_fields(_sent(machine.register(0.0)))
    nonce = case.unauthorized.split(b'nonce="')[1].split(b'"')[0].decode()
    unauthorized = _response("401 Unauthorized", first, _challenge(nonce))
    assert unauthorized == case.unauthorized, "the prepared 401 differs from the derived one"
    answered = machine.receive(_parse_response(unauthorized), 0.01)
    second = _request_fields(_sent(answered))
    ok = _response("200 OK", second, f"Contact: <{case.config.contact}>;expires=3600")
    assert ok == case.ok, "the prepared 200 differs from the derived one"
    machine.receive(_parse_response(ok), 0.02)
    assert machine.state is State.REGISTERED, machine.state


def run_round(cases: list[Case]) -> float:
    """Seconds per registration over ``cases``."""
    start = time.perf_counter()
    for case in cases:
        register(case)
    elapsed = time.perf_counter() - start
    return elapsed / len(cases)


def _profile(cases: list[Case], top: int) -> None:
    """One round under cProfile; its ``top`` functions by time spent in themselves."""
    profiler = cProfile.Profile()
    profiler.runcall(run_round, cases)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main() -> None:
    """Parse arguments, check the prepared answers, time the rounds, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=2000, help="registrations per round")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top list")
    parser.add_argument("--top", type=int, default=30, help="lines of the cProfile list")
    args = parser.parse_args()

    cases = [make_case(i) for i in range(args.n)]
    check(cases[0])
    for case in cases:
        final = register(case)
        assert final.state is State.REGISTERED, f"{case.config.aor}: {final.state}"
    if args.profile:
        _profile(cases, args.top)
        return
    gc.collect()
    times = [run_round(cases) * 1e6 for _ in range(args.rounds)]
    build = "compiled" if compiled() else "pure Python"
    print(
        f"sip core ({build}): {min(times):.1f} us per registration "
        f"(best of {args.rounds} rounds of {args.n}; median {statistics.median(times):.1f} us)"
    )


if __name__ == "__main__":
    main()
