"""SIP and SIPS URIs: parse, serialise and compare (RFC 3261 §19.1, §25.1).

``SipUri`` holds *decoded* components, so code that reads a user name or a parameter
never deals with ``%HH``; ``str()`` escapes again, and only what the grammar requires,
so one URI has one spelling on the wire and in storage.

Equality of the dataclass (``==``) is structural: same components in the same order.
Whether two URIs *mean* the same thing is ``uri_equivalent`` (RFC 3261 §19.1.4), which
registrars use to match Contact bindings. Storage pre-filters on ``aor_lookup_key``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import is_host, percent_encode
from .uri_text import (
    HEADER_SAFE,
    PARAM_SAFE,
    PASSWORD_SAFE,
    SCHEME_RE,
    SURROGATE_RE,
    USER_SAFE,
    Params,
    check_characters,
    check_unique,
    decode,
    host_problem,
    lower,
    parse_headers,
    parse_hostport,
    parse_param,
    show,
    usual_uri,
)

# §19.1.4: these parameters change where or how a request goes, so a URI that has one
# never matches a URI that lacks it (even when the value is the default).
_MUST_MATCH_PARAMS: Final = frozenset({"user", "ttl", "method", "maddr", "transport"})

# RFC 3261 §7.3.3 compact header names, so ``?s=x`` and ``?Subject=x`` compare equal.
_COMPACT_HEADERS: Final = {
    "c": "content-type",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "s": "subject",
    "t": "to",
    "v": "via",
}


@dataclass(frozen=True, slots=True)
class SipUri:
    """A parsed ``sip:`` or ``sips:`` URI with decoded components.

    Construction validates and normalises (scheme and host to lower case), so every
    instance serialises to text that ``parse_uri`` accepts and that parses back to an
    equal instance. Invalid components raise ``SipParseError``.

    Parameter names must be unique, compared case-insensitively: RFC 3261 does not say
    what ``;transport=udp;transport=tcp`` means, and both ``param()`` and §19.1.4
    comparison would have to guess.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        """Normalise case and refuse what the grammar cannot express."""
        scheme, host = lower(self.scheme), lower(self.host)
        if scheme not in ("sip", "sips"):
            raise SipParseError(
                f"unsupported URI scheme {show(self.scheme)}; only sip: and sips: are accepted"
            )
        if not is_host(host):
            raise SipParseError(host_problem(host))
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "host", host)
        if self.user == "":
            raise SipParseError("the user part before '@' is empty")
        if self.password is not None and self.user is None:
            raise SipParseError("a password needs a user part (sip:user:password@host)")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise SipParseError(f"port {self.port} is out of range (0-65535)")
        seen: set[str] = set()
        for name, value in self.params:
            if not name:
                raise SipParseError("a URI parameter has an empty name (a stray ';'?)")
            if value == "":
                raise SipParseError(f"URI parameter {show(name)} has '=' but no value")
            check_unique(name, seen)
        if any(not name for name, _ in self.headers):
            raise SipParseError("a URI header has an empty name")
        texts = [self.user or "", self.password or ""]
        texts += [part or "" for pair in self.params + self.headers for part in pair]
        if SURROGATE_RE.search("".join(texts)):
            raise SipParseError("a URI component contains a lone surrogate (not UTF-8 text)")

    @classmethod
    def _usual(cls, match: re.Match[str], port: int | None, params: Params) -> SipUri:
        """The SipUri of a ``usual_uri`` reading, which ``__post_init__`` would accept.

        The reading holds what ``__post_init__`` checks (a known scheme in lower case,
        a host, ASCII text, parameters with names and unique), so it is not run again.
        """
        uri = SipUri.__new__(SipUri)  # not object.__new__: see message.Headers._of_lines
        object.__setattr__(uri, "scheme", match[1])
        object.__setattr__(uri, "user", match[2])
        object.__setattr__(uri, "password", None)
        object.__setattr__(uri, "host", match[3].lower())
        object.__setattr__(uri, "port", port)
        object.__setattr__(uri, "params", params)
        object.__setattr__(uri, "headers", ())
        return uri

    def __str__(self) -> str:
        """Canonical text: lower-case scheme and host, upper-case minimal escapes."""
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(percent_encode(self.user, USER_SAFE))
            if self.password is not None:
                out += [":", percent_encode(self.password, PASSWORD_SAFE)]
            out.append("@")
        out.append(self.host_port())
        for name, value in self.params:
            out += [";", percent_encode(name, PARAM_SAFE)]
            if value is not None:
                out += ["=", percent_encode(value, PARAM_SAFE)]
        enc = [
            f"{percent_encode(n, HEADER_SAFE)}={percent_encode(v, HEADER_SAFE)}"
            for n, v in self.headers
        ]
        if enc:
            out += ["?", "&".join(enc)]
        return "".join(out)

    def param(self, name: str) -> str | None:
        """Value of the parameter ``name`` (any case); ``""`` for a flag, None if absent.

        One call tells all three cases apart: ``""`` is unambiguous because the grammar
        forbids an empty value after ``=``. Test presence with ``has_param`` rather than
        truthiness, since a present flag such as ``;lr`` is falsy.
        """
        key = lower(name)
        for pname, value in self.params:
            if lower(pname) == key:
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        """Whether the parameter ``name`` (any case) is present, flag or not."""
        return self.param(name) is not None

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, None if absent or given without value."""
        value = self.param("transport")
        return lower(value) if value else None

    @property
    def secure(self) -> bool:
        """A ``sips:`` URI: every hop must use TLS (RFC 3261 §19.1)."""
        return self.scheme == "sips"

    def host_port(self) -> str:
        """``host`` or ``host:port`` as ``str()`` writes it (IPv6 keeps its brackets)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"


