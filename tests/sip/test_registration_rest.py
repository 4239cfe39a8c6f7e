"""A registration laid to rest and resumed goes on exactly as if it had never stopped.

``Registration.rest`` keeps a few hundred bytes of a registered machine and
``Registration.resumed`` builds one from them and a configuration made anew (what
the engine does between two refreshes of a gateway's ten thousand registrations).
Each test drives one machine straight through and a twin that is laid to rest and
resumed at the same point, feeds both the same future (the refresh timer, the
registrar's answers, a deregistration) and compares every byte they send.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from sip.test_registration import CHALLENGE, CONTACT, answer, config, sent
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.message import Request
from sipprofile.server.sip.registration import Registration, RegistrationConfig, State
from sipprofile.server.sip.registration_events import Event, SendRequest
from sipprofile.server.sip.registration_rest import RegistrationRest

STALE = "sip:3f2a9c1e7d5b4a60@10.0.0.7:5062"
PROXY_CHALLENGE = (
    "Proxy-Authenticate",
    'Digest realm="proxy.example.com", nonce="p1", qop="auth", algorithm=MD5',
)


class Twins:
    """A machine, and the same machine laid to rest and resumed, fed alike."""

    def __init__(self, **changes: object) -> None:
        self.config = config(**changes)
        self.branches: list[Iterator[int]] = [itertools.count(1), itertools.count(1)]
        self.straight = self._machine(0)
        self.resting: Registration | RegistrationRest = self._machine(1)

    def _factories(self, index: int) -> tuple[Callable[[], str], Callable[[], str]]:
        counter = self.branches[index]
        return (lambda: f"z9hG4bK-{next(counter)}"), (lambda: "cnonce")

    def _machine(self, index: int) -> Registration:
        branch, cnonce = self._factories(index)
        return Registration(
            self.config, branch_factory=branch, random=lambda: 0.5, cnonce_factory=cnonce
        )

    def both(self, step: Callable[[Registration], list[Event]]) -> list[Request]:
        """Feed ``step`` to both; they must send the very same bytes. Returns them."""
        other = self.resting
        assert isinstance(other, Registration), "resume before feeding"
        ours, theirs = step(self.straight), step(other)
        assert wire(ours) == wire(theirs)
        assert [type(e) for e in ours] == [type(e) for e in theirs]
        assert other.state is self.straight.state
        assert other.next_deadline() == self.straight.next_deadline()
        return sent(ours)

    def rest(self) -> RegistrationRest:
        machine = self.resting
        assert isinstance(machine, Registration)
        assert machine.at_rest()
        self.resting = machine.rest()
        return self.resting

    def resume(self, new_config: RegistrationConfig | None = None) -> Registration:
        rest = self.resting
        assert isinstance(rest, RegistrationRest)
        branch, cnonce = self._factories(1)
        self.resting = Registration.resumed(
            new_config or self.config,
            rest,
            branch_factory=branch,
            random=lambda: 0.5,
            cnonce_factory=cnonce,
        )
        return self.resting


def wire(events: list[Event]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, SendRequest)]


def ok(request: Request, *contacts: str, expires: int = 600) -> object:
    listed = contacts or (f"<{CONTACT}>;expires={expires}",)
    return answer(request, 200, "OK", *(("Contact", c) for c in listed))


def register_with_digest(twins: Twins, now: float = 0.0, expires: int = 600) -> Request:
    [first] = twins.both(lambda m: m.register(now))
    [second] = twins.both(lambda m: m.receive(answer(first, 401, "Unauthorized", CHALLENGE), now))
    twins.both(lambda m: m.receive(ok(second, expires=expires), now))
    return second


def refresh_of(twins: Twins) -> Request:
    due = twins.straight.next_deadline()
    assert due is not None
    [refresh] = twins.both(lambda m: m.timer(due))
    return refresh


def test_a_resumed_refresh_is_the_same_request_preemptively_authorized() -> None:
    twins = Twins()
    register_with_digest(twins)
    rest = twins.rest()
    assert (rest.cseq, rest.granted) == (2, 600)
    assert rest.refresh_at == twins.straight.next_deadline()
    twins.resume()
    refresh = refresh_of(twins)
    assert refresh.call_id == "callid-1" and refresh.cseq == (3, "REGISTER")
    assert "nc=00000002" in (refresh.headers.get("Authorization") or "")
    twins.both(lambda m: m.receive(ok(refresh), 500.0))
    # and again, through a second rest
    twins.rest()
    twins.resume()
    refresh = refresh_of(twins)
    assert "nc=00000003" in (refresh.headers.get("Authorization") or "")


def test_a_stale_nonce_after_rest_is_answered_once_more() -> None:
    twins = Twins()
    register_with_digest(twins)
    twins.rest()
    twins.resume()
    refresh = refresh_of(twins)
    stale = (
        "WWW-Authenticate",
        'Digest realm="example.com", nonce="n2", qop="auth", algorithm=MD5, stale=true',
    )
    [again] = twins.both(lambda m: m.receive(answer(refresh, 401, "Unauthorized", stale), 460.0))
    assert 'nonce="n2"' in (again.headers.get("Authorization") or "")
    twins.both(lambda m: m.receive(ok(again), 460.1))
    assert twins.straight.state is State.REGISTERED


def test_deregistration_from_rest_removes_our_binding_in_the_same_dialog() -> None:
    twins = Twins()
    register_with_digest(twins)
    twins.rest()
    twins.resume()
    [bye] = twins.both(lambda m: m.deregister(100.0))
    assert bye.headers.get("Expires") == "0" and bye.cseq == (3, "REGISTER")
    assert "nc=00000002" in (bye.headers.get("Authorization") or "")
    twins.both(lambda m: m.receive(answer(bye, 200, "OK"), 100.1))
    assert twins.straight.state is State.UNREGISTERED


def test_a_raised_expiry_and_a_redirected_request_uri_are_kept() -> None:
    twins = Twins(expires=30)
    [first] = twins.both(lambda m: m.register(0.0))
    moved = answer(first, 302, "Moved", ("Contact", "<sip:other.example.com>"))
    [second] = twins.both(lambda m: m.receive(moved, 0.1))
    brief = answer(second, 423, "Interval Too Brief", ("Min-Expires", "90"))
    [third] = twins.both(lambda m: m.receive(brief, 0.2))
    twins.both(lambda m: m.receive(ok(third, expires=90), 0.3))
    rest = twins.rest()
    assert (rest.expires, rest.request_uri) == (90, "sip:other.example.com")
    twins.resume()
    refresh = refresh_of(twins)
    assert refresh.uri == "sip:other.example.com" and refresh.headers.get("Expires") == "90"


def test_nothing_of_the_configuration_is_stored_twice() -> None:
    """Values equal to the configuration's are not kept: the record stays small."""
    twins = Twins()
    register_with_digest(twins)
    rest = twins.rest()
    assert (rest.expires, rest.request_uri, rest.alternatives) == (0, None, ())
    assert rest.removed == frozenset() and rest.proxy_auth == ()


