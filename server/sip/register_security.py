"""RFC 3329 security agreement for one registration: what to send, what answers mean.

An ``ims`` profile with ``SecurityNegotiation`` on offers its mechanisms in
``Security-Client`` with ``Require``/``Proxy-Require: sec-agree`` (TS 24.229
§5.1.1.2). The first hop answers with its own list in ``Security-Server`` — in a 494
(Security Agreement Required), or, as a P-CSCF does, in the 401 that challenges us —
and from then on every REGISTER echoes that list in ``Security-Verify``, which lets the
server detect a downgrade. The mechanism chosen (``digest``, or ``tls`` on a TLS
flow) is what ``NegotiatedSecurity`` shows once registered.

A first hop that does not know sec-agree answers 420 (Bad Extension) with
``Unsupported: sec-agree``: the registration then goes on without it, for good, as
after a 439 for outbound, and ``NegotiatedSecurity`` stays empty. ``ipsec-3gpp`` is
never offered (it needs IPsec security associations in the kernel keyed from AKA, which
a user-space daemon without a modem does not set up); a server offering only that gets
``SecurityAgreementFailed``.
"""

from __future__ import annotations

from typing import Final, Literal

from .message import Response
from .sec_agree import (
    Mechanism,
    SecAgreeError,
    choose,
    client_mechanisms,
    format_mechanisms,
    parse_mechanisms,
    verify_value,
)

#: What a response means for the agreement (see ``SecurityAgreement.on_response``).
Outcome = Literal["unchanged", "retry", "failed"]

_TAG: Final = "sec-agree"


class SecurityAgreement:
    """The agreement state of one registration: offered, the server's list, the choice."""

    __slots__ = ("_client_value", "_verify", "chosen", "failure", "off", "offered", "server")

    def __init__(self, *, tls: bool) -> None:
        self.offered: tuple[Mechanism, ...] = client_mechanisms(tls)
        self._client_value = format_mechanisms(self.offered)
        #: The server's list, as received, once one came (in a 494 or a 401).
        self.server: tuple[Mechanism, ...] = ()
        self._verify = ""
        #: The mechanism agreed on; None before the server's list came.
        self.chosen: Mechanism | None = None
        #: The first hop does not know sec-agree (420): the headers are left out.
        self.off = False
        #: Why the agreement failed, for ``SecurityAgreementFailed``.
        self.failure = ""

    @property
    def negotiated(self) -> str:
        """``NegotiatedSecurity``: the mechanism agreed on, "" when none (or off)."""
        return "" if self.off or self.chosen is None else self.chosen.name

    def lines(self) -> list[tuple[str, str]]:
        """The header lines of the next REGISTER."""
        if self.off:
            return []
        lines = [
            ("Security-Client", self._client_value),
            ("Require", _TAG),
            ("Proxy-Require", _TAG),
        ]
        if self._verify:
            lines.append(("Security-Verify", self._verify))
        return lines

    def on_response(self, response: Response) -> Outcome:
        """Take in a final response; "retry" when the REGISTER must go again at once.

        494 with a usable list: agreed, send again with Security-Verify ("retry"). A 420
        refusing sec-agree: go on without it ("retry"). A 401/407 may carry the list
        too (TS 24.229: the P-CSCF adds it), which is taken in and left to the digest
        answer ("unchanged"). No mechanism in common, or a 494 without a readable list:
        "failed", with ``failure`` saying why.
        """
        if self.off:
            return "unchanged"
        status = response.status
        if status == 420:
            unsupported = response.headers.get_all("Unsupported")
            if _TAG in {t.strip().lower() for v in unsupported for t in v.split(",")}:
                self.off = True
                return "retry"
            return "unchanged"
        values = response.headers.get_all("Security-Server")
        if not values:
            if status == 494:
                self.failure = "494 (Security Agreement Required) without a Security-Server list"
                return "failed"
            return "unchanged"
        try:
            server = tuple(parse_mechanisms(values))
        except SecAgreeError as exc:
            self.failure = f"the Security-Server list cannot be read: {exc}"
            return "failed"
        chosen = choose(self.offered, server)
        if chosen is None:
            names = ", ".join(m.name for m in server)
            offered = ", ".join(m.name for m in self.offered)
            self.failure = f"the first hop offers {names}; we offer {offered}"
            return "failed"
        first = not self.server
        self.server, self.chosen, self._verify = server, chosen, verify_value(server)
        if status != 494:
            return "unchanged"
        if not first:  # we echoed its list and it asks again: it will not agree
            self.failure = "the first hop asked for a security agreement again after one"
            return "failed"
        return "retry"
