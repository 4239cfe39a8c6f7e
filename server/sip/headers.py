r"""Structured header values: lists, parameters, name-addr, Via, CSeq and auth params.

The message parser keeps every header value as text; these functions give a value its
structure when a caller asks for it. Parsing on demand keeps one malformed header that
nobody reads from making a whole message unusable (RFC 3261 §16.3 lets a proxy forward
headers it does not understand, and a UA only needs the few it acts on).

Parameter values are kept exactly as written, quoted strings *with* their quotes.
Quoting is significant in SIP: RFC 3840 feature tags tell ``;+sip.instance="<urn:..>"``
(a string) from a token by its quotes, and a value relayed unchanged must stay
byte-identical. Use ``grammar.unquote_string`` when the text inside is wanted. Parameter
names keep their case; every lookup ignores ASCII case.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import (
    ALPHA,
    ALPHANUM,
    DIGIT,
    TOKEN_CHARS,
    is_host,
    is_quoted_string,
    is_token,
    quote_string,
    unquote_string,
)

#: Parameters in order: ``(name, value)``; the value is None for a flag such as ``;lr``.
Params = tuple[tuple[str, str | None], ...]

_WS: Final = " \t"
_TOKEN: Final = frozenset(TOKEN_CHARS)
# gen-value = token / host / quoted-string; ':' and '[]' cover IPv6 hosts, bracketed or
# (RFC 5118 §4.5) not.
_VALUE: Final = frozenset(TOKEN_CHARS + ":[]")
_SCHEME: Final = frozenset(ALPHA + DIGIT + "+-.")
_HOST: Final = frozenset(ALPHANUM + "-.")
_DIGITS: Final = frozenset(DIGIT)
_URI_FORBIDDEN: Final = frozenset('<>"')
# An unquoted auth-param value: lenient (any visible ASCII but ',' and '"'), because
# servers do send unquoted base64 nonces that are not tokens.
_AUTH_VALUE: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset(',"')
_CSEQ: Final = re.compile(r"([0-9]+)[ \t]+([" + re.escape(TOKEN_CHARS) + r"]+)")
_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])


def _lower(s: str) -> str:
    """ASCII-only lower case (SIP's case-insensitivity never covers non-ASCII letters)."""
    return s.translate(_ASCII_LOWER)


def _show(s: str) -> str:
    """Quote a fragment for an error message, cut short so messages stay readable."""
    return repr(s if len(s) <= 40 else s[:37] + "...")


class _Cursor:
    """A read position in one header value; each method advances or raises."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1
        return self.pos > start

    def take(self, chars: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
        return self.text[start : self.pos]

    def expect(self, ch: str, context: str) -> None:
        """Consume ``ch``, with optional whitespace around it (SIP's SWS)."""
        self.skip_ws()
        if self.peek() != ch:
            found = _show(self.text[self.pos :]) if self.peek() else "the end of the value"
            raise SipParseError(f"expected {ch!r} {context}, found {found}")
        self.pos += 1
        self.skip_ws()

    def quoted(self) -> str:
        """Consume one quoted-string and return it as written, quotes included."""
        i = self.pos + 1
        while i < len(self.text) and self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text):
            raise SipParseError(f"unterminated quoted string {_show(self.text[self.pos :])}")
        raw = self.text[self.pos : i + 1]
        if not is_quoted_string(raw):
            raise SipParseError(f"quoted string {_show(raw)} contains a character it cannot carry")
        self.pos = i + 1
        return raw


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and ``<...>``.

    Elements are trimmed and empty ones dropped (``a, ,b`` is two elements), the way
    RFC 7230 §7 asks list recipients to be tolerant. Never raises: an unterminated quote
    or bracket simply extends to the end, and the structured parser of the element
    reports it.
    """
    items: list[str] = []
    start, i, quoted, angle = 0, 0, False, False
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif angle:
            angle = c != ">"
        elif c == '"':
            quoted = True
        elif c == "<":
            angle = True
        elif c == ",":
            items.append(value[start:i])
            start = i + 1
        i += 1
    items.append(value[start:])
    return [s for s in (item.strip(_WS) for item in items) if s]


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag...`` (whitespace allowed around ``;`` and ``=``).

    Values are a token, a host or a quoted-string kept with its quotes; see the module
    docstring. A stray ``;`` or an ``=`` without a value is an error.
    """
    cur = _Cursor(text)
    params: list[tuple[str, str | None]] = []
    cur.skip_ws()
    while cur.peek():
        cur.expect(";", "before a parameter")
        name = cur.take(_TOKEN)
        if not name:
            raise SipParseError("empty parameter (a stray ';' or a non-token name)")
        value: str | None = None
        cur.skip_ws()
        if cur.peek() == "=":
            cur.expect("=", "")
            value = cur.quoted() if cur.peek() == '"' else cur.take(_VALUE)
            if not value:
                raise SipParseError(f"parameter {_show(name)} has '=' but no value")
            cur.skip_ws()
        params.append((name, value))
    return tuple(params)


def _check_params(params: Params) -> None:
    """Refuse parameters that ``_format_params`` could not write back parseably."""
    for name, value in params:
        if not is_token(name):
            raise SipParseError(f"parameter name {_show(name)} is not a token")
        if value is not None and not (
            is_quoted_string(value) or (value and all(c in _VALUE for c in value))
        ):
            raise SipParseError(
                f"value {_show(value)} of parameter {_show(name)} must be a token, "
                "a host or a quoted string (with its quotes)"
            )


def _format_params(params: Params) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _find_param(params: Params, name: str) -> str | None:
    key = _lower(name)
    for pname, value in params:
        if _lower(pname) == key:
            return "" if value is None else value
    return None


def _replace_param(params: Params, name: str, value: str | None) -> Params:
    """Set ``name`` where it already is (first occurrence, others dropped), else append."""
    key = _lower(name)
    at = next((i for i, (n, _) in enumerate(params) if _lower(n) == key), None)
    if at is None:
        return (*params, (name, value))
    rest = tuple(p for p in params[at + 1 :] if _lower(p[0]) != key)
    return (*params[:at], (params[at][0], value), *rest)


def _check_uri(uri: str) -> None:
    """An absolute URI of any scheme, as text: ``scheme:`` then printable ASCII.

    Only the shape is checked; ``uri.parse_uri`` validates a ``sip:`` URI fully when a
    caller needs its parts. ``<``, ``>`` and ``"`` would break the enclosing header.
    """
    colon = uri.find(":")
    scheme = uri[:colon] if colon > 0 else ""
    if not scheme or scheme[0] not in ALPHA or not all(c in _SCHEME for c in scheme):
        raise SipParseError(f"{_show(uri)} is not a URI (expected scheme:..., e.g. sip:a@b)")
    if colon == len(uri) - 1:
        raise SipParseError(f"nothing follows the scheme in URI {_show(uri)}")
    for c in uri:
        if not 0x21 <= ord(c) <= 0x7E or c in _URI_FORBIDDEN:
            raise SipParseError(f"URI {_show(uri)} contains {c!r}, which must be %-escaped")


class _Parametrised:
    """Parameter lookup shared by the frozen value classes below."""

    __slots__ = ()
    params: Params

    def param(self, name: str) -> str | None:
        """Raw value of ``name`` (any case): ``""`` for a flag, None when absent."""
        return _find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether ``name`` (any case) is present, flag or not."""
        return _find_param(self.params, name) is not None


@dataclass(frozen=True, slots=True)
class NameAddr(_Parametrised):
    """``["display"] <uri>;params`` of From, To, Contact, Route and their kin.

    ``display`` is the decoded display name (None when absent, distinct from ``""``);
    ``uri`` is the URI text of any scheme. ``NameAddr(None, "*")`` is the wildcard
    Contact of a REGISTER that removes every binding (RFC 3261 §10.2.2).
    """

    display: str | None
    uri: str
    params: Params = ()

    def __post_init__(self) -> None:
        """Refuse what ``str()`` could not write back so that it parses the same."""
        if self.uri == "*":
            if self.display is not None or self.params:
                raise SipParseError("the wildcard Contact '*' takes no display name or params")
            return
        _check_uri(self.uri)
        if self.display is not None:
            quote_string(self.display)
        _check_params(self.params)

    @property
    def is_wildcard(self) -> bool:
        """The ``Contact: *`` value."""
        return self.uri == "*"

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        """A copy with ``name`` set (``value`` None for a flag), in place if present."""
        return dataclasses.replace(self, params=_replace_param(self.params, name, value))

    def __str__(self) -> str:
        """Always the name-addr form with ``<>``: safe whatever the URI contains."""
        if self.is_wildcard:
            return "*"
        display = "" if self.display is None else quote_string(self.display) + " "
        return f"{display}<{self.uri}>{_format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse name-addr (``"Bob" <sip:b@x>;tag=1``, ``Bob <sip:b@x>``) or addr-spec.

    In the addr-spec form (``sip:b@x;tag=1``) everything after the URI is a header
    parameter (RFC 3261 §20.10), so such a URI cannot carry ``;``, ``?`` or ``,``
    itself. An unquoted display name is a run of tokens, kept with single spaces.
    """
    text = value.strip(_WS)
    if not text:
        raise SipParseError("the address is empty")
    if text == "*":
        return NameAddr(None, "*")
    cur = _Cursor(text)
    display: str | None
    if cur.peek() == '"':
        display = unquote_string(cur.quoted())
        cur.skip_ws()
        if cur.peek() != "<":
            raise SipParseError("a quoted display name must be followed by <URI>")
    else:
        words: list[str] = []
        while word := cur.take(_TOKEN):
            words.append(word)
            cur.skip_ws()
        if cur.peek() != "<":
            if "<" in text:
                raise SipParseError(
                    "the display name before '<' has characters that need double quotes"
                )
            return _parse_addr_spec(text)
        display = " ".join(words) if words else None
    close = text.find(">", cur.pos)
    if close < 0:
        raise SipParseError("'<' has no matching '>'")
    uri = text[cur.pos + 1 : close]
    _check_uri(uri)
    return NameAddr(display, uri, parse_params(text[close + 1 :]))


def _parse_addr_spec(text: str) -> NameAddr:
    end = next((i for i, c in enumerate(text) if c == ";" or c in _WS), len(text))
    uri = text[:end]
    if "?" in uri or "," in uri:
        raise SipParseError(f"a URI with '?' or ',' must be enclosed in <>: {_show(uri)}")
    _check_uri(uri)
    return NameAddr(None, uri, parse_params(text[end:]))


def _parse_port(raw: str) -> int:
    digits = raw.lstrip("0") or "0"
    if not raw or len(digits) > 5 or int(digits) > 65535:
        raise SipParseError(f"port {_show(raw)} is not a number 0-65535")
    return int(digits)


@dataclass(frozen=True, slots=True)
class Via(_Parametrised):
    """One ``SIP/2.0/transport sent-by;params`` hop; ``transport`` is kept upper case."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    def __post_init__(self) -> None:
        """Normalise the transport's case and refuse what ``str()`` cannot write back."""
        if not is_token(self.transport):
            raise SipParseError(f"Via transport {_show(self.transport)} is not a token")
        object.__setattr__(self, "transport", self.transport.upper())
        if not is_host(_lower(self.host)):
            raise SipParseError(f"Via host {_show(self.host)} is not a host name or address")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise SipParseError(f"Via port {self.port} is out of range (0-65535)")
        _check_params(self.params)

    @property
    def branch(self) -> str | None:
        """The transaction id (RFC 3261 §8.1.1.7); None when absent."""
        return _find_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The source address the next hop saw (RFC 3261 §18.2.1); None when absent."""
        return _find_param(self.params, "received")

    @property
    def rport_requested(self) -> bool:
        """Whether ``;rport`` is present, with or without a value (RFC 3581)."""
        return _find_param(self.params, "rport") is not None

    @property
    def rport(self) -> int | None:
        """The source port the server filled in; None when absent or only requested."""
        value = _find_param(self.params, "rport")
        if not value:
            return None
        if not all(c in _DIGITS for c in value):
            raise SipParseError(f"rport {_show(value)} is not a number")
        return _parse_port(value)

    def with_param(self, name: str, value: str | None = None) -> Via:
        """A copy with ``name`` set (``value`` None for a flag), in place if present."""
        return dataclasses.replace(self, params=_replace_param(self.params, name, value))

    def __str__(self) -> str:
        """``SIP/2.0/UDP host:port;branch=...;rport``."""
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{_format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one Via element; LWS is allowed around ``/`` and ``:`` (RFC 3261 §25.1).

    Only ``SIP/2.0`` is accepted: a Via of another version means a peer this stack
    cannot talk to, and ``Via`` has no field to keep the version in.
    """
    cur = _Cursor(value.strip(_WS))
    name = cur.take(_TOKEN)
    cur.expect("/", "after the Via protocol name")
    version = cur.take(frozenset(DIGIT + "."))
    cur.expect("/", "after the Via protocol version")
    transport = cur.take(_TOKEN)
    if _lower(name) != "sip" or version != "2.0":
        raise SipParseError(f"unsupported Via protocol {_show(name + '/' + version)}")
    if not transport:
        raise SipParseError("the Via has no transport after SIP/2.0/")
    if not cur.skip_ws():
        raise SipParseError("expected whitespace between the Via transport and host")
    if cur.peek() == "[":
        close = cur.text.find("]", cur.pos)
        host = cur.text[cur.pos : close + 1] if close >= 0 else cur.text[cur.pos :]
        cur.pos += len(host)
    else:
        host = cur.take(_HOST)
    if not is_host(_lower(host)):
        raise SipParseError(f"Via host {_show(host)} is not a host name or address")
    cur.skip_ws()
    port = None
    if cur.peek() == ":":
        cur.expect(":", "")
        port = _parse_port(cur.take(_DIGITS))
    cur.skip_ws()
    if cur.peek() not in ("", ";"):
        raise SipParseError(f"unexpected {_show(cur.text[cur.pos :])} after the Via host")
    return Via(transport, host, port, parse_params(cur.text[cur.pos :]))


def parse_cseq(value: str) -> tuple[int, str]:
    """``CSeq: 1 REGISTER`` as ``(1, "REGISTER")``; the number must be below 2**31.

    RFC 3261 §8.1.1.5 keeps initial values below 2**31 so that a UA can always increment;
    a larger number from a peer is more likely an attack or a bug than a long dialog.
    """
    match = _CSEQ.fullmatch(value.strip(_WS))
    if match is None:
        raise SipParseError(f"CSeq {_show(value)} is not 'number METHOD'")
    digits = match[1].lstrip("0") or "0"
    if len(digits) > 10 or int(digits) >= 2**31:
        raise SipParseError(f"CSeq number {_show(match[1])} is out of range (below 2**31)")
    return int(digits), match[2]


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", qop="auth,auth-int"`` as ``("Digest", {"realm": "x", ...})``.

    For WWW-Authenticate, Proxy-Authenticate, Authorization and Proxy-Authorization.
    Names are lower-cased, values unquoted. A repeated name is an error: which ``realm``
    or ``nonce`` counts must never be a guess. Empty list elements (``a=1,,b=2``) are
    skipped. Only one challenge per header line is understood; a second one reads as a
    name without ``=`` and is reported.
    """
    cur = _Cursor(value.strip(_WS))
    scheme = cur.take(_TOKEN)
    if not scheme:
        raise SipParseError(f"{_show(value)} does not start with an auth scheme token")
    params: dict[str, str] = {}
    if cur.peek() and not cur.skip_ws():
        raise SipParseError(f"expected whitespace after auth scheme {_show(scheme)}")
    while True:
        cur.skip_ws()
        if cur.peek() == ",":
            cur.pos += 1
            continue
        if not cur.peek():
            return scheme, params
        name = _lower(cur.take(_TOKEN))
        cur.expect("=", f"after {_show(name)} (only one challenge per header line)")
        if cur.peek() == '"':
            item = unquote_string(cur.quoted())
        else:
            item = cur.take(_AUTH_VALUE)
            if not item:
                raise SipParseError(f"auth parameter {_show(name)} has '=' but no value")
        if name in params:
            raise SipParseError(f"auth parameter {_show(name)} appears more than once")
        params[name] = item
        cur.skip_ws()
        if cur.peek() not in ("", ","):
            raise SipParseError(f"expected ',' after auth parameter {_show(name)}")