def test_a_stale_binding_removed_before_rest_is_not_removed_again() -> None:
    twins = Twins()
    [first] = twins.both(lambda m: m.register(0.0))
    both = (f"<{STALE}>;expires=1200", f"<{CONTACT}>;expires=600")
    [removal] = twins.both(lambda m: m.receive(ok(first, *both), 0.1))
    twins.both(lambda m: m.receive(ok(removal, *both), 0.2))
    assert twins.rest().removed == frozenset({STALE})
    twins.resume()
    refresh = refresh_of(twins)
    twins.both(lambda m: m.receive(ok(refresh, *both), 500.0))  # still listed: left alone


def test_439_plain_registration_survives_rest() -> None:
    instance = "urn:uuid:00000000-0000-4000-8000-000000000001"
    twins = Twins(instance_id=instance, outbound=True)
    [first] = twins.both(lambda m: m.register(0.0))
    [plain] = twins.both(lambda m: m.receive(answer(first, 439, "No Outbound"), 0.1))
    twins.both(lambda m: m.receive(ok(plain), 0.2))
    assert twins.rest().plain
    twins.resume()
    assert "reg-id" not in (refresh_of(twins).headers.get("Contact") or "")


def test_proxy_and_registrar_answers_both_survive_rest() -> None:
    twins = Twins(
        route=("sip:proxy.example.com;lr",),
        proxy_credentials=Credentials("alice", "proxy-secret"),
    )
    [first] = twins.both(lambda m: m.register(0.0))
    [second] = twins.both(
        lambda m: m.receive(answer(first, 407, "Proxy Authentication Required", PROXY_CHALLENGE), 0)
    )
    [third] = twins.both(lambda m: m.receive(answer(second, 401, "Unauthorized", CHALLENGE), 0))
    twins.both(lambda m: m.receive(ok(third), 0.1))
    rest = twins.rest()
    assert len(rest.auth) == 1 and len(rest.proxy_auth) == 1
    twins.resume()
    refresh = refresh_of(twins)
    assert refresh.headers.get("Authorization") and refresh.headers.get("Proxy-Authorization")


