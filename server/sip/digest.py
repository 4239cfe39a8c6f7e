"""HTTP Digest authentication for SIP clients (RFC 3261 §22, RFC 7616, RFC 8760).

The client half only: read a ``WWW-Authenticate`` / ``Proxy-Authenticate`` challenge, pick
the one to answer, compute the ``Authorization`` / ``Proxy-Authorization`` value, and decide,
per registration, whether a new 401/407 deserves another attempt or means the credentials
are wrong. No I/O, no clock; the client nonce comes from the caller (``cnonce=``,
``cnonce_factory=``) so tests can pin it. Text is hashed as UTF-8, which is what SIP carries
(RFC 3261 ``UTF8-NONASCII``) and the only ``charset`` RFC 7616 §4 allows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

from .errors import SipError, SipParseError
from .grammar import ALPHANUM, TOKEN_CHARS, percent_encode, quote_string, unquote_string


class DigestError(SipError):
    """A challenge cannot be read or answered. Messages never contain the password."""


# RFC 7616's SHA-512-256 is FIPS 180-4 SHA-512/256, with its own initial values; a truncated
# SHA-512 differs. hashlib takes it from OpenSSL, and a build without it (or with an imitation)
# would fail every SHA-512-256 answer as if the password were wrong, so refuse to load instead.
try:
    _SHA512_256_OK = hashlib.new("sha512_256", b"abc").hexdigest() == (
        "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )
except ValueError:
    _SHA512_256_OK = False
if not _SHA512_256_OK:
    raise ImportError(
        "sipprofile.server.sip.digest needs SHA-512/256 (RFC 7616 'SHA-512-256') from hashlib, "
        "which this Python/OpenSSL build does not provide correctly"
    )


class _Algorithm(NamedTuple):
    name: str  # canonical spelling, echoed in the answer
    hashlib_name: str
    sess: bool
    strength: int  # choose_challenge ranks by this; -sess variants equal their base


_ALGORITHMS: Final = {
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
_TOKEN_RE: Final = re.compile(_TOKEN)
# One list element of RFC 7235 ``#auth-param``: empty, or name = (token / quoted-string).
_ITEM_RE: Final = re.compile(
    rf'[ \t]*(?:({_TOKEN})[ \t]*=[ \t]*(?:({_TOKEN})|("(?:[^"\\]|\\.)*"))[ \t]*)?(?:,|\Z)',
    re.DOTALL,
)
_FOLD_RE: Final = re.compile(r"\r\n(?=[ \t])")  # RFC 3261 LWS line folding
# RFC 8187 attr-char: what an ext-value (``username*``) carries without %-escaping.
_ATTR_CHARS: Final = ALPHANUM + "!#$&+-.^_`|~"


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge, as ``parse_challenge`` read it.

    ``algorithm`` is canonical for the six known names (``MD5`` when absent) and kept as
    written otherwise, so ``choose_challenge`` can skip it. ``qop`` holds lower-case tokens;
    empty means an RFC 2069-style challenge. ``proxy`` is True for ``Proxy-Authenticate``
    (a 407), which is answered with ``Proxy-Authorization``. ``charset`` is the RFC 7616
    ``charset`` parameter (only ``UTF-8`` means anything).
    """

    scheme: str
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False
    proxy: bool = False
    charset: str | None = None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password, for one realm or (``realm=None``) for whatever realm asks."""

    username: str
    password: str = field(repr=False)  # kept out of logs and tracebacks
    realm: str | None = None


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _read_params(text: str, pos: int) -> dict[str, str]:
    """Read the comma-separated ``name=value`` list after the scheme (RFC 7235 §2.1).

    Empty list elements are skipped (RFC 7230 §7 asks recipients to accept them); a name
    given twice is an error, since there is no telling which one the server meant.
    """
    params: dict[str, str] = {}
    while pos < len(text):
        item = _ITEM_RE.match(text, pos)
        if item is None or item.end() == pos:
            raise DigestError(f"cannot read the challenge parameters at offset {pos}")
        pos = item.end()
        name, token, quoted = item.groups()
        if name is None:
            continue
        name = name.lower()
        if name in params:
            raise DigestError(f"parameter {_short(name)!r} appears twice")
        try:
            params[name] = token if quoted is None else unquote_string(quoted)
        except SipParseError:
            raise DigestError(
                f"the value of {_short(name)!r} is not a valid quoted string"
            ) from None
    return params


def parse_challenge(header_value: str, *, proxy: bool = False) -> Challenge:
    """Read one ``WWW-Authenticate`` (or, with ``proxy=True``, ``Proxy-Authenticate``) value.

    Liberal where servers differ harmlessly (either value form for any parameter, any case
    for names and for ``stale``/``userhash``, unknown parameters ignored), strict where a
    guess could answer the wrong question (missing realm or nonce, duplicates, a scheme
    other than Digest). Raises ``DigestError`` and nothing else.
    """
    text = _FOLD_RE.sub("", header_value).lstrip(" \t")
    scheme = _TOKEN_RE.match(text)
    if scheme is None:
        raise DigestError("the challenge does not start with an authentication scheme")
    if scheme.group().lower() != "digest":
        raise DigestError(f"{_short(scheme.group())!r} is not the Digest scheme")
    if scheme.end() < len(text) and text[scheme.end()] not in " \t":
        raise DigestError("the Digest scheme must be followed by a space")
    params = _read_params(text, scheme.end())
    for required in ("realm", "nonce"):
        if required not in params:
            raise DigestError(f"the Digest challenge has no {required}")
    algorithm = params.get("algorithm", "MD5")
    known = _ALGORITHMS.get(algorithm.lower())
    qop: list[str] = []
    for item in params.get("qop", "").split(","):
        item = item.strip(" \t").lower()
        if item and not _TOKEN_RE.fullmatch(item):
            raise DigestError(f"qop value {_short(item)!r} is not a token")
        if item and item not in qop:
            qop.append(item)
    return Challenge(
        scheme="Digest",
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=known.name if known else algorithm,
        qop=tuple(qop),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        userhash=params.get("userhash", "").lower() == "true",
        proxy=proxy,
        charset=params.get("charset"),
    )


def _strength(challenge: Challenge) -> int:
    """0 for a challenge this module cannot answer, else the algorithm's rank."""
    algorithm = _ALGORITHMS.get(challenge.algorithm.lower())
    if algorithm is None or challenge.scheme.lower() != "digest":
        return 0
    if challenge.qop and not {"auth", "auth-int"} & set(challenge.qop):
        return 0
    return algorithm.strength


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
        strength = _strength(challenge)
        if strength > best_strength:
            best, best_strength = challenge, strength
    return best


