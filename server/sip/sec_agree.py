r"""RFC 3329 security mechanism agreement: the header codec and the client's choice.

An ``ims`` profile with SecurityNegotiation on lists the mechanisms it supports in
``Security-Client``; a server that wants an agreement answers 494 (Security Agreement
Required) with its own list in ``Security-Server``; the client picks one mechanism
common to both and, on the requests that follow, echoes the server's list in
``Security-Verify`` so that the server can tell whether a man in the middle edited it
(RFC 3329 §2.3.1). This module reads and writes those three lists and makes the pick;
the REGISTER machine decides when each header is sent.

What this module settles, and why:

* Mechanism names are tokens compared without regard to case (RFC 3261 §7.3.1), so a
  ``Mechanism`` holds its name in lower case. Parameter names keep their case and
  values are kept as written, a quoted string with its quotes, as ``params.py`` keeps
  them: ``Security-Verify`` must repeat every parameter with the same value (§2.3.1),
  so what was received is written back unchanged.
* ``q`` (preference) follows RFC 3329 §2.2: ``0`` to ``1`` with at most three
  decimals. An invalid one is refused when the mechanism is made (so when it is
  parsed), not when it is first compared, so a malformed list fails as a whole.
* The client lists what it supports without ``q``: RFC 3329 §2.3.1 says the client
  SHOULD NOT add preference parameters to ``Security-Client``; the preference that
  decides is the server's, and its list may not depend on ours.
* ``ipsec-3gpp`` (3GPP TS 33.203) is parsed like any mechanism but never offered, so
  never chosen: it needs kernel IPsec security associations keyed from IMS AKA, which
  this daemon does not set up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .errors import SipError, SipParseError
from .grammar import is_token
from .params import (
    TOKEN_RUN,
    WS,
    Parametrised,
    Params,
    check_params,
    find_param,
    format_params,
    lower,
    parse_params,
    run_end,
    show,
)

#: The most elements one list may have, all its header values together. Real lists
#: hold two or three (TS 33.203 servers send one ``ipsec-3gpp`` per algorithm); the
#: limit only keeps a hostile 494 from costing more than a glance.
MAX_MECHANISMS: Final = 32

# RFC 3329 §2.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
_QVALUE_RE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# One list element: runs of anything but quotes and commas, and quoted strings (to the
# closing quote, or to the end when unterminated, which parse_params then reports); it
# ends at a comma outside quotes or at the end. Possessive: each run has one way to end.
_ELEMENT_RUN: Final = re.compile(r'(?:[^",]++|"(?:[^"\\]++|\\.)*+(?:"|\\?\Z))*+', re.DOTALL)
# RFC 3261 §7.3.1 line folding: CRLF and whitespace read as one space. The message
# parser has unfolded already; a value that comes some other way may still be folded.
_FOLD_RE: Final = re.compile(r"\r\n(?=[ \t])")


class SecAgreeError(SipError, ValueError):
    """A security mechanism list (or one mechanism) does not follow RFC 3329 §2.2.

    A ``ValueError`` like ``SipParseError``, and a ``SipError`` so that one clause
    catches everything the SIP layer raises. The message names the element and what
    is wrong with it, never the whole list.
    """


@dataclass(frozen=True, slots=True)
class Mechanism(Parametrised):
    """One ``sec-mechanism``: ``name *(;param)`` of a Security-Client/Server/Verify list.

    ``name`` is a token, lower-cased here. ``params`` are in order, values as written
    (quoted strings with their quotes, None for a flag); the known ones are ``q``
    (preference), ``d-alg``, ``d-qop`` and ``d-ver`` (Digest, RFC 3329 §2.2), and the
    ``ipsec-3gpp`` ones of TS 33.203 (``alg``, ``spi-c``, ``port-s``...). Only ``q``
    is interpreted; the rest are kept to be echoed. Build a value from arbitrary text
    with ``grammar.quote_string``.
    """

    name: str
    params: Params = ()

    def __post_init__(self) -> None:
        """Lower-case the name; refuse an invalid ``q`` and what ``str()`` cannot write back."""
        if not is_token(self.name):
            raise SecAgreeError(f"mechanism name {show(self.name)} is not a token")
        object.__setattr__(self, "name", lower(self.name))
        try:
            check_params(self.params)
        except SipParseError as exc:
            raise SecAgreeError(f"mechanism {self.name!r}: {exc}") from None
        preferences = [value for pname, value in self.params if lower(pname) == "q"]
        if len(preferences) > 1:
            raise SecAgreeError(f"mechanism {self.name!r} has more than one q")
        if preferences and not _QVALUE_RE.fullmatch(preferences[0] or ""):
            raise SecAgreeError(
                f"mechanism {self.name!r}: q={show(preferences[0] or '')} is not a "
                "preference from 0 to 1 with at most three decimals"
            )

    @property
    def q(self) -> float | None:
        """The server's preference for this mechanism, 0 to 1; None when not given."""
        value = find_param(self.params, "q")
        return None if value is None else float(value)  # checked by __post_init__

    def __str__(self) -> str:
        """The list element as written on the wire, e.g. ``digest;q=0.1;d-alg=md5``."""
        return self.name + format_params(self.params)


