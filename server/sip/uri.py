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
from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import ALPHA, DIGIT, UNRESERVED, is_host, percent_decode, percent_encode

# What each component may carry unescaped (RFC 3261 §25.1). Everything else is %HH.
_USER_SAFE: Final = UNRESERVED + "&=+$,;?/"
_PASSWORD_SAFE: Final = UNRESERVED + "&=+$,"
_PARAM_SAFE: Final = UNRESERVED + "[]/:&+$"
_HEADER_SAFE: Final = UNRESERVED + "[]/?:+$"
_SCHEME_CHARS: Final = frozenset(ALPHA + DIGIT + "+-.")

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

_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])


def _lower(s: str) -> str:
    """ASCII-only lower case: SIP's case-insensitivity is about ASCII letters.

    ``str.lower`` would also fold non-ASCII text (and ``casefold`` turns ``ß`` into
    ``ss``), making distinct escaped values compare equal.
    """
    return s.translate(_ASCII_LOWER)


def _show(s: str) -> str:
    """Quote a fragment for an error message, cut short so messages stay readable."""
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _has_surrogate(s: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in s)


def _host_problem(host: str) -> str:
    """Say why ``host`` is not a host, in terms of the form the author probably meant."""
    if not host:
        return "the host is empty"
    if host.startswith("["):
        return f"{_show(host)} is not a valid IPv6 reference"
    if host.count(":") > 1:
        return "an IPv6 address must be enclosed in brackets, e.g. sip:[2001:db8::1]:5060"
    if all(c in DIGIT + "." for c in host):
        return f"{_show(host)} is not a valid IPv4 address (four numbers 0-255, no leading 0)"
    return (
        f"{_show(host)} is not a valid host name (letters, digits, '-' and '.' only; "
        "the last label must start with a letter)"
    )


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
        scheme, host = _lower(self.scheme), _lower(self.host)
        if scheme not in ("sip", "sips"):
            raise SipParseError(
                f"unsupported URI scheme {_show(self.scheme)}; only sip: and sips: are accepted"
            )
        if not is_host(host):
            raise SipParseError(_host_problem(host))
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
                raise SipParseError(f"URI parameter {_show(name)} has '=' but no value")
            if _lower(name) in seen:
                raise SipParseError(f"URI parameter {_show(name)} appears more than once")
            seen.add(_lower(name))
        if any(not name for name, _ in self.headers):
            raise SipParseError("a URI header has an empty name")
        texts = [self.user or "", self.password or ""]
        texts += [part or "" for pair in self.params + self.headers for part in pair]
        if any(_has_surrogate(t) for t in texts):
            raise SipParseError("a URI component contains a lone surrogate (not UTF-8 text)")

    def __str__(self) -> str:
        """Canonical text: lower-case scheme and host, upper-case minimal escapes."""
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(percent_encode(self.user, _USER_SAFE))
            if self.password is not None:
                out += [":", percent_encode(self.password, _PASSWORD_SAFE)]
            out.append("@")
        out.append(self.host_port())
        for name, value in self.params:
            out += [";", percent_encode(name, _PARAM_SAFE)]
            if value is not None:
                out += ["=", percent_encode(value, _PARAM_SAFE)]
        enc = [
            f"{percent_encode(n, _HEADER_SAFE)}={percent_encode(v, _HEADER_SAFE)}"
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
        key = _lower(name)
        for pname, value in self.params:
            if _lower(pname) == key:
                return "" if value is None else value
        return None

    def has_param(self, name: str) -> bool:
        """Whether the parameter ``name`` (any case) is present, flag or not."""
        return self.param(name) is not None

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, None if absent or given without value."""
        value = self.param("transport")
        return _lower(value) if value else None

    @property
    def secure(self) -> bool:
        """A ``sips:`` URI: every hop must use TLS (RFC 3261 §19.1)."""
        return self.scheme == "sips"

    def host_port(self) -> str:
        """``host`` or ``host:port`` as ``str()`` writes it (IPv6 keeps its brackets)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"


def _decode(raw: str, safe: str, what: str) -> str:
    """Check ``raw`` against the component's character set, then resolve escapes."""
    for c in raw:
        if c != "%" and c not in safe:
            raise SipParseError(f"the {what} contains {c!r}, which must be written %{ord(c):02X}")
    try:
        return percent_decode(raw)
    except SipParseError as exc:
        raise SipParseError(f"{what}: {exc}") from None


def _check_characters(text: str) -> None:
    """Refuse anything that is not printable ASCII, saying where and what it is."""
    if not text:
        raise SipParseError("the URI is empty")
    if text != text.strip(" \t\r\n"):
        raise SipParseError("the URI has leading or trailing whitespace")
    for i, c in enumerate(text, start=1):
        o = ord(c)
        if 0x21 <= o <= 0x7E:
            continue
        if c in " \t\r\n" or (o > 0x9F and c.isspace()):
            raise SipParseError(
                f"whitespace {c!r} at position {i}; a URI cannot contain spaces "
                "(write a space inside a user name as %20)"
            )
        if o < 0x20 or 0x7F <= o <= 0x9F:
            raise SipParseError(f"control character U+{o:04X} at position {i}")
        raise SipParseError(
            f"non-ASCII character {c!r} at position {i}; write it %-escaped as UTF-8"
        )


def _parse_port(raw: str) -> int:
    if not raw:
        raise SipParseError("the port after ':' is empty")
    if not all(c in DIGIT for c in raw):
        raise SipParseError(f"port {_show(raw)} is not a number")
    digits = raw.lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > 65535:
        shown = digits if len(digits) <= 12 else digits[:9] + "..."
        raise SipParseError(f"port {shown} is out of range (0-65535)")
    return int(digits)


def _parse_hostport(text: str) -> tuple[str, int | None]:
    port_raw: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise SipParseError("the IPv6 reference has no closing ']'")
        host, after = text[: close + 1], text[close + 1 :]
        if after:
            if after[0] != ":":
                raise SipParseError(f"unexpected {_show(after)} after the IPv6 reference")
            port_raw = after[1:]
    else:
        if text.count(":") > 1:
            raise SipParseError(_host_problem(text))
        host, colon, after = text.partition(":")
        if colon:
            port_raw = after
    if not is_host(_lower(host)):
        raise SipParseError(_host_problem(host))
    return host, None if port_raw is None else _parse_port(port_raw)


def _parse_param(raw: str) -> tuple[str, str | None]:
    if not raw:
        raise SipParseError("empty URI parameter (a stray ';')")
    name_raw, eq, value_raw = raw.partition("=")
    if not name_raw:
        raise SipParseError(f"URI parameter {_show(raw)} has no name")
    name = _decode(name_raw, _PARAM_SAFE, f"URI parameter name {_show(name_raw)}")
    if not eq:
        return name, None
    if not value_raw:
        raise SipParseError(f"URI parameter {_show(name)} has '=' but no value")
    return name, _decode(value_raw, _PARAM_SAFE, f"value of URI parameter {_show(name)}")


def _parse_headers(raw: str) -> tuple[tuple[str, str], ...]:
    if not raw:
        raise SipParseError("nothing follows '?'; URI headers look like ?name=value&name=value")
    headers = []
    for item in raw.split("&"):
        if not item:
            raise SipParseError("empty URI header (a stray '&')")
        name_raw, eq, value_raw = item.partition("=")
        if not eq:
            raise SipParseError(f"URI header {_show(item)} has no '=' (expected name=value)")
        if not name_raw:
            raise SipParseError(f"URI header {_show(item)} has no name")
        name = _decode(name_raw, _HEADER_SAFE, f"URI header name {_show(name_raw)}")
        headers.append((name, _decode(value_raw, _HEADER_SAFE, f"value of URI header {name!r}")))
    return tuple(headers)


def parse_uri(text: str) -> SipUri:
    """Parse a ``sip:``/``sips:`` URI strictly by the RFC 3261 §25.1 grammar.

    Strict because these URIs are configuration a person typed or values the daemon
    stores and sends: a typo should be reported where it is made, not surface later as
    a failed registration. No whitespace is trimmed. Every error is ``SipParseError``
    whose message names the component at fault; passwords are never echoed.
    """
    _check_characters(text)
    if text.startswith("<"):
        raise SipParseError("remove the angle brackets: give the bare URI, e.g. sip:alice@host")
    colon = text.find(":")
    scheme = text[:colon] if colon > 0 else ""
    if not scheme or scheme[0] not in ALPHA or not all(c in _SCHEME_CHARS for c in scheme):
        raise SipParseError("missing scheme: a SIP URI starts with sip: or sips:")
    if _lower(scheme) not in ("sip", "sips"):
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
        user = _decode(user_raw, _USER_SAFE, "user part")
        if has_password:
            password = _decode(password_raw, _PASSWORD_SAFE, "password")
    rest, has_headers, headers_raw = rest.partition("?")
    hostport, *param_raws = rest.split(";")
    host, port = _parse_hostport(hostport)
    params = tuple(_parse_param(p) for p in param_raws)
    headers = _parse_headers(headers_raw) if has_headers else ()
    return SipUri(_lower(scheme), user, password, host, port, params, headers)


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
    return _lower(host)


def _param_key(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if name == "maddr" and is_host(_lower(value)):
        return _canonical_host(value)
    return _lower(value)


def _header_key(name: str, value: str) -> tuple[str, str]:
    lowered = _lower(name)
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
    pa = {_lower(n): _param_key(_lower(n), v) for n, v in a.params}
    pb = {_lower(n): _param_key(_lower(n), v) for n, v in b.params}
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
    user = "" if uri.user is None else percent_encode(uri.user, _USER_SAFE) + "@"
    port = "" if uri.port is None else f":{uri.port}"
    return f"{uri.scheme}:{user}{_canonical_host(uri.host)}{port}"