def new_cnonce() -> str:
    """A fresh client nonce: 144 random bits in base64url, which needs no quoting."""
    return secrets.token_urlsafe(18)


def _needs_cnonce(challenge: Challenge) -> bool:
    algorithm = _ALGORITHMS.get(challenge.algorithm.lower())
    return bool(challenge.qop) or (algorithm is not None and algorithm.sess)


def authorization(
    challenge: Challenge,
    creds: Credentials,
    *,
    method: str,
    uri: str,
    body: bytes = b"",
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``.

    ``uri`` is the Request-URI as sent, ``body`` the message body (hashed for
    ``qop=auth-int``). ``qop=auth`` is chosen whenever offered: auth-int covers only the
    body, which an SBC rewriting SDP would break. Without qop the RFC 2069 form is used, as
    RFC 3261 §22.4 requires; a ``-sess`` algorithm still gets the ``cnonce`` its A1 needs.
    ``cnonce`` (when needed) defaults to ``new_cnonce()``. With ``userhash`` the user name
    is sent hashed (RFC 7616 §3.4.4). A non-ASCII name goes as ``username*`` (RFC 8187) only
    to a server that sent ``charset=UTF-8``, i.e. speaks RFC 7616; SIP servers that do not
    know ``username*`` get it as UTF-8 in a quoted string, which RFC 3261 allows.

    Raises ``DigestError`` when ``creds.realm`` is set and is not the challenge's realm, and
    for anything that cannot be answered or written.
    """
    if creds.realm is not None and creds.realm != challenge.realm:
        raise DigestError(
            f"the server asks for realm {_short(challenge.realm)!r}, "
            f"the account is for realm {_short(creds.realm)!r}"
        )
    algorithm = _ALGORITHMS.get(challenge.algorithm.lower())
    if algorithm is None or _strength(challenge) == 0:
        raise DigestError(f"cannot answer a {_short(challenge.algorithm)!r} challenge")
    qop = None if not challenge.qop else "auth" if "auth" in challenge.qop else "auth-int"
    if not _TOKEN_RE.fullmatch(method):
        raise DigestError("the method is not a token")
    if not 1 <= nc <= 0xFFFFFFFF:
        raise DigestError("the nonce count must be between 1 and 0xFFFFFFFF")
    if _needs_cnonce(challenge):
        cnonce = new_cnonce() if cnonce is None else cnonce
        if not cnonce:
            raise DigestError("the client nonce must not be empty")
    else:
        cnonce = None
    username, password = creds.username, creds.password
    utf8 = (challenge.charset or "").lower() == "utf-8"
    if utf8:  # RFC 7616 §4: such a server expects NFC
        username = unicodedata.normalize("NFC", username)
        password = unicodedata.normalize("NFC", password)

    def digest(data: bytes) -> str:
        return hashlib.new(algorithm.hashlib_name, data).hexdigest()

    def h(text: str) -> str:
        return digest(text.encode("utf-8"))

    realm, nonce = challenge.realm, challenge.nonce
    try:
        ha1 = h(f"{username}:{realm}:{password}")
        if algorithm.sess:
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
        a2 = f"{method}:{uri}" + (f":{digest(body)}" if qop == "auth-int" else "")
        if qop:
            response = h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{h(a2)}")
        else:
            response = h(f"{ha1}:{nonce}:{h(a2)}")
        if challenge.userhash:
            user = f"username={quote_string(h(f'{username}:{realm}'))}"
        elif (utf8 and not username.isascii()) or any(c in "\r\n\x00" for c in username):
            user = "username*=UTF-8''" + percent_encode(username, _ATTR_CHARS)
        else:
            user = f"username={quote_string(username)}"
        parts = [
            user,
            f"realm={quote_string(realm)}",
            f"nonce={quote_string(nonce)}",
            f"uri={quote_string(uri)}",
            f'response="{response}"',
            f"algorithm={algorithm.name}",
        ]
        if cnonce is not None:
            parts.append(f"cnonce={quote_string(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote_string(challenge.opaque)}")
    except UnicodeEncodeError:
        raise DigestError("the credentials or request are not valid Unicode text") from None
    except SipParseError as exc:
        raise DigestError(f"cannot write the Authorization value: {exc}") from None
    if qop:
        parts += [f"qop={qop}", f"nc={nc:08x}"]
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


#: How many stale=true challenges in a row are answered before the server is given up on.
MAX_STALE_RETRIES: Final = 2


@dataclass(slots=True)
class _Answer:
    """What a session knows about the challenge it answers for one header (WWW or proxy)."""

    challenge: Challenge
    stale_streak: int
    cnonce: str | None = None
    nc: int = 0  # last nonce count sent
    in_flight: bool = False  # a request carrying this answer is out, not yet judged
    accepted: bool = False  # a request carrying it got through without a new challenge


class DigestSession:
    """Digest state of one registration (one Call-ID, so proxy credentials may be reused).

    It answers the current challenge with an increasing nonce count, preemptively, until
    the server challenges again, and decides what a new challenge means:

    * nothing of ours was judged yet (first challenge, or a 407 stopped our request before
      the registrar saw it): ``"retry"``;
    * the very nonce we answered comes back: our answer was refused, ``"failed"``;
    * a new nonce with ``stale=true``: the old one expired, ``"retry"`` (at most
      ``MAX_STALE_RETRIES`` times in a row without an accepted request);
    * a new nonce without ``stale``: RFC 7616 §3.3 says the credentials are wrong, so
      ``"failed"``, unless our answer to the old nonce had worked before (a server that
      forgot its nonce without saying stale): ``"retry"``. Servers such as Kamailio send a
      new nonce with every challenge, so comparing nonces alone would loop forever.

    "Accepted" is inferred: calling ``authorize`` again without ``on_challenge`` in between
    means the previous request was not challenged. A request that failed some other way
    counts too, which costs at most one extra round later. After ``"failed"`` the session
    forgets everything, so a later attempt starts over with a fresh challenge.
    """

    def __init__(
        self, creds: Credentials, *, cnonce_factory: Callable[[], str] = new_cnonce
    ) -> None:
        """Answer challenges with ``creds``; ``cnonce_factory`` makes each client nonce."""
        self._creds = creds
        self._cnonce_factory = cnonce_factory
        self._answers: dict[bool, _Answer] = {}  # key: proxy

    def on_challenge(self, challenges: Sequence[Challenge]) -> Literal["retry", "failed"]:
        """Take in every challenge of one 401/407; ``"retry"`` or ``"failed"`` (see class)."""
        fresh: dict[bool, _Answer] = {}
        for proxy in sorted({c.proxy for c in challenges}):
            realm = self._creds.realm
            usable = [c for c in challenges if c.proxy == proxy and realm in (None, c.realm)]
            chosen = choose_challenge(usable)
            old = self._answers.get(proxy)
            streak = 0
            if chosen is not None and chosen.stale:
                streak = 1 + (old.stale_streak if old and not old.accepted else 0)
            if chosen is None or streak > MAX_STALE_RETRIES or not _worth_retry(old, chosen):
                self._answers.clear()
                return "failed"
            fresh[proxy] = _Answer(chosen, stale_streak=streak)
            if old and (old.challenge.realm, old.challenge.nonce) == (chosen.realm, chosen.nonce):
                fresh[proxy].cnonce, fresh[proxy].nc = old.cnonce, old.nc  # never reuse a count
        if not fresh:
            self._answers.clear()
            return "failed"
        www, proxy_answer = self._answers.get(False), self._answers.get(True)
        if False not in fresh and www is not None:
            www.in_flight = False  # a proxy stopped the request: the registrar never judged it
        if False in fresh and proxy_answer is not None and proxy_answer.in_flight:
            proxy_answer.in_flight, proxy_answer.accepted = False, True  # the proxies let it by
        self._answers.update(fresh)
        return "retry"

    def authorize(self, *, method: str, uri: str, body: bytes = b"") -> list[tuple[str, str]]:
        """Header fields to add to the next request: Authorization, Proxy-Authorization.

        Empty before the first challenge. Each call uses the next nonce count.
        """
        headers: list[tuple[str, str]] = []
        for proxy, answer in sorted(self._answers.items()):
            if answer.in_flight:
                answer.accepted = True
            if answer.cnonce is None and _needs_cnonce(answer.challenge):
                answer.cnonce = self._cnonce_factory()
            value = authorization(
                answer.challenge,
                self._creds,
                method=method,
                uri=uri,
                body=body,
                nc=answer.nc + 1,
                cnonce=answer.cnonce,
            )
            answer.nc += 1
            answer.in_flight = True
            headers.append(("Proxy-Authorization" if proxy else "Authorization", value))
        return headers


def _worth_retry(old: _Answer | None, new: Challenge) -> bool:
    """Whether ``new`` asks a question our previous answer (``old``) did not already fail."""
    if old is None or not old.in_flight:
        return True
    if (old.challenge.realm, old.challenge.nonce) == (new.realm, new.nonce):
        return False
    return new.stale or old.accepted
