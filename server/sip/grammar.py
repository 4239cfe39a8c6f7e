r"""RFC 3261 §25 character classes and the small predicates built from them.

Each ``is_*`` predicate answers one grammar question exactly, on ``str`` values, and never
raises: callers (settings validation, the URI parser, message builders) decide what a
"no" means for them. Character sets are spelled out as ASCII on purpose; ``str``
methods such as ``isalnum`` or ``\d`` in a regular expression also accept non-ASCII
letters and digits, which the SIP grammar does not.

The predicates are precompiled regular expressions built from those ASCII sets, not
loops over characters: they run on every header of every message, and a loop costs a
Python step per character. Each pattern accepts exactly the set its rule names.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from .errors import SipParseError

ALPHA: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DIGIT: Final = "0123456789"
ALPHANUM: Final = ALPHA + DIGIT
HEXDIG: Final = DIGIT + "ABCDEFabcdef"
MARK: Final = "-_.!~*'()"
UNRESERVED: Final = ALPHANUM + MARK
TOKEN_CHARS: Final = ALPHANUM + "-.!%*_+`'~"

_HEX: Final = frozenset(HEXDIG)
# Characters a quoted-string cannot carry even escaped: they would end the header line
# (CR, LF) or a C string (NUL) on the far side.
_NEVER_QUOTED: Final = frozenset("\r\n\x00")


def char_class(chars: str) -> str:
    """A regular-expression character class matching exactly the characters ``chars``.

    The predicates below are compiled regular expressions rather than loops over
    characters because they run on every header of every message; the classes are
    built from the same ASCII strings the grammar is written in, so they accept
    exactly those characters (no Unicode letters or digits, no case folding).
    """
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]"


#: Pattern texts, for building the regular expressions of other modules: one token
#: character, and one quoted-string as ``is_quoted_string`` accepts it.
TOKEN_CLASS: Final = char_class(TOKEN_CHARS)
QUOTED_STRING_PATTERN: Final = (
    r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\ud7ff\ue000-\U0010ffff]++'
    r"|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*+\""
)
_TOKEN_RE: Final = re.compile(TOKEN_CLASS + "+")
#: What ``is_header_value`` accepts, for callers that check many values: TAB, but no
#: other C0 or C1 control, DEL, or lone surrogate (not UTF-8); no space or TAB at
#: either end (a parser strips them).
_HEADER_VALUE: Final = r"(?![ \t])[^\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]*+(?<![ \t])"
HEADER_VALUE_RE: Final = re.compile(_HEADER_VALUE)
#: Values joined by LF, each one what ``HEADER_VALUE_RE`` accepts: one match checks many
#: (when the text holds no more LFs than the joins; a value cannot hold one).
HEADER_VALUES_RE: Final = re.compile(rf"{_HEADER_VALUE}(?:\n{_HEADER_VALUE})*+")
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII (LWS without folding), and a
# quoted-pair of any ASCII character but NUL, CR and LF (see is_quoted_string).
_QUOTED_RE: Final = re.compile(QUOTED_STRING_PATTERN)
# Text that quote_string can wrap in quotes as it is: no '"', no '\\', no control
# character but TAB, no DEL, no lone surrogate.
_PLAIN_QDTEXT_RE: Final = re.compile(r'[^"\\\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]*')
# hostname = *( domainlabel "." ) toplabel [ "." ]: a label is alphanumeric runs joined
# by hyphens, so it starts and ends alphanumeric; the top label starts with ALPHA.
# Written with possessive runs so a long hostile value costs linear time.
_LABEL: Final = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_TOP_LABEL: Final = r"[A-Za-z][A-Za-z0-9]*+(?:-++[A-Za-z0-9]++)*+"
_HOSTNAME: Final = rf"(?:{_LABEL}\.)*{_TOP_LABEL}\.?"
_HOSTNAME_RE: Final = re.compile(_HOSTNAME)
# dec-octet without leading zeros (RFC 5954 §4.1), four of them.
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_IPV4_RE: Final = re.compile(_IPV4)
#: A host name or an IPv4 address (not an IPv6 reference); pattern text, for other modules.
HOSTNAME_OR_IPV4_PATTERN: Final = rf"{_IPV4}|{_HOSTNAME}"  # IPv4 first: it fails faster
_HOSTNAME_OR_IPV4_RE: Final = re.compile(HOSTNAME_OR_IPV4_PATTERN)
_IPV6_TEXT_RE: Final = re.compile(r"[0-9A-Fa-f:.]+")


def is_token(s: str) -> bool:
    """``token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")``."""
    return _TOKEN_RE.fullmatch(s) is not None


def is_header_name(s: str) -> bool:
    """Check a header field name: a ``token`` (RFC 3261 §7.3.1 ``extension-header``)."""
    return is_token(s)


