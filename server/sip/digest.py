"""HTTP Digest authentication for SIP clients (RFC 3261 §22, RFC 7616, RFC 8760).

The client half only: read a ``WWW-Authenticate`` / ``Proxy-Authenticate`` challenge, pick
the one to answer, compute the ``Authorization`` / ``Proxy-Authorization`` value, and decide,
per registration, whether a new 401/407 deserves another attempt or means the credentials
are wrong. No I/O, no clock; the client nonce comes from the caller (``cnonce=``,
``cnonce_factory=``) so tests can pin it. Text is hashed as UTF-8, which is what SIP carries
(RFC 3261 ``UTF8-NONASCII``) and the only ``charset`` RFC 7616 §4 allows.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from .aka import AkaError, UsimKeys, auts_param, digest_password, run_aka, split_nonce
from .digest_challenge import (
    ALGORITHMS,
    TOKEN_RE,
    Challenge,
    DigestError,
    answerable,
    choose_aka_challenge,
    choose_challenge,
    parse_challenge,
    short,
)
from .errors import SipParseError
from .grammar import ALPHANUM, percent_encode, quote_string, quote_strings
from .randomness import random_bytes

__all__ = [
    "MAX_STALE_RETRIES",
    "Challenge",
    "Credentials",
    "DigestError",
    "DigestSession",
    "authorization",
    "choose_challenge",
    "initial_authorization",
    "new_cnonce",
    "parse_challenge",
]

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


try:
    from _md5 import md5 as _md5  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # a Python built without its own hashes: OpenSSL's
    _md5 = hashlib.md5


# RFC 8187 attr-char: what an ext-value (``username*``) carries without %-escaping.
_ATTR_CHARS: Final = ALPHANUM + "!#$&+-.^_`|~"
_URL_SAFE: Final = bytes.maketrans(b"+/", b"-_")  # base64 to base64url (RFC 4648 §5)
# What a quoted string cannot carry at all (grammar.quote_string refuses it).
_UNQUOTABLE: Final = re.compile("[\r\n\x00]")
# hashlib's named constructors, which are quicker to call than hashlib.new(name); for
# MD5, CPython's own, when it has it: for a digest answer's three short inputs it costs
# half of OpenSSL's (no provider look-up and context per call), and the daemon answers
# thousands of challenges at start-up. The same function: RFC 1321.
_HASHES: Final[dict[str, Callable[[bytes], hashlib._Hash]]] = {
    "md5": _md5,
    "sha256": hashlib.sha256,
    "sha512_256": lambda data: hashlib.new("sha512_256", data),
}


# ``Credentials`` and ``Answer`` write out their ``__init__`` (``init=False``): mypyc
# (setup.py) compiles a written-out ``__init__``, while the one ``@dataclass`` generates
# stays interpreted, about 10x slower to construct. ``Final`` keeps the fields read-only
# for mypy, as ``frozen=True`` did, except the two that need ``field(repr=False)``: mypy
# takes a ``Final`` with a value in the class body for a class constant.
@dataclass(slots=True, init=False, unsafe_hash=True)
class Credentials:
    """A user name and password, for one realm or (``realm=None``) for whatever realm asks.

    ``usim``: the keys of a software USIM, which answer AKA challenges (RFC 3310,
    RFC 4169) instead of the password; an empty password then answers nothing else.
    """

    username: Final[str]
    password: str = field(repr=False)  # kept out of logs and tracebacks
    realm: Final[str | None]
    usim: UsimKeys | None = field(repr=False)

    def __init__(
        self,
        username: str,
        password: str,
        realm: str | None = None,
        usim: UsimKeys | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.realm = realm
        self.usim = usim


#: Bytes of one client nonce: 144 random bits.
_CNONCE_BYTES: Final = 18


def new_cnonce() -> str:
    """A fresh client nonce: 144 random bits in base64url, which needs no quoting.

    What ``secrets.token_urlsafe(18)`` returns (18 bytes need no ``=`` padding), without
    its four layers of calls, and from the pool of ``os.urandom`` bytes (``randomness``):
    one is made for every registration, thousands at start-up.
    """
    raw = random_bytes(_CNONCE_BYTES)
    return binascii.b2a_base64(raw, newline=False).translate(_URL_SAFE).decode()


def _needs_cnonce(challenge: Challenge) -> bool:
    algorithm = ALGORITHMS.get(challenge.algorithm.lower())
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
    aka_secret: bytes | None = None,
    auts: str | None = None,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``.

    An AKA challenge (RFC 3310, RFC 4169) is answered with ``aka_secret``, the password
    the USIM derived from its nonce (``aka.digest_password``: raw RES bytes for AKAv1,
    hashed as they are), or ``b""`` with ``auts`` to ask for resynchronisation
    (RFC 3310 §3.4); ``creds.password`` is not used then.

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
            f"the server asks for realm {short(challenge.realm)!r}, "
            f"the account is for realm {short(creds.realm)!r}"
        )
    algorithm = answerable(challenge, aka=aka_secret is not None)
    if algorithm is None:
        raise DigestError(f"cannot answer a {short(challenge.algorithm)!r} challenge")
    qop = None if not challenge.qop else "auth" if "auth" in challenge.qop else "auth-int"
    if method != "REGISTER" and not TOKEN_RE.fullmatch(method):  # a token, most often this
        raise DigestError("the method is not a token")
    if not 1 <= nc <= 0xFFFFFFFF:
        raise DigestError("the nonce count must be between 1 and 0xFFFFFFFF")
    if challenge.qop or algorithm.sess:  # what _needs_cnonce says, the algorithm known
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
    new_hash = _HASHES[algorithm.hashlib_name]
    realm, nonce = challenge.realm, challenge.nonce
    try:
        if aka_secret is None:
            ha1 = _hex(new_hash, f"{username}:{realm}:{password}")
        else:  # binary: RES may hold any octet (RFC 3310 §3.1)
            ha1 = new_hash(f"{username}:{realm}:".encode() + aka_secret).hexdigest()
        if algorithm.sess:
            ha1 = _hex(new_hash, f"{ha1}:{nonce}:{cnonce}")
        a2 = f"{method}:{uri}" + (f":{new_hash(body).hexdigest()}" if qop == "auth-int" else "")
        if qop:
            count = _nc(nc)
            response = _hex(new_hash, f"{ha1}:{nonce}:{count}:{cnonce}:{qop}:{_hex(new_hash, a2)}")
        else:
            response = _hex(new_hash, f"{ha1}:{nonce}:{_hex(new_hash, a2)}")
        texts = [realm, nonce, uri]  # to quote, in the order they are written
        if cnonce is not None:
            texts.append(cnonce)
        if challenge.opaque is not None:
            texts.append(challenge.opaque)
        if challenge.userhash:
            user = f"username={quote_string(_hex(new_hash, f'{username}:{realm}'))}"
        elif (utf8 and not username.isascii()) or _UNQUOTABLE.search(username):
            user = "username*=UTF-8''" + percent_encode(username, _ATTR_CHARS)
        else:
            texts.insert(0, username)
            user = ""
        quoted = quote_strings(texts)
        if not user:
            user = f"username={quoted.pop(0)}"
        parts = [
            user,
            f"realm={quoted[0]}",
            f"nonce={quoted[1]}",
            f"uri={quoted[2]}",
            f'response="{response}"',
            f"algorithm={algorithm.name}",
        ]
        if cnonce is not None:
            parts.append(f"cnonce={quoted[3]}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quoted[-1]}")
    except UnicodeEncodeError:
        raise DigestError("the credentials or request are not valid Unicode text") from None
    except SipParseError as exc:
        raise DigestError(f"cannot write the Authorization value: {exc}") from None
    if qop:
        parts += [f"qop={qop}", f"nc={_nc(nc)}"]
    if auts is not None:
        parts.append(f'auts="{auts}"')  # base64: nothing to escape
    if challenge.userhash:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def _nc(nc: int) -> str:
    """The nonce count as 8 hex digits; the first, by far the most common, as it is.

    (A format spec compiles to a ``str.format`` call: several times the cost.)
    """
    return "00000001" if nc == 1 else f"{nc:08x}"


def _hex(new_hash: Callable[[bytes], hashlib._Hash], text: str) -> str:
    """The hex digest of ``text`` as UTF-8."""
    return new_hash(text.encode("utf-8")).hexdigest()


#: How many stale=true challenges in a row are answered before the server is given up on.
MAX_STALE_RETRIES: Final = 2


@dataclass(slots=True, init=False)
class Answer:
    """What a session knows about the challenge it answers for one header (WWW or proxy)."""

    challenge: Challenge
    stale_streak: int
    needs_cnonce: bool  # qop or a -sess algorithm: the answer carries a client nonce
    cnonce: str | None
    nc: int  # last nonce count sent
    in_flight: bool  # a request carrying this answer is out, not yet judged
    accepted: bool  # a request carrying it got through without a new challenge
    aka_secret: bytes | None  # AKA: the password the USIM derived (b"": resync)
    auts: str | None  # AKA: asking the network to resynchronise (RFC 3310 §3.4)

    def __init__(
        self,
        challenge: Challenge,
        stale_streak: int,
        needs_cnonce: bool,
        cnonce: str | None = None,
        nc: int = 0,
        in_flight: bool = False,
        accepted: bool = False,
        aka_secret: bytes | None = None,
        auts: str | None = None,
    ) -> None:
        self.challenge = challenge
        self.stale_streak = stale_streak
        self.needs_cnonce = needs_cnonce
        self.cnonce = cnonce
        self.nc = nc
        self.in_flight = in_flight
        self.accepted = accepted
        self.aka_secret = aka_secret
        self.auts = auts


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
        self,
        creds: Credentials,
        *,
        cnonce_factory: Callable[[], str] = new_cnonce,
        answers: tuple[Answer, ...] = (),
    ) -> None:
        """Answer challenges with ``creds``; ``cnonce_factory`` makes each client nonce.

        ``answers``: what ``answers()`` returned for this registration before it was
        laid to rest, so its refresh answers the same nonce preemptively, counting on.
        """
        self._creds = creds
        self._cnonce_factory = cnonce_factory
        self._answers: dict[bool, Answer] = {a.challenge.proxy: a for a in answers}  # key: proxy
        #: The USIM as it stands: its SQN moves on with every accepted AKA challenge.
        self._usim = creds.usim
        self._new_sqn: int | None = None  # accepted, not yet handed to be stored
        self._resyncs = 0  # synchronisation failures in a row
        #: Why the last ``on_challenge`` said "failed", when it knows better than
        #: "wrong credentials" (an AKA challenge the USIM refused).
        self.failure = ""

    def on_challenge(self, challenges: Sequence[Challenge]) -> Literal["retry", "failed"]:
        """Take in every challenge of one 401/407; ``"retry"`` or ``"failed"`` (see class)."""
        fresh: dict[bool, Answer] = {}
        self.failure = ""
        for proxy in sorted({c.proxy for c in challenges}):
            realm = self._creds.realm
            usable = [c for c in challenges if c.proxy == proxy and realm in (None, c.realm)]
            chosen = choose_aka_challenge(usable) if self._usim is not None else None
            aka = chosen is not None
            if chosen is None and (self._usim is None or self._creds.password):
                chosen = choose_challenge(usable)
            old = self._answers.get(proxy)
            streak = 0
            if chosen is not None and chosen.stale:
                streak = 1 + (old.stale_streak if old and not old.accepted else 0)
            if chosen is None or streak > MAX_STALE_RETRIES or not _worth_retry(old, chosen):
                self._answers.clear()
                return "failed"
            fresh[proxy] = Answer(chosen, streak, _needs_cnonce(chosen))
            if aka and not self._run_usim(chosen, fresh[proxy]):
                self._answers.clear()
                return "failed"
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
        if not self._answers:
            return []
        headers: list[tuple[str, str]] = []
        for proxy, answer in sorted(self._answers.items()):
            if answer.in_flight:
                answer.accepted = True
            if answer.cnonce is None and answer.needs_cnonce:
                answer.cnonce = self._cnonce_factory()
            value = authorization(
                answer.challenge,
                self._creds,
                method=method,
                uri=uri,
                body=body,
                nc=answer.nc + 1,
                cnonce=answer.cnonce,
                aka_secret=answer.aka_secret,
                auts=answer.auts,
            )
            answer.nc += 1
            answer.in_flight = True
            headers.append(("Proxy-Authorization" if proxy else "Authorization", value))
        return headers

    def answers(self) -> tuple[Answer, ...]:
        """The challenges being answered and their counts, to resume with later.

        A registration at rest keeps these (a few hundred bytes) instead of the whole
        session, so that its refresh still carries a preemptive answer (RFC 7616 §3.4:
        the next nonce count) rather than costing the registrar a 401 each time. Not
        for AKA: its one-time answers cannot be reused, and IMS registrations never rest.

        The client nonce is let go (a new one comes with the next answer) unless the
        algorithm is a ``-sess`` one, whose key was derived from it: servers count
        ``nc`` per server nonce, and the client nonce may change between requests.
        """
        for answer in self._answers.values():
            algorithm = ALGORITHMS.get(answer.challenge.algorithm.lower())
            if algorithm is not None and not algorithm.sess:
                answer.cnonce = None
        return tuple(self._answers.values())

    def take_sqn(self) -> int | None:
        """The USIM's new highest accepted SQN, once, after an accepted AKA challenge.

        The caller stores it (TS 33.102: the USIM must never accept that SQN again, a
        restart included).
        """
        sqn, self._new_sqn = self._new_sqn, None
        return sqn

    def _run_usim(self, challenge: Challenge, answer: Answer) -> bool:
        """Run AKA on ``challenge``'s nonce into ``answer``; False when it must fail.

        TS 33.102 §6.3.3: a MAC that does not match means the network is not who it
        says (``failure`` says so: reported as AuthenticationFailed); a sequence number
        out of range is answered once with AUTS and an empty password, and the network
        sends a fresh challenge; a second one in a row fails.
        """
        usim = self._usim
        assert usim is not None
        try:
            rand, autn, _ = split_nonce(challenge.nonce)
        except AkaError as exc:
            self.failure = f"the AKA challenge cannot be read: {exc}"
            return False
        result = run_aka(usim, rand, autn)
        if result.outcome == "mac-failure":
            self.failure = (
                "the network failed AKA authentication: its AUTN does not match the "
                "USIM keys (wrong K or OP/OPc, or not our home network)"
            )
            return False
        if result.outcome == "sync-failure":
            self._resyncs += 1
            if self._resyncs > 1:
                self.failure = "the network's AKA sequence numbers stay out of range after AUTS"
                return False
            answer.aka_secret, answer.auts = b"", auts_param(result.auts)
            return True
        self._resyncs = 0
        answer.aka_secret = digest_password(challenge.algorithm, result)
        self._usim = replace(usim, sqn=result.sqn)
        self._new_sqn = result.sqn
        return True


def initial_authorization(username: str, realm: str, uri: str) -> str:
    """TS 24.229 §5.1.1.2.1: the Authorization of an unprotected initial REGISTER.

    The private identity, the home domain as realm, the registrar as uri, and an
    empty nonce and response: the S-CSCF needs the identity to pick the challenge
    (the AKA vectors of that subscriber), and nothing has been asked yet.
    """
    return (
        f"Digest username={quote_string(username)}, realm={quote_string(realm)}, "
        f'uri={quote_string(uri)}, nonce="", response=""'
    )


def _worth_retry(old: Answer | None, new: Challenge) -> bool:
    """Whether ``new`` asks a question our previous answer (``old``) did not already fail.

    After an AKA resynchronisation (``auts``) a new challenge is the expected answer.
    """
    if old is None or not old.in_flight or old.auts is not None:
        return True
    if (old.challenge.realm, old.challenge.nonce) == (new.realm, new.nonce):
        return False
    return new.stale or old.accepted
