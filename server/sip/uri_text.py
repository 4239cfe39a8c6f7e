"""The parts SIP URIs are read from: character sets, checks and readers of components.

``uri.parse_uri`` and ``SipUri`` are built from these; they live apart so the URI module
holds the URI type and its operations, and this one the grammar of its text (RFC 3261
§19.1, §25.1). Every error is ``SipParseError`` naming the component at fault.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import SipParseError
from .grammar import (
    ALPHA,
    DIGIT,
    HOSTNAME_OR_IPV4_PATTERN,
    UNRESERVED,
    char_class,
    is_host,
    percent_decode,
)

# What each component may carry unescaped (RFC 3261 §25.1). Everything else is %HH.
USER_SAFE: Final = UNRESERVED + "&=+$,;?/"
PASSWORD_SAFE: Final = UNRESERVED + "&=+$,"
PARAM_SAFE: Final = UNRESERVED + "[]/:&+$"
HEADER_SAFE: Final = UNRESERVED + "[]/?:+$"
# A component as written: its safe characters and '%' (escapes are checked on decoding).
_WRITTEN: Final = {
    safe: re.compile(char_class(safe + "%") + "*")
    for safe in (USER_SAFE, PASSWORD_SAFE, PARAM_SAFE, HEADER_SAFE)
}
SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# The usual URI, which parse_uri reads in one match: sip or sips in lower case, a user
# part and parameters without %-escapes, a host name or IPv4 address, maybe a port; no
# password, no headers. Whatever else parse_uri accepts is read step by step.
_PLAIN_PARAM: Final = char_class(PARAM_SAFE) + "++"
_USUAL_URI_RE: Final = re.compile(
    rf"(sips?):(?:({char_class(USER_SAFE)}++)@)?({HOSTNAME_OR_IPV4_PATTERN})"
    rf"(?::([0-9]{{1,5}}))?((?:;{_PLAIN_PARAM}(?:={_PLAIN_PARAM})?)*+)"
)
_PRINTABLE_RE: Final = re.compile(r"[\x21-\x7e]+")
SURROGATE_RE: Final = re.compile(r"[\ud800-\udfff]")

_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])
Params = tuple[tuple[str, str | None], ...]


def lower(s: str) -> str:
    """ASCII-only lower case: SIP's case-insensitivity is about ASCII letters.

    ``str.lower`` would also fold non-ASCII text (and ``casefold`` turns ``ß`` into
    ``ss``), making distinct escaped values compare equal; on ASCII text it is the same
    thing, only faster.
    """
    return s.lower() if s.isascii() else s.translate(_ASCII_LOWER)


def show(s: str) -> str:
    """Quote a fragment for an error message, cut short so messages stay readable."""
    return repr(s if len(s) <= 40 else s[:37] + "...")


def host_problem(host: str) -> str:
    """Say why ``host`` is not a host, in terms of the form the author probably meant."""
    if not host:
        return "the host is empty"
    if host.startswith("["):
        return f"{show(host)} is not a valid IPv6 reference"
    if host.count(":") > 1:
        return "an IPv6 address must be enclosed in brackets, e.g. sip:[2001:db8::1]:5060"
    if all(c in DIGIT + "." for c in host):
        return f"{show(host)} is not a valid IPv4 address (four numbers 0-255, no leading 0)"
    return (
        f"{show(host)} is not a valid host name (letters, digits, '-' and '.' only; "
        "the last label must start with a letter)"
    )


def check_unique(name: str, seen: set[str]) -> None:
    """Refuse a parameter ``name`` already ``seen`` (ignoring case); else note it."""
    key = lower(name)
    if key in seen:
        raise SipParseError(f"URI parameter {show(name)} appears more than once")
    seen.add(key)


def decode(raw: str, safe: str, what: str) -> str:
    """Check ``raw`` against the component's character set, then resolve escapes."""
    if not _WRITTEN[safe].fullmatch(raw):
        for c in raw:  # say which character is at fault
            if c != "%" and c not in safe:
                raise SipParseError(
                    f"the {what} contains {c!r}, which must be written %{ord(c):02X}"
                )
    try:
        return percent_decode(raw)
    except SipParseError as exc:
        raise SipParseError(f"{what}: {exc}") from None


def check_characters(text: str) -> None:
    """Refuse anything that is not printable ASCII, saying where and what it is."""
    if _PRINTABLE_RE.fullmatch(text):
        return
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


def parse_port(raw: str) -> int:
    if not raw:
        raise SipParseError("the port after ':' is empty")
    if not (raw.isascii() and raw.isdigit()):
        raise SipParseError(f"port {show(raw)} is not a number")
    digits = raw.lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > 65535:
        shown = digits if len(digits) <= 12 else digits[:9] + "..."
        raise SipParseError(f"port {shown} is out of range (0-65535)")
    return int(digits)


def parse_hostport(text: str) -> tuple[str, int | None]:
    port_raw: str | None = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise SipParseError("the IPv6 reference has no closing ']'")
        host, after = text[: close + 1], text[close + 1 :]
        if after:
            if after[0] != ":":
                raise SipParseError(f"unexpected {show(after)} after the IPv6 reference")
            port_raw = after[1:]
    else:
        if text.count(":") > 1:
            raise SipParseError(host_problem(text))
        host, colon, after = text.partition(":")
        if colon:
            port_raw = after
    if not is_host(lower(host)):
        raise SipParseError(host_problem(host))
    return host, None if port_raw is None else parse_port(port_raw)


def parse_param(raw: str) -> tuple[str, str | None]:
    if not raw:
        raise SipParseError("empty URI parameter (a stray ';')")
    name_raw, eq, value_raw = raw.partition("=")
    if not name_raw:
        raise SipParseError(f"URI parameter {show(raw)} has no name")
    name = decode(name_raw, PARAM_SAFE, f"URI parameter name {show(name_raw)}")
    if not eq:
        return name, None
    if not value_raw:
        raise SipParseError(f"URI parameter {show(name)} has '=' but no value")
    return name, decode(value_raw, PARAM_SAFE, f"value of URI parameter {show(name)}")


def parse_headers(raw: str) -> tuple[tuple[str, str], ...]:
    if not raw:
        raise SipParseError("nothing follows '?'; URI headers look like ?name=value&name=value")
    headers = []
    for item in raw.split("&"):
        if not item:
            raise SipParseError("empty URI header (a stray '&')")
        name_raw, eq, value_raw = item.partition("=")
        if not eq:
            raise SipParseError(f"URI header {show(item)} has no '=' (expected name=value)")
        if not name_raw:
            raise SipParseError(f"URI header {show(item)} has no name")
        name = decode(name_raw, HEADER_SAFE, f"URI header name {show(name_raw)}")
        headers.append((name, decode(value_raw, HEADER_SAFE, f"value of URI header {name!r}")))
    return tuple(headers)


def usual_uri(text: str) -> tuple[re.Match[str], int | None, Params] | None:
    """``text`` read in one match, with its port and parameters, if it has the usual shape.

    None when it has not, or when its port is out of range (for ``parse_uri`` to say so);
    ``SipParseError`` for a parameter given twice, as ``SipUri`` raises it.
    """
    match = _USUAL_URI_RE.fullmatch(text)
    if match is None:
        return None
    port = None if match[4] is None else int(match[4])
    if port is not None and port > 65535:
        return None
    params: Params = ()
    if match[5]:
        pairs = [raw.partition("=") for raw in match[5][1:].split(";")]
        params = tuple([(name, value if eq else None) for name, eq, value in pairs])
        seen: set[str] = set()
        for name, _ in params:
            check_unique(name, seen)
    return match, port, params