def is_quoted_string(s: str) -> bool:
    r"""Check for one complete ``"..."`` with ``\`` quoted-pairs, nothing after it.

    Stricter than RFC 3261 in one place, on purpose: a quoted-pair may not carry NUL
    (the grammar allows ``\%x00``), because such a value cannot survive D-Bus, SQLite or
    a C peer intact.
    """
    return _QUOTED_RE.fullmatch(s) is not None


def quote_string(s: str) -> str:
    r"""Return ``s`` as a quoted-string; ``unquote_string`` gives ``s`` back.

    Only ``"`` and ``\`` need a backslash by the grammar; other ASCII control
    characters (except TAB) get one too because qdtext cannot carry them bare. CR, LF and
    NUL cannot be represented at all and raise ``SipParseError``.
    """
    if _PLAIN_QDTEXT_RE.fullmatch(s):
        return f'"{s}"'
    out = ['"']
    for c in s:
        if c in _NEVER_QUOTED:
            raise SipParseError(f"text contains {c!r}, which a quoted string cannot carry")
        if 0xD800 <= ord(c) <= 0xDFFF:
            raise SipParseError("text contains a lone surrogate, which is not valid UTF-8")
        if c in '"\\' or (ord(c) < 0x20 and c != "\t") or c == "\x7f":
            out.append("\\")
        out.append(c)
    out.append('"')
    return "".join(out)


def quote_strings(texts: list[str]) -> list[str]:
    """``quote_string`` of each text, checking the usual case (all plain) only once.

    Text needs no escaping when it is plain qdtext, and a concatenation is plain exactly
    when every part is; otherwise each text is quoted in turn, raising for the first
    that cannot be.
    """
    if _PLAIN_QDTEXT_RE.fullmatch("".join(texts)):
        return [f'"{text}"' for text in texts]
    return [quote_string(text) for text in texts]


def unquote_string(s: str) -> str:
    """Remove the quotes and resolve quoted-pairs; ``SipParseError`` if not quoted."""
    if _QUOTED_RE.fullmatch(s) is None:
        shown = s if len(s) <= 40 else s[:37] + "..."
        raise SipParseError(f"{shown!r} is not a valid quoted string")
    if "\\" not in s:
        return s[1:-1]
    out: list[str] = []
    i, end = 1, len(s) - 1
    while i < end:
        if s[i] == "\\":
            i += 1
        out.append(s[i])
        i += 1
    return "".join(out)


def is_plain_header_value(s: str) -> bool:
    """Printable ASCII without a space at either end: a valid header value.

    Checked without the regular expression (``str.isprintable`` is one C loop over
    the text). A subset of what ``is_header_value`` accepts; anything else (a TAB,
    UTF-8) is for it to judge.
    """
    return s.isascii() and s.isprintable() and (not s or (s[0] != " " and s[-1] != " "))


def is_header_value(s: str) -> bool:
    """Text that can be written after ``Name:`` on one header line, as it is.

    No CR, LF, NUL or other control characters (TAB is fine inside), no lone surrogates
    (not UTF-8), and no leading or trailing whitespace because a parser would strip it
    and the value would not round-trip. The empty string is valid (an empty Subject).
    """
    return is_plain_header_value(s) or HEADER_VALUE_RE.fullmatch(s) is not None


def is_hostname(s: str) -> bool:
    """``hostname = *( domainlabel "." ) toplabel [ "." ]``; the top label starts with ALPHA.

    That last rule is what keeps ``192.0.2.300`` from passing as a host name.
    """
    return _HOSTNAME_RE.fullmatch(s) is not None


def is_ipv4(s: str) -> bool:
    """Dotted-quad ``dec-octet`` form (RFC 5954 §4.1): 0-255, no leading zeros.

    Leading zeros are refused because ``010`` is 8 to some resolvers and 10 to others.
    """
    return _IPV4_RE.fullmatch(s) is not None


def is_ipv6_reference(s: str) -> bool:
    """``IPv6reference = "[" IPv6address "]"`` (RFC 5954 §4.1 ABNF, via ``ipaddress``).

    The character pre-check matters: ``ipaddress`` also takes an IPv6 ``%zone`` suffix,
    which has no place in a SIP URI (``%`` starts an escape there).
    """
    if s[:1] != "[" or s[-1:] != "]" or not _IPV6_TEXT_RE.fullmatch(s, 1, len(s) - 1):
        return False
    try:
        ipaddress.IPv6Address(s[1:-1])
    except ValueError:
        return False
    return True


def is_host(s: str) -> bool:
    """``host = hostname / IPv4address / IPv6reference``, letters in either case."""
    if s[:1] == "[":
        return is_ipv6_reference(s)
    return _HOSTNAME_OR_IPV4_RE.fullmatch(s) is not None


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
        elif 0xD800 <= ord(c) <= 0xDFFF:
            raise SipParseError("text contains a lone surrogate, which is not valid UTF-8")
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8"))
    return "".join(out)
