"""RFC 3261 §17.2.2 non-INVITE server transaction, sans I/O; and the response it sends.

A request that reaches us (a NOTIFY, say) may arrive again: over UDP the peer
retransmits until it hears a final response, and a response can be lost. The server
transaction is what makes each retransmission cost nothing but a resend of the same
answer, so the transaction user acts once per request, whatever the network does.

Like ``transaction.py`` it is told the time and what arrived, and answers with bytes
to send and the next instant it needs to be woken. The states are those of the client
transaction (``transaction.State``): Trying until the user answers, Proceeding after a
provisional response, Completed after the final one, which is resent for every
retransmission until Timer J (64*T1 on unreliable transports, none on reliable ones,
which never retransmit) ends the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

from .errors import SipParseError
from .message import Headers, Request, Response
from .transaction import T1, State  # the client transaction's: one set for the stack
from .via import parse_via

__all__ = ["MAGIC_COOKIE", "ServerTransaction", "State", "response_bytes", "transaction_key"]

#: RFC 3261 §8.1.1.7: a branch starting with this was made by an RFC 3261 element,
#: unique per transaction, so it alone (with sent-by and method) names the transaction.
MAGIC_COOKIE: Final = "z9hG4bK"


def transaction_key(request: Request) -> tuple[str, ...]:
    """What names the server transaction of ``request`` (RFC 3261 §17.2.3).

    The top Via's branch, its sent-by and the method, for a branch with the magic
    cookie; otherwise (an RFC 2543 peer) the Request-URI, the tags, Call-ID, CSeq and
    the top Via as a whole. A retransmission has the same key, a new request another.
    ``SipParseError`` when the top Via (or, for an RFC 2543 peer, a header the key is
    made of) cannot be read: such a request cannot be matched, nor answered.
    """
    vias = request.headers.get_all("Via")
    if not vias:
        raise SipParseError("the request has no Via")
    top = parse_via(vias[0])
    sent_by = top.host.lower() if top.port is None else f"{top.host.lower()}:{top.port}"
    branch = top.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return ("rfc3261", branch, sent_by, request.method)
    cseq, _ = request.cseq
    to_tag = request.to.param("tag") or ""
    from_tag = request.from_.param("tag") or ""
    dialog = (to_tag, from_tag, request.call_id, str(cseq))
    return ("rfc2543", request.uri, *dialog, str(top), request.method)


def _tag_for(request: Request) -> str:
    """A To tag for a response to a request without one: the same for each retransmission.

    Derived from what names the request rather than drawn at random, so this module
    needs no randomness and a retransmitted request is answered byte for byte the same.
    """
    seed = "\n".join([request.call_id, request.header("From"), *request.headers.get_all("Via")])
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def response_bytes(
    request: Request,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A response to ``request`` as RFC 3261 §8.2.6 builds it, without a body.

    Via (every one, in order), From, To, Call-ID and CSeq are copied as received; a To
    without a tag gets ``to_tag`` (derived from the request when None, the same for
    every retransmission). ``headers`` are added after them. ``SipParseError`` when
    one of the copied headers is missing or the To cannot be read.
    """
    to = request.header("To")
    if request.to.param("tag") is None:
        to = f"{to};tag={to_tag or _tag_for(request)}"
    lines = [(name, value) for name, value in request.headers if name == "Via"]
    lines += [
        ("From", request.header("From")),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.header("CSeq")),
    ]
    out = Headers._from_wire(lines)  # as received: the parser has checked them
    for name, value in headers:
        out.add(name, value)
    return Response(status, reason, out).to_bytes()


class ServerTransaction:
    """One received non-INVITE request and the responses the transaction user gives it.

    Made when the request first arrives (``transaction_key`` tells a first arrival from
    a retransmission); the user then ``respond``s, once finally.
    """

    def __init__(self, request: Request, *, reliable: bool, t1: float = T1) -> None:
        self.key = transaction_key(request)
        self.reliable = reliable
        self.state = State.TRYING
        self._t1 = t1
        self._provisional: bytes | None = None  # the last one sent
        self._final: bytes | None = None
        self._timer_j: float | None = None

    @property
    def terminated(self) -> bool:
        """Whether the transaction is over (and can be forgotten)."""
        return self.state is State.TERMINATED

    def matches(self, request: Request) -> bool:
        """Whether ``request`` is this transaction's request (or a retransmission of it)."""
        try:
            return transaction_key(request) == self.key
        except SipParseError:
            return False

    def respond(self, data: bytes, final: bool, now: float) -> list[bytes]:
        """The transaction user answers: the bytes to send (``data``, or nothing).

        After the final response every further one is discarded, as §17.2.2 says: the
        request has been answered, and a second answer would contradict the first.
        """
        if self.state in (State.COMPLETED, State.TERMINATED):
            return []
        if not final:
            self._provisional = data
            self.state = State.PROCEEDING
            return [data]
        self._final = data
        if self.reliable:  # Timer J is zero: nothing can be retransmitted to absorb
            self.state = State.TERMINATED
        else:
            self.state = State.COMPLETED
            self._timer_j = now + 64 * self._t1
        return [data]

    def receive(self, request: Request, now: float) -> list[bytes]:
        """A retransmission arrived: resend the last response, if there is one.

        Nothing in Trying (the user has not answered yet) or once terminated, and
        nothing for a request of another transaction.
        """
        if not self.matches(request):
            return []
        if self.state is State.COMPLETED and self._final is not None:
            return [self._final]
        if self.state is State.PROCEEDING and self._provisional is not None:
            return [self._provisional]
        return []

    def next_deadline(self) -> float | None:
        """When Timer J fires, or None."""
        return self._timer_j

    def timer(self, now: float) -> None:
        """Timer J: the network can hold no more retransmissions; the transaction ends."""
        if self._timer_j is not None and now >= self._timer_j:
            self._timer_j = None
            self.state = State.TERMINATED

    def transport_error(self) -> None:
        """The response could not be sent (RFC 3261 §17.2.4): the transaction is over."""
        self._timer_j = None
        self.state = State.TERMINATED
