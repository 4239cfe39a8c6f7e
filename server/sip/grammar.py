r"""RFC 3261 §25 character classes and the small predicates built from them.

Each ``is_*`` predicate answers one grammar question exactly, on ``str`` values, and never
raises: callers (settings validation, the URI parser, message builders) decide what a
"no" means for them. Character sets are spelled out as ASCII on purpose; ``str``
methods such as ``isalnum`` or ``\d`` in a regular expression also accept non-ASCII
letters and digits, which the SIP grammar does not.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final

from .errors import SipParseError

ALPHA: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DIGIT: Final = "0123456789"
ALPHANUM: Final = ALPHA + DIGIT
HEXDIG: Final = DIGIT + "ABCDEFabcdef"
MARK: Final = "-_.!~*'()"
UNRESERVED: Final = ALPHANUM + MARK
TOKEN_CHARS: Final = ALPHANUM + "-.!%*_+`'~"

_TOKEN: Final = frozenset(TOKEN_CHARS)
_ALPHANUM: Final = frozenset(ALPHANUM)
_LABEL: Final = frozenset(ALPHANUM + "-")
_HEX: Final = frozenset(HEXDIG)
_IPV4_TEXT: Final = frozenset(DIGIT + ".")
_IPV6_TEXT: Final = frozenset(HEXDIG + ":.")
# Characters a quoted-string cannot carry even escaped: they would end the header line
# (CR, LF) or a C string (NUL) on the far side.
_NEVER_QUOTED: Final = frozenset("\r\n\x00")


def is_token(s: str) -> bool:
    """``token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")``."""
    return bool(s) and all(c in _TOKEN for c in s)


def is_header_name(s: str) -> bool:
    """Check a header field name: a ``token`` (RFC 3261 §7.3.1 ``extension-header``)."""
    return is_token(s)


def _is_surrogate(c: str) -> bool:
    return "\ud800" <= c <= "\udfff"


def _is_qdtext(c: str) -> bool:
    """``qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII`` (LWS without folding)."""
    o = ord(c)
    if o < 0x80:
        return c in " \t" or o == 0x21 or 0x23 <= o <= 0x5B or 0x5D <= o <= 0x7E
    return not _is_surrogate(c)


def is_quoted_string(s: str) -> bool:
    r"""Check for one complete ``"..."`` with ``\`` quoted-pairs, nothing after it.

    Stricter than RFC 3261 in one place, on purpose: a quoted-pair may not carry NUL
    (the grammar allows ``\%x00``), because such a value cannot survive D-Bus, SQLite or
    a C peer intact.
    """
    if len(s) < 2 or s[0] != '"' or s[-1] != '"':
        return False
    i, end = 1, len(s) - 1
    while i < end:
        c = s[i]
        if c == "\\":
            if i + 1 >= end:  # the backslash escapes the closing quote
                return False
            escaped = s[i + 1]
            if escaped in _NEVER_QUOTED or ord(escaped) > 0x7F:
                return False
            i += 2
        elif _is_qdtext(c):
            i += 1
        else:
            return False
    return True


def quote_string(s: str) -> str:
    r"""Return ``s`` as a quoted-string; ``unquote_string`` gives ``s`` back.

    Only ``"`` and ``\`` need a backslash by the grammar; other ASCII control
    characters (except TAB) get one too because qdtext cannot carry them bare. CR, LF and
    NUL cannot be represented at all and raise ``SipParseError``.
    """
    out = ['"']
    for c in s:
        if c in _NEVER_QUOTED:
            raise SipParseError(f"text contains {c!r}, which a quoted string cannot carry")
        if _is_surrogate(c):
            raise SipParseError("text contains a lone surrogate, which is not valid UTF-8")
        if c in '"\\' or (ord(c) < 0x20 and c != "\t") or c == "\x7f":
            out.append("\\")
        out.append(c)
    out.append('"')
    return "".join(out)


def unquote_string(s: str) -> str:
    """Remove the quotes and resolve quoted-pairs; ``SipParseError`` if not quoted."""
    if not is_quoted_string(s):
        shown = s if len(s) <= 40 else s[:37] + "..."
        raise SipParseError(f"{shown!r} is not a valid quoted string")
    out: list[str] = []
    i, end = 1, len(s) - 1
    while i < end:
        if s[i] == "\\":
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out)


