r"""Structured header values: lists, name-addr, CSeq and auth params.

The message parser keeps every header value as text; these functions give a value its
structure when a caller asks for it. Parsing on demand keeps one malformed header that
nobody reads from making a whole message unusable (RFC 3261 §16.3 lets a proxy forward
headers it does not understand, and a UA only needs the few it acts on).

Parameters (``;name=value``) are read by ``params.py``, which says how their values are
kept, and Via values by ``via.py``; both are imported from here as they always were.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import TOKEN_CLASS, quote_string, unquote_string
from .params import (
    TOKEN_RUN,
    WS,
    Cursor,
    Parametrised,
    Params,
    check_params,
    format_params,
    lower,
    parse_params,
    replace_param,
    run_end,
    show,
)
from .via import Via, parse_via, via_branch

__all__ = [
    "NameAddr",
    "Params",
    "Via",
    "name_addr_text",
    "parse_auth_params",
    "parse_cseq",
    "parse_name_addr",
    "parse_params",
    "parse_via",
    "split_list",
    "via_branch",
]

# An absolute URI of any scheme as text: scheme ":" then printable ASCII but <, >, ".
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_URI_TEXT_RE: Final = re.compile(r"[\x21\x23-\x3b\x3d\x3f-\x7e]*")
# An unquoted auth-param value: lenient (any visible ASCII but ',' and '"'), because
# servers do send unquoted base64 nonces that are not tokens.
_AUTH_VALUE_RUN: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x7e]*")
_CSEQ: Final = re.compile(rf"([0-9]+)[ \t]+({TOKEN_CLASS}+)")
# One element of a comma-separated list: runs of plain text, quoted strings (to the
# closing quote, or the end) and <...> (to the '>', or the end); it ends at a ',' or
# the end of the value. Possessive, as each kind of run has one way to end.
_LIST_ELEMENT: Final = re.compile(
    r'(?:[^",<]++|"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|<[^>]*+(?:>|\Z))*+', re.DOTALL
)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and ``<...>``.

    Elements are trimmed and empty ones dropped (``a, ,b`` is two elements), the way
    RFC 7230 §7 asks list recipients to be tolerant. Never raises: an unterminated quote
    or bracket simply extends to the end, and the structured parser of the element
    reports it.
    """
    if "," not in value:  # one element (the usual case)
        element = value.strip(WS)
        return [element] if element else []
    items: list[str] = []
    pos = 0
    while True:
        end = run_end(_LIST_ELEMENT, value, pos)
        items.append(value[pos:end])
        if end >= len(value):
            break
        pos = end + 1  # past the comma
    return [s for s in (item.strip(WS) for item in items) if s]


def _check_uri(uri: str) -> None:
    """An absolute URI of any scheme, as text: ``scheme:`` then printable ASCII.

    Only the shape is checked; ``uri.parse_uri`` validates a ``sip:`` URI fully when a
    caller needs its parts. ``<``, ``>`` and ``"`` would break the enclosing header.
    """
    colon = uri.find(":")
    if colon <= 0 or not _SCHEME_RE.fullmatch(uri, 0, colon):
        raise SipParseError(f"{show(uri)} is not a URI (expected scheme:..., e.g. sip:a@b)")
    if colon == len(uri) - 1:
        raise SipParseError(f"nothing follows the scheme in URI {show(uri)}")
    if _URI_TEXT_RE.fullmatch(uri):
        return
    for c in uri:
        if not 0x21 <= ord(c) <= 0x7E or c in '<>"':
            raise SipParseError(f"URI {show(uri)} contains {c!r}, which must be %-escaped")


@dataclass(frozen=True, slots=True)
class NameAddr(Parametrised):
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
        check_params(self.params)

    @classmethod
    def _parsed(cls, display: str | None, uri: str, params: Params) -> NameAddr:
        """A NameAddr of ``parse_name_addr``, whose parts it has checked: not checked again.

        The parser accepts only what ``__post_init__`` accepts (a URI ``_check_uri``
        passes, a display name from a valid quoted string or tokens, parameters from
        ``parse_params``), so the second check could never fail; it is skipped because
        every Contact, From and To of every response is parsed.
        """
        addr = NameAddr.__new__(NameAddr)  # not object.__new__: see message.Headers._of_lines
        object.__setattr__(addr, "display", display)
        object.__setattr__(addr, "uri", uri)
        object.__setattr__(addr, "params", params)
        return addr

    @property
    def is_wildcard(self) -> bool:
        """The ``Contact: *`` value."""
        return self.uri == "*"

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        """A copy with ``name`` set (``value`` None for a flag), in place if present."""
        return dataclasses.replace(self, params=replace_param(self.params, name, value))

    def __str__(self) -> str:
        """Always the name-addr form with ``<>``: safe whatever the URI contains."""
        if self.is_wildcard:
            return "*"
        display = "" if self.display is None else quote_string(self.display) + " "
        return f"{display}<{self.uri}>{format_params(self.params)}"