def check_uri(text: str) -> None:
    """Raise what ``parse_uri(text)`` would raise, if anything, quickly for the usual URI."""
    if usual_uri(text) is None:
        parse_uri(text)


def parse_uri(text: str) -> SipUri:
    """Parse a ``sip:``/``sips:`` URI strictly by the RFC 3261 §25.1 grammar.

    Strict because these URIs are configuration a person typed or values the daemon
    stores and sends: a typo should be reported where it is made, not surface later as
    a failed registration. No whitespace is trimmed. Every error is ``SipParseError``
    whose message names the component at fault; passwords are never echoed.
    """
    usual = usual_uri(text)
    if usual is not None:
        return SipUri._usual(*usual)
    check_characters(text)
    if text.startswith("<"):
        raise SipParseError("remove the angle brackets: give the bare URI, e.g. sip:alice@host")
    colon = text.find(":")
    scheme = text[:colon] if colon > 0 else ""
    if not SCHEME_RE.fullmatch(scheme):
        raise SipParseError("missing scheme: a SIP URI starts with sip: or sips:")
    if lower(scheme) not in ("sip", "sips"):
        raise SipParseError(
            f"unsupported URI scheme '{scheme}:'; only sip: and sips: URIs are accepted"
        )
    rest = text[colon + 1 :]
    user = password = None
    # The user part may contain ';', '?' and '/', so userinfo is split off first; '@' is
    # never legal unescaped anywhere else, so the first '@' ends it.
    if "@" in rest:
        userinfo, _, rest = rest.partition("@")
        if "@" in rest:
            raise SipParseError("more than one '@'; an '@' inside the user part is written %40")
        user_raw, has_password, password_raw = userinfo.partition(":")
        if not user_raw:
            raise SipParseError("the user part before '@' is empty")
        user = decode(user_raw, USER_SAFE, "user part")
        if has_password:
            password = decode(password_raw, PASSWORD_SAFE, "password")
    rest, has_headers, headers_raw = rest.partition("?")
    hostport, *param_raws = rest.split(";")
    host, port = parse_hostport(hostport)
    params = tuple(parse_param(p) for p in param_raws)
    headers = parse_headers(headers_raw) if has_headers else ()
    return SipUri(lower(scheme), user, password, host, port, params, headers)


def _canonical_ipv6(text: str) -> str:
    """RFC 5952 text for an IPv6 address, computed here rather than by ``ipaddress``.

    The result is persisted (``aor_lookup_key``), and ``ipaddress``'s own text for
    IPv4-mapped addresses is not the same in every Python version.
    """
    value = int(ipaddress.IPv6Address(text))
    groups = [f"{(value >> shift) & 0xFFFF:x}" for shift in range(112, -1, -16)]
    best, best_len, run = -1, 1, 0  # longest run of 2+ zero groups, the first on a tie
    for i, group in enumerate([*groups, "end"]):
        if group == "0":
            run += 1
            continue
        if run > best_len:
            best, best_len = i - run, run
        run = 0
    if best < 0:
        return ":".join(groups)
    return ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len :])


def _canonical_host(host: str) -> str:
    """One spelling per address (RFC 5954 §4.2): IPv6 per RFC 5952, names lower case."""
    if host.startswith("["):
        return f"[{_canonical_ipv6(host[1:-1])}]"
    return lower(host)


def _param_key(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if name == "maddr" and is_host(lower(value)):
        return _canonical_host(value)
    return lower(value)


def _header_key(name: str, value: str) -> tuple[str, str]:
    lowered = lower(name)
    return _COMPACT_HEADERS.get(lowered, lowered), value


def uri_equivalent(a: SipUri, b: SipUri) -> bool:
    """RFC 3261 §19.1.4 comparison (with RFC 5954's IP-address correction).

    User and password compare case-sensitively, decoded. Host compares
    case-insensitively, IP addresses by value. An absent port never equals an explicit
    one. ``user``/``ttl``/``method``/``maddr``/``transport`` must be in both or neither;
    other parameters count only when in both; parameter names and values ignore case.
    Headers must be the same multiset: names ignore case (compact forms expanded),
    values are case-sensitive, because §19.1.4 defers to per-header rules that mostly
    are, and a false "different" is safer for a registrar than a false "same".
    Not transitive, as the RFC notes.
    """
    if (a.scheme, a.user, a.password, a.port) != (b.scheme, b.user, b.password, b.port):
        return False
    if _canonical_host(a.host) != _canonical_host(b.host):
        return False
    pa = {lower(n): _param_key(lower(n), v) for n, v in a.params}
    pb = {lower(n): _param_key(lower(n), v) for n, v in b.params}
    for name in pa.keys() | pb.keys():
        if name in pa and name in pb:
            if pa[name] != pb[name]:
                return False
        elif name in _MUST_MATCH_PARAMS:
            return False
    return sorted(_header_key(*h) for h in a.headers) == sorted(_header_key(*h) for h in b.headers)


def aor_lookup_key(uri: SipUri) -> str:
    """Return a coarse index key: equivalent URIs always share it, not the converse.

    Built from scheme, user, canonical host and port, spelled like a URI. The password
    is left out on purpose, although equivalence compares it: this string is stored in
    an indexed database column, and passwords do not belong there.
    """
    user = "" if uri.user is None else percent_encode(uri.user, USER_SAFE) + "@"
    port = "" if uri.port is None else f":{uri.port}"
    return f"{uri.scheme}:{user}{_canonical_host(uri.host)}{port}"