def is_header_value(s: str) -> bool:
    """Text that can be written after ``Name:`` on one header line, as it is.

    No CR, LF, NUL or other control characters (TAB is fine inside), no lone surrogates
    (not UTF-8), and no leading or trailing whitespace because a parser would strip it
    and the value would not round-trip. The empty string is valid (an empty Subject).
    """
    if s != s.strip(" \t"):
        return False
    for c in s:
        o = ord(c)
        if (o < 0x20 and c != "\t") or 0x7F <= o <= 0x9F or _is_surrogate(c):
            return False
    return True


def _is_label(label: str) -> bool:
    edges_ok = bool(label) and label[0] in _ALPHANUM and label[-1] in _ALPHANUM
    return edges_ok and all(c in _LABEL for c in label)


def is_hostname(s: str) -> bool:
    """``hostname = *( domainlabel "." ) toplabel [ "." ]``; the top label starts with ALPHA.

    That last rule is what keeps ``192.0.2.300`` from passing as a host name.
    """
    labels = (s[:-1] if s.endswith(".") else s).split(".")
    return all(_is_label(label) for label in labels) and labels[-1][0] in ALPHA


def _is_ip(text: str, chars: frozenset[str], kind: Callable[[str], object]) -> bool:
    """Let ``ipaddress`` judge ``text`` once it holds only the grammar's characters.

    The pre-check matters: ``ipaddress`` also takes an IPv6 ``%zone`` suffix, which has
    no place in a SIP URI (``%`` starts an escape there).
    """
    if not text or not all(c in chars for c in text):
        return False
    try:
        kind(text)
    except ValueError:
        return False
    return True


def is_ipv4(s: str) -> bool:
    """Dotted-quad ``dec-octet`` form (RFC 5954 §4.1): 0-255, no leading zeros.

    Leading zeros are refused because ``010`` is 8 to some resolvers and 10 to others.
    """
    return _is_ip(s, _IPV4_TEXT, ipaddress.IPv4Address)


def is_ipv6_reference(s: str) -> bool:
    """``IPv6reference = "[" IPv6address "]"`` (RFC 5954 §4.1 ABNF, via ``ipaddress``)."""
    return s[:1] == "[" and s[-1:] == "]" and _is_ip(s[1:-1], _IPV6_TEXT, ipaddress.IPv6Address)


def is_host(s: str) -> bool:
    """``host = hostname / IPv4address / IPv6reference``."""
    return is_hostname(s) or is_ipv4(s) or is_ipv6_reference(s)


def percent_decode(s: str) -> str:
    """Resolve ``%HH`` escapes (one level only) and decode the bytes as UTF-8.

    Raises ``SipParseError`` for a ``%`` not followed by two hex digits, or for escapes
    that do not form UTF-8: every value ends up on D-Bus and in SQLite as text, so a
    byte string that is not text is refused here rather than mangled later.
    """
    if "%" not in s:
        return s
    out = bytearray()
    i = 0
    try:
        while i < len(s):
            c = s[i]
            if c == "%":
                pair = s[i + 1 : i + 3]
                if len(pair) != 2 or not all(h in _HEX for h in pair):
                    raise SipParseError(
                        f"invalid escape {s[i : i + 3]!r} ('%' must be followed by two hex "
                        "digits; write a literal '%' as %25)"
                    )
                out.append(int(pair, 16))
                i += 3
            else:
                out += c.encode("utf-8")
                i += 1
        return out.decode("utf-8")
    except UnicodeError:
        raise SipParseError("the %-escapes do not spell valid UTF-8 text") from None


def percent_encode(s: str, allowed: str) -> str:
    """Escape every character of ``s`` not in ``allowed`` as UTF-8 ``%HH`` (upper case).

    ``allowed`` should be ASCII; ``%`` is always escaped, whatever ``allowed`` says, so
    the result decodes back to ``s``.
    """
    out: list[str] = []
    for c in s:
        if c in allowed and c != "%":
            out.append(c)
        elif _is_surrogate(c):
            raise SipParseError("text contains a lone surrogate, which is not valid UTF-8")
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8"))
    return "".join(out)
