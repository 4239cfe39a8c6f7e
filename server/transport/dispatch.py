"""How received messages find whoever waits for them: responses by branch, requests by dialog.

Responses are routed back by the branch of their top Via, which the registration
chose; requests within a dialog of ours go to the dialog's owner, and other requests
that reach our Contact are answered here, since no registration owns them. Every
datagram and stream message passes through here, so this module is compiled
(setup.py's ``HOT_GLUE``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.message import Request, Response, check_header_value
from sipprofile.server.sip.parser import parse_message
from sipprofile.server.sip.server_transaction import response_bytes
from sipprofile.server.sip.via import via_branch

_log = logging.getLogger(__name__)

ResponseHandler = Callable[[Response], None]
#: Takes a request of a dialog of ours and the means to answer where it came from.
RequestHandler = Callable[[Request, Callable[[bytes], None]], None]


class Dispatcher:
    """Routes responses to whoever sent the request with that branch.

    Requests within a dialog of ours (a NOTIFY of a ``reg`` subscription) go to the
    dialog's owner by Call-ID; other requests to our Contact are answered here.
    """

    def __init__(self) -> None:
        self._by_branch: dict[str, ResponseHandler] = {}
        self._by_call_id: dict[str, RequestHandler] = {}

    def accept(self, call_id: str, handler: RequestHandler) -> None:
        """Deliver requests with ``call_id`` (a dialog we started) to ``handler``."""
        self._by_call_id[call_id] = handler

    def refuse(self, call_id: str) -> None:
        """The dialog is over: its requests are answered 481 from now on."""
        self._by_call_id.pop(call_id, None)

    def expect(self, branch: str, handler: ResponseHandler) -> None:
        """Deliver responses whose top Via has ``branch`` to ``handler``."""
        self._by_branch[branch] = handler

    def forget(self, branch: str) -> None:
        """Stop delivering for ``branch``."""
        self._by_branch.pop(branch, None)

    def deliver(self, data: bytes | Request | Response, reply: Callable[[bytes], None]) -> None:
        """Hand a received message to its handler; answer simple requests ourselves."""
        try:
            message = parse_message(data) if isinstance(data, bytes) else data
        except SipParseError as exc:
            _log.debug("dropped an unparsable datagram: %s", exc)
            return
        if isinstance(message, Request):
            owner = self._by_call_id.get(message.headers.get("Call-ID") or "")
            if owner is not None:
                owner(message, reply)
                return
            answer = _answer_request(message)
            if answer is not None:
                reply(answer)
            return
        vias = message.headers.get_all("Via")
        if not vias:
            return
        # The usual top Via is ours, its branch the first parameter as we write it: the
        # text between ";branch=" and the next ";" finds the handler, which reads the
        # whole Via as it matches (``register_response.answers``). Anything else (no
        # such handler, the branch elsewhere or spelt otherwise) is read in full first.
        top = vias[0]
        start = top.find(";branch=")
        if start > 0 and top.find(";", 0, start) < 0:
            end = top.find(";", start + 8)
            handler = self._by_branch.get(top[start + 8 : end] if end > 0 else top[start + 8 :])
            if handler is not None:
                handler(message)
                return
        try:
            branch = via_branch(top)
        except (SipParseError, ValueError):
            return
        handler = self._by_branch.get(branch or "")
        if handler is not None:
            handler(message)


def _answer_request(request: Request) -> bytes | None:
    """The answer to a request of no dialog of ours; None for an ACK, or if none can be built.

    OPTIONS pings get 200; a NOTIFY 481 (RFC 6665 §4.1.3: no such subscription), and so
    do a BYE and a CANCEL (RFC 3261 §15.1.2, §9.2: no such dialog or transaction, as
    none is ever made here); anything else 501: a registration serves no other
    requests to its Contact. The
    answer is built as RFC 3261 §8.2.6 says (``response_bytes``), with a To tag that is
    the same for every retransmission (§8.2.6.2, §8.2.7).

    A request without a Via, From, To, Call-ID or CSeq to copy, or with one that no
    header may carry (a NUL, an escape), gets nothing. Such requests used to get an
    answer with the missing headers empty, or made this raise: over TCP that ended the
    connection, and every registration on it had to register again (found by
    tests/reliability/test_hostile_registrar.py).
    """
    if request.method == "ACK":
        return None
    status, reason = {
        "OPTIONS": (200, "OK"),
        "NOTIFY": (481, "Subscription Does Not Exist"),
        "BYE": (481, "Call/Transaction Does Not Exist"),
        "CANCEL": (481, "Call/Transaction Does Not Exist"),
    }.get(request.method, (501, "Not Implemented"))
    vias = request.headers.get_all("Via")
    if not vias:
        return None
    try:
        for via in vias:
            check_header_value("Via", via)
        for name in ("From", "To", "Call-ID", "CSeq"):
            check_header_value(name, request.header(name))
        return response_bytes(request, status, reason)
    except SipParseError:
        return None