def test_new_contact_parameters_at_resume_go_out_in_the_refresh() -> None:
    """The engine wakes a resting registration with the profile as it is now."""
    twins = Twins()
    register_with_digest(twins)
    twins.rest()
    machine = twins.resume(config(contact_params=(("+sip.new", None),)))
    [update] = sent(machine.update(machine.config, 10.0))
    assert update.headers.get("Contact") == f"<{CONTACT}>;+sip.new"
    assert update.call_id == "callid-1" and update.cseq == (3, "REGISTER")


@pytest.mark.parametrize(
    "situation",
    ["fresh", "registering", "challenged", "retrying", "failed", "deregistered", "deregistering"],
)
def test_only_a_registered_machine_with_nothing_to_do_can_rest(situation: str) -> None:
    twins = Twins()
    machine = twins.straight
    if situation != "fresh":
        [first] = sent(machine.register(0.0))
    if situation == "challenged":
        machine.receive(answer(first, 401, "Unauthorized", CHALLENGE), 0.1)
    elif situation == "retrying":
        machine.receive(answer(first, 503, "Service Unavailable"), 0.1)
    elif situation == "failed":
        machine.receive(answer(first, 403, "Forbidden"), 0.1)
    elif situation in ("deregistered", "deregistering"):
        machine.receive(ok(first), 0.1)
        assert machine.at_rest()
        [bye] = sent(machine.deregister(0.2))
        if situation == "deregistered":
            machine.receive(answer(bye, 200, "OK"), 0.3)
    assert not machine.at_rest()
    with pytest.raises(ValueError, match="at rest"):
        machine.rest()


def test_a_contact_change_in_flight_keeps_it_from_resting() -> None:
    twins = Twins()
    machine = twins.straight
    [first] = sent(machine.register(0.0))
    machine.update(config(contact_params=(("+sip.new", None),)), 0.05)
    events = machine.receive(ok(first), 0.1)
    assert not machine.at_rest() and len(sent(events)) == 1  # the update goes out first


@pytest.mark.parametrize(("algorithm", "same_cnonce"), [("MD5", False), ("MD5-sess", True)])
def test_only_a_sess_key_keeps_its_client_nonce_through_rest(
    algorithm: str, same_cnonce: bool
) -> None:
    """At rest the client nonce is dropped (a new one next time), but a ``-sess``
    algorithm's key was derived from it, so that one is kept."""
    cnonces = (f"cnonce{n}" for n in itertools.count(1))
    branches = (f"z9hG4bK-{n}" for n in itertools.count(1))
    machine = Registration(
        config(),
        branch_factory=lambda: next(branches),
        random=lambda: 0.5,
        cnonce_factory=lambda: next(cnonces),
    )
    challenge = (
        "WWW-Authenticate",
        f'Digest realm="example.com", nonce="n1", qop="auth", algorithm={algorithm}',
    )
    [first] = sent(machine.register(0.0))
    [second] = sent(machine.receive(answer(first, 401, "Unauthorized", challenge), 0.0))
    machine.receive(ok(second), 0.1)
    resumed = Registration.resumed(
        config(),
        machine.rest(),
        branch_factory=lambda: next(branches),
        random=lambda: 0.5,
        cnonce_factory=lambda: next(cnonces),
    )
    due = resumed.next_deadline()
    assert due is not None
    [refresh] = sent(resumed.timer(due))
    before = second.headers.get("Authorization") or ""
    after = refresh.headers.get("Authorization") or ""
    assert 'cnonce="cnonce1"' in before and "nc=00000002" in after
    assert ('cnonce="cnonce1"' in after) is same_cnonce