def parse_mechanisms(values: list[str]) -> list[Mechanism]:
    """The elements of one or more Security-Client/Server/Verify header values, in order.

    RFC 3329 §2.2: ``sec-mechanism *(COMMA sec-mechanism)``, where ``sec-mechanism =
    mechanism-name *(SEMI mech-parameters)``. Whitespace is allowed around ``,``, ``;``
    and ``=`` and line folding is read as a space (RFC 3261 §7.3.1). Several header
    lines make one list, in the order given. No header at all gives ``[]``; an empty
    value or element (a stray comma), a name or parameter that is not a token, an
    invalid ``q`` or more than ``MAX_MECHANISMS`` elements raise ``SecAgreeError``:
    the list is refused rather than read in part, since ``Security-Verify`` must echo
    all of it.
    """
    mechanisms: list[Mechanism] = []
    for value in values:
        text = _FOLD_RE.sub(" ", value) if "\r" in value else value
        pos = 0
        while True:
            end = run_end(_ELEMENT_RUN, text, pos)
            if len(mechanisms) == MAX_MECHANISMS:
                raise SecAgreeError(f"more than {MAX_MECHANISMS} security mechanisms")
            mechanisms.append(_parse_element(text[pos:end], len(mechanisms) + 1))
            if end >= len(text):
                break
            pos = end + 1  # past the comma
    return mechanisms


def _parse_element(text: str, number: int) -> Mechanism:
    """One ``sec-mechanism``; ``number`` counts from 1 across the list, for messages."""
    element = text.strip(WS)
    if not element:
        raise SecAgreeError(
            f"security mechanism {number} is empty (an empty header value or a stray comma)"
        )
    name_end = run_end(TOKEN_RUN, element, 0)
    if name_end == 0:
        raise SecAgreeError(
            f"security mechanism {number} {show(element)} does not start with a token name"
        )
    try:
        params = parse_params(element[name_end:])
    except SipParseError as exc:
        raise SecAgreeError(f"security mechanism {number} {show(element)}: {exc}") from None
    try:
        return Mechanism(element[:name_end], params)
    except SecAgreeError as refused:  # a name of its own: mypyc gives one name one type
        raise SecAgreeError(f"security mechanism {number}: {refused}") from None


def format_mechanisms(mechanisms: Sequence[Mechanism]) -> str:
    """One header value listing ``mechanisms`` in order: ``tls, digest;q=0.1``.

    An empty list or one longer than ``MAX_MECHANISMS`` raises ``SecAgreeError``:
    neither would read back (an empty Security-* header is not valid), so neither
    is written.
    """
    if not mechanisms:
        raise SecAgreeError("a security mechanism list cannot be empty")
    if len(mechanisms) > MAX_MECHANISMS:
        raise SecAgreeError(f"more than {MAX_MECHANISMS} security mechanisms")
    return ", ".join([str(m) for m in mechanisms])


def choose(offered: Sequence[Mechanism], server: Sequence[Mechanism]) -> Mechanism | None:
    """The server's mechanism to use (RFC 3329 §2.3.1), or None when none is common.

    Among the server's mechanisms whose name is one we offered, the one with the
    highest ``q``; of equal ``q``, the first in the server's list. The element is the
    server's, with its parameters (a Digest ``d-alg``, say), since those are what the
    agreement is about.

    RFC 3329 makes the server give a ``q`` to each of its mechanisms, so a missing
    one is the server's omission and the RFC does not rank it. It ranks here below
    every given value, 0 included: a preference the server stated outranks one it did
    not, and a list without any ``q`` is then taken in the server's order, the order a
    SIP list is read in. (HTTP's default of 1 would let an unranked mechanism beat
    every ranked one.) ``q=0`` is the lowest preference but still acceptable: RFC 3329
    gives it no meaning of refusal.
    """
    wanted = {m.name for m in offered}
    best: Mechanism | None = None
    best_rank = -2.0
    for mechanism in server:
        if mechanism.name not in wanted:
            continue
        q = mechanism.q
        rank = -1.0 if q is None else q
        if rank > best_rank:  # strictly: of equal rank the earlier one stays
            best, best_rank = mechanism, rank
    return best


_TLS: Final = Mechanism("tls")
_DIGEST: Final = Mechanism("digest")

#: What the client offers on a TLS flow: ``tls`` and ``digest``, without ``q`` (RFC
#: 3329 §2.3.1: the client SHOULD NOT add preference parameters; the server's ``q``
#: decides). ``tls`` is listed first, as in the RFC's own example, so that a server
#: that read our order as a preference would pick the one that protects the whole hop.
#: ``ipsec-3gpp`` is not offered: see the module docstring.
CLIENT_MECHANISMS: Final[tuple[Mechanism, ...]] = (_TLS, _DIGEST)


def client_mechanisms(tls: bool) -> tuple[Mechanism, ...]:
    """What to list in Security-Client: ``tls`` only when the flow already is TLS.

    Choosing ``tls`` means the requests that follow go over TLS to that server (RFC
    3329 §2.4); the REGISTER machine does not change transport in mid-registration,
    so offering ``tls`` on a UDP or TCP flow would promise what it cannot keep.
    """
    return CLIENT_MECHANISMS if tls else (_DIGEST,)


def verify_value(server: Sequence[Mechanism]) -> str:
    """The ``Security-Verify`` value: the server's whole list, as received.

    RFC 3329 §2.3.1: the requests after the agreement mirror the ``Security-Server``
    list, the same mechanisms in the same order with the same parameter values, not
    only the chosen one, so that the server sees that nobody removed or reordered its
    offers on the way. Parameters are kept in order with their values as written;
    only whitespace and the case of the names may differ, which RFC 3261 comparison
    ignores.
    """
    return format_mechanisms(server)