def name_addr_text(uri: str, params: Params = ()) -> str:
    """``str(NameAddr(None, uri, params))``, checked as ``NameAddr`` checks it, without one."""
    if uri == "*":
        return str(NameAddr(None, uri, params))  # the wildcard has rules of its own
    _check_uri(uri)
    if not params:
        return f"<{uri}>"
    check_params(params)
    return f"<{uri}>{format_params(params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse name-addr (``"Bob" <sip:b@x>;tag=1``, ``Bob <sip:b@x>``) or addr-spec.

    In the addr-spec form (``sip:b@x;tag=1``) everything after the URI is a header
    parameter (RFC 3261 §20.10), so such a URI cannot carry ``;``, ``?`` or ``,``
    itself. An unquoted display name is a run of tokens, kept with single spaces.
    """
    text = value.strip(WS)
    if not text:
        raise SipParseError("the address is empty")
    if text == "*":
        return NameAddr(None, "*")
    if text[0] == "<":  # no display name (the usual case): read as below, without a cursor
        return _parse_name_addr_from(text, 0, None)
    cur = Cursor(text)
    display: str | None
    if cur.peek() == '"':
        display = unquote_string(cur.quoted())
        cur.skip_ws()
        if cur.peek() != "<":
            raise SipParseError("a quoted display name must be followed by <URI>")
    else:
        words: list[str] = []
        while word := cur.take(TOKEN_RUN):
            words.append(word)
            cur.skip_ws()
        if cur.peek() != "<":
            if "<" in text:
                raise SipParseError(
                    "the display name before '<' has characters that need double quotes"
                )
            return _parse_addr_spec(text)
        display = " ".join(words) if words else None
    return _parse_name_addr_from(text, cur.pos, display)


def _parse_name_addr_from(text: str, at: int, display: str | None) -> NameAddr:
    """The ``<uri>;params`` part of a name-addr, from the ``<`` at ``at`` on."""
    close = text.find(">", at)
    if close < 0:
        raise SipParseError("'<' has no matching '>'")
    uri = text[at + 1 : close]
    _check_uri(uri)
    return NameAddr._parsed(display, uri, parse_params(text[close + 1 :]))


def _parse_addr_spec(text: str) -> NameAddr:
    end = next((i for i, c in enumerate(text) if c == ";" or c in WS), len(text))
    uri = text[:end]
    if "?" in uri or "," in uri:
        raise SipParseError(f"a URI with '?' or ',' must be enclosed in <>: {show(uri)}")
    _check_uri(uri)
    return NameAddr._parsed(None, uri, parse_params(text[end:]))


def parse_cseq(value: str) -> tuple[int, str]:
    """``CSeq: 1 REGISTER`` as ``(1, "REGISTER")``; the number must be below 2**31.

    RFC 3261 §8.1.1.5 keeps initial values below 2**31 so that a UA can always increment;
    a larger number from a peer is more likely an attack or a bug than a long dialog.
    """
    match = _CSEQ.fullmatch(value.strip(WS))
    if match is None:
        raise SipParseError(f"CSeq {show(value)} is not 'number METHOD'")
    digits = match[1].lstrip("0") or "0"
    if len(digits) > 10 or int(digits) >= 2**31:
        raise SipParseError(f"CSeq number {show(match[1])} is out of range (below 2**31)")
    return int(digits), match[2]


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", qop="auth,auth-int"`` as ``("Digest", {"realm": "x", ...})``.

    For WWW-Authenticate, Proxy-Authenticate, Authorization and Proxy-Authorization.
    Names are lower-cased, values unquoted. A repeated name is an error: which ``realm``
    or ``nonce`` counts must never be a guess. Empty list elements (``a=1,,b=2``) are
    skipped. Only one challenge per header line is understood; a second one reads as a
    name without ``=`` and is reported.
    """
    cur = Cursor(value.strip(WS))
    scheme = cur.take(TOKEN_RUN)
    if not scheme:
        raise SipParseError(f"{show(value)} does not start with an auth scheme token")
    params: dict[str, str] = {}
    if cur.peek() and not cur.skip_ws():
        raise SipParseError(f"expected whitespace after auth scheme {show(scheme)}")
    while True:
        cur.skip_ws()
        if cur.peek() == ",":
            cur.pos += 1
            continue
        if not cur.peek():
            return scheme, params
        name = lower(cur.take(TOKEN_RUN))
        cur.expect("=", f"after {show(name)} (only one challenge per header line)")
        if cur.peek() == '"':
            item = unquote_string(cur.quoted())
        else:
            item = cur.take(_AUTH_VALUE_RUN)
            if not item:
                raise SipParseError(f"auth parameter {show(name)} has '=' but no value")
        if name in params:
            raise SipParseError(f"auth parameter {show(name)} appears more than once")
        params[name] = item
        cur.skip_ws()
        if cur.peek() not in ("", ","):
            raise SipParseError(f"expected ',' after auth parameter {show(name)}")
