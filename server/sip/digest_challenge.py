"""Digest challenges (RFC 7616 §3.3, RFC 8760): read them, and choose the one to answer.

A 401 or 407 may carry several ``WWW-Authenticate`` / ``Proxy-Authenticate`` challenges,
for different algorithms; this module reads each into a ``Challenge`` and picks the
strongest that ``digest.authorization`` can answer. Reading is liberal where servers
differ harmlessly and strict where a guess could answer the wrong question.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from .errors import SipError, SipParseError
from .grammar import TOKEN_CHARS, unquote_string


class DigestError(SipError):
    """A challenge cannot be read or answered. Messages never contain the password."""


class _Algorithm(NamedTuple):
    name: str  # canonical spelling, echoed in the answer
    hashlib_name: str
    sess: bool
    strength: int  # choose_challenge ranks by this; -sess variants equal their base


ALGORITHMS: Final = {
    a.name.lower(): a
    for a in (
        _Algorithm("MD5", "md5", False, 1),
        _Algorithm("MD5-sess", "md5", True, 1),
        _Algorithm("SHA-256", "sha256", False, 2),
        _Algorithm("SHA-256-sess", "sha256", True, 2),
        _Algorithm("SHA-512-256", "sha512_256", False, 3),
        _Algorithm("SHA-512-256-sess", "sha512_256", True, 3),
    )
}


# Values are read leniently: the SIP token plus the extra HTTP tchar characters, so a
# challenge written by an HTTP stack is still understood.
_TOKEN: Final = "[" + re.escape(TOKEN_CHARS + "#$&^|") + "]+"
TOKEN_RE: Final = re.compile(_TOKEN)
# One list element of RFC 7235 ``#auth-param``: empty, or name = (token / quoted-string).
_ITEM: Final = (
    rf'[ \t]*(?:({_TOKEN})[ \t]*=[ \t]*(?:({_TOKEN})|("(?:[^"\\]++|\\.)*"))[ \t]*)?(?:,|\Z)'
)
_ITEM_RE: Final = re.compile(_ITEM, re.DOTALL)
# The same element with a third form of value tried first: a quoted string without
# backslashes whose characters is_quoted_string accepts, so its text needs no unquoting
# (group 3). Or else, where no element can start, the rest of the text (group 5), so
# that findall stops there. Matched again and again by findall, it splits the list as
# _read_params_one_by_one does, up to where that stops.
_PLAIN_QUOTED: Final = r'"([\t \x21\x23-\x5b\x5d-\x7e\x80-\ud7ff\ue000-\U0010ffff]*+)"'
_ITEM_OR_STOP_RE: Final = re.compile(
    rf"[ \t]*(?:({_TOKEN})[ \t]*=[ \t]*(?:({_TOKEN})|{_PLAIN_QUOTED}|"
    rf'("(?:[^"\\]++|\\.)*"))[ \t]*)?(?:,|\Z)|(.+)',
    re.DOTALL,
)
_FOLD_RE: Final = re.compile(r"\r\n(?=[ \t])")  # RFC 3261 LWS line folding
#: The qop lists servers send, each one shared tuple (see ``parse_challenge``).
_USUAL_QOPS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {
    q: q for q in (("auth",), ("auth", "auth-int"), ("auth-int", "auth"), ("auth-int",))
}


# ``__init__`` written out (``init=False``): mypyc (setup.py) compiles it, while the one
# ``@dataclass`` generates stays interpreted, about 10x slower to construct. ``Final``
# keeps the fields read-only for mypy, as ``frozen=True`` did; ``unsafe_hash`` keeps
# the hash a frozen class had.
@dataclass(slots=True, init=False, unsafe_hash=True)
class Challenge:
    """One Digest challenge, as ``parse_challenge`` read it.

    ``algorithm`` is canonical for the six known names (``MD5`` when absent) and kept as
    written otherwise, so ``choose_challenge`` can skip it. ``qop`` holds lower-case tokens;
    empty means an RFC 2069-style challenge. ``proxy`` is True for ``Proxy-Authenticate``
    (a 407), which is answered with ``Proxy-Authorization``. ``charset`` is the RFC 7616
    ``charset`` parameter (only ``UTF-8`` means anything).
    """

    scheme: Final[str]
    realm: Final[str]
    nonce: Final[str]
    algorithm: Final[str]
    qop: Final[tuple[str, ...]]
    opaque: Final[str | None]
    stale: Final[bool]
    userhash: Final[bool]
    proxy: Final[bool]
    charset: Final[str | None]

    def __init__(
        self,
        scheme: str,
        realm: str,
        nonce: str,
        algorithm: str = "MD5",
        qop: tuple[str, ...] = (),
        opaque: str | None = None,
        stale: bool = False,
        userhash: bool = False,
        proxy: bool = False,
        charset: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.realm = realm
        self.nonce = nonce
        self.algorithm = algorithm
        self.qop = qop
        self.opaque = opaque
        self.stale = stale
        self.userhash = userhash
        self.proxy = proxy
        self.charset = charset


def short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _read_params(text: str, pos: int) -> dict[str, str]:
    """Read the comma-separated ``name=value`` list after the scheme (RFC 7235 §2.1).

    Empty list elements are skipped (RFC 7230 §7 asks recipients to accept them); a name
    given twice is an error, since there is no telling which one the server meant.
    """
    params: dict[str, str] = {}
    for name, token, plain, quoted, stop in _ITEM_OR_STOP_RE.findall(text, pos):
        if stop:
            return _read_params_one_by_one(text, pos)  # which says where it stops
        if not name:  # an empty element (findall gives "" for a group that took no part)
            continue
        if quoted or token:
            _add_param(params, name, token, quoted or None)
            continue
        name = name.lower()  # and the value is plain, maybe ""
        if name in params:
            raise DigestError(f"parameter {short(name)!r} appears twice")
        params[name] = plain
    return params


def _read_params_one_by_one(text: str, pos: int) -> dict[str, str]:
    """``_read_params`` element by element: the reference reading, and where it stops."""
    params: dict[str, str] = {}
    while pos < len(text):
        item = _ITEM_RE.match(text, pos)
        if item is None or item.end() == pos:
            raise DigestError(f"cannot read the challenge parameters at offset {pos}")
        pos = item.end()
        name, token, quoted = item.groups()
        if name is not None:
            _add_param(params, name, token, quoted)
    return params


def _add_param(params: dict[str, str], name: str, token: str | None, quoted: str | None) -> None:
    """Add one parameter, its value unquoted; a name given twice is an error.

    ``token`` is None (``match.groups()``) or "" (``findall``) when the value is quoted.
    """
    name = name.lower()
    if name in params:
        raise DigestError(f"parameter {short(name)!r} appears twice")
    try:
        params[name] = (token or "") if quoted is None else unquote_string(quoted)
    except SipParseError:
        raise DigestError(f"the value of {short(name)!r} is not a valid quoted string") from None


def parse_challenge(header_value: str, *, proxy: bool = False) -> Challenge:
    """Read one ``WWW-Authenticate`` (or, with ``proxy=True``, ``Proxy-Authenticate``) value.

    Liberal where servers differ harmlessly (either value form for any parameter, any case
    for names and for ``stale``/``userhash``, unknown parameters ignored), strict where a
    guess could answer the wrong question (missing realm or nonce, duplicates, a scheme
    other than Digest). Raises ``DigestError`` and nothing else.
    """
    if "\r\n" in header_value:
        header_value = _FOLD_RE.sub("", header_value)
    text = header_value.lstrip(" \t")
    scheme = TOKEN_RE.match(text)
    if scheme is None:
        raise DigestError("the challenge does not start with an authentication scheme")
    if scheme.group().lower() != "digest":
        raise DigestError(f"{short(scheme.group())!r} is not the Digest scheme")
    if scheme.end() < len(text) and text[scheme.end()] not in " \t":
        raise DigestError("the Digest scheme must be followed by a space")
    params = _read_params(text, scheme.end())
    for required in ("realm", "nonce"):
        if required not in params:
            raise DigestError(f"the Digest challenge has no {required}")
    algorithm = params.get("algorithm", "MD5")
    known = ALGORITHMS.get(algorithm.lower()) or AKA_ALGORITHMS.get(algorithm.lower())
    qop: list[str] = []
    for item in params.get("qop", "").split(","):
        item = item.strip(" \t").lower()
        if item and item != "auth" and not TOKEN_RE.fullmatch(item):
            raise DigestError(f"qop value {short(item)!r} is not a token")
        if item and item not in qop:
            qop.append(item)
    offered = tuple(qop)
    return Challenge(
        scheme="Digest",
        # one string per realm, one tuple per usual qop: a registration at rest keeps
        # its challenge, and a gateway's thousands come from one or two registrars
        realm=sys.intern(params["realm"]),
        nonce=params["nonce"],
        algorithm=known.name if known else algorithm,
        qop=_USUAL_QOPS.get(offered, offered),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
        proxy=proxy,
        charset=params.get("charset"),
    )


#: RFC 3310 / RFC 4169 AKA: digest over MD5 with a password the USIM derives from the
#: nonce (``aka.digest_password``); answerable only with USIM keys, so kept apart from
#: ``ALGORITHMS``, which a password answers. AKAv2 ranks above AKAv1.
AKA_ALGORITHMS: Final = {
    a.name.lower(): a
    for a in (_Algorithm("AKAv1-MD5", "md5", False, 1), _Algorithm("AKAv2-MD5", "md5", False, 2))
}


def answerable(challenge: Challenge, *, aka: bool = False) -> _Algorithm | None:
    """The algorithm to answer ``challenge`` with, or None if this module cannot.

    ``aka``: among the AKA algorithms (answered from USIM keys) instead of the others.
    """
    table = AKA_ALGORITHMS if aka else ALGORITHMS
    algorithm = table.get(challenge.algorithm.lower())
    if algorithm is None or challenge.scheme.lower() != "digest":
        return None
    if challenge.qop and "auth" not in challenge.qop and "auth-int" not in challenge.qop:
        return None
    return algorithm


def strength(challenge: Challenge) -> int:
    """0 for a challenge this module cannot answer, else the algorithm's rank."""
    algorithm = answerable(challenge)
    return 0 if algorithm is None else algorithm.strength


def choose_aka_challenge(challenges: Sequence[Challenge]) -> Challenge | None:
    """The AKA challenge to answer from USIM keys (AKAv2 before AKAv1), or None."""
    best: Challenge | None = None
    best_strength = 0
    for challenge in challenges:
        algorithm = answerable(challenge, aka=True)
        if algorithm is not None and algorithm.strength > best_strength:
            best, best_strength = challenge, algorithm.strength
    return best


def choose_challenge(challenges: Sequence[Challenge]) -> Challenge | None:
    """The strongest answerable challenge (SHA-512-256 > SHA-256 > MD5), first one on ties.

    RFC 8760 §2.4 asks for the topmost supported one "unless a local policy dictates
    otherwise"; this is that policy. Challenges are not integrity-protected, so honouring
    their order would let an on-path attacker downgrade us to MD5 (RFC 8760 §3) by putting
    it first. Ties keep the server's order.
    """
    best: Challenge | None = None
    best_strength = 0
    for challenge in challenges:
        rank = strength(challenge)
        if rank > best_strength:
            best, best_strength = challenge, rank
    return best
