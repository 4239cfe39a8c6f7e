r"""Header parameters (``;name=value;flag``) and the cursor the header parsers read with.

Parameter values are kept exactly as written, quoted strings *with* their quotes.
Quoting is significant in SIP: RFC 3840 feature tags tell ``;+sip.instance="<urn:..>"``
(a string) from a token by its quotes, and a value relayed unchanged must stay
byte-identical. Use ``grammar.unquote_string`` when the text inside is wanted. Parameter
names keep their case; every lookup ignores ASCII case.

Parameters are read on every Via, Contact and To of every response, so a well-formed
list is checked and split by two regular expressions; anything they do not take is read
again by the step-by-step ``Cursor`` parser, which is the definition of the syntax and
says what is wrong. The fast reading only ever accepts what the cursor accepts, with the
same result.
"""

from __future__ import annotations

import re
from typing import Final

from .errors import SipParseError
from .grammar import (
    ALPHA,
    QUOTED_STRING_PATTERN,
    TOKEN_CHARS,
    TOKEN_CLASS,
    char_class,
    is_quoted_string,
)

#: Parameters in order: ``(name, value)``; the value is None for a flag such as ``;lr``.
Params = tuple[tuple[str, str | None], ...]

WS: Final = " \t"
# gen-value = token / host / quoted-string; ':' and '[]' cover IPv6 hosts, bracketed or
# (RFC 5118 §4.5) not.
_VALUE_CLASS: Final = char_class(TOKEN_CHARS + ":[]")
_TOKEN_RE: Final = re.compile(TOKEN_CLASS + "+")
_VALUE_RE: Final = re.compile(_VALUE_CLASS + "+")
# Runs for Cursor.take: as many of the characters as there are, maybe none.
TOKEN_RUN: Final = re.compile(TOKEN_CLASS + "*")
_VALUE_RUN: Final = re.compile(_VALUE_CLASS + "*")
_WS_RUN: Final = re.compile(r"[ \t]*")
# From an opening quote to the first quote not escaped by a backslash.
_QUOTED_SPAN: Final = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
#: One well-formed parameter with the whitespace around it, read as the cursor reads it:
#: every run possessive (the cursor's reads take all they can), the value a valid
#: quoted-string or a non-empty run of value characters. Three groups: name, quoted
#: value, token value. Pattern text, also for other modules.
PARAM_PATTERN: Final = (
    rf"[ \t]*+;[ \t]*+({TOKEN_CLASS}++)[ \t]*+"
    rf"(?:=[ \t]*+(?:({QUOTED_STRING_PATTERN})|({_VALUE_CLASS}++))[ \t]*+)?"
)
_PARAM_RE: Final = re.compile(PARAM_PATTERN)
# A whole list of such parameters. Its repetition is possessive, so it splits the text
# into parameters exactly as matching _PARAM_RE again and again from the start does.
_PARAMS_RE: Final = re.compile(rf"[ \t]*+(?:{PARAM_PATTERN})*+")
# The common shape of such a list, ``;name=value;flag`` without whitespace, its quoted
# strings (``+sip.instance="<urn:uuid:...>"``) plain printable ASCII without escapes:
# no value then holds ``;`` or ``=``, so splitting on them reads it exactly.
_PLAIN_QUOTED: Final = r'"[\x21\x23-\x3a\x3c\x3e-\x5b\x5d-\x7e]*+"'
_PLAIN_PARAMS_RE: Final = re.compile(
    rf"(?:;{TOKEN_CLASS}++(?:=(?:{_VALUE_CLASS}++|{_PLAIN_QUOTED}))?)++"
)
_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])


def lower(s: str) -> str:
    """ASCII-only lower case (SIP's case-insensitivity never covers non-ASCII letters).

    ``str.lower`` does the same to ASCII text, faster; other text is translated.
    """
    return s.lower() if s.isascii() else s.translate(_ASCII_LOWER)


def show(s: str) -> str:
    """Quote a fragment for an error message, cut short so messages stay readable."""
    return repr(s if len(s) <= 40 else s[:37] + "...")


def run_end(run: re.Pattern[str], text: str, pos: int) -> int:
    """Where a match of ``run`` at ``pos`` ends; for patterns that may match nothing."""
    found = run.match(text, pos)
    return pos if found is None else found.end()


class Cursor:
    """A read position in one header value; each method advances or raises."""

    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_ws(self) -> bool:
        start = self.pos
        self.pos = run_end(_WS_RUN, self.text, start)
        return self.pos > start

    def take(self, run: re.Pattern[str]) -> str:
        """Consume what ``run`` (a ``[...]*`` pattern) matches here; may be empty."""
        start = self.pos
        self.pos = run_end(run, self.text, start)
        return self.text[start : self.pos]

    def expect(self, ch: str, context: str) -> None:
        """Consume ``ch``, with optional whitespace around it (SIP's SWS)."""
        self.skip_ws()
        if self.peek() != ch:
            found = show(self.text[self.pos :]) if self.peek() else "the end of the value"
            raise SipParseError(f"expected {ch!r} {context}, found {found}")
        self.pos += 1
        self.skip_ws()

    def quoted(self) -> str:
        """Consume one quoted-string and return it as written, quotes included."""
        span = _QUOTED_SPAN.match(self.text, self.pos)
        if span is None:
            raise SipParseError(f"unterminated quoted string {show(self.text[self.pos :])}")
        raw = span.group()
        if not is_quoted_string(raw):
            raise SipParseError(f"quoted string {show(raw)} contains a character it cannot carry")
        self.pos = span.end()
        return raw


def parse_params(text: str) -> Params:
    """Parse ``;name=value;flag...`` (whitespace allowed around ``;`` and ``=``).

    Values are a token, a host or a quoted-string kept with its quotes; see the module
    docstring. A stray ``;`` or an ``=`` without a value is an error.
    """
    if _PLAIN_PARAMS_RE.fullmatch(text) is not None:  # the usual: split, no second pass
        params: list[tuple[str, str | None]] = []
        for param in text[1:].split(";"):
            name, equals, value = param.partition("=")
            params.append((name, value if equals else None))
        return tuple(params)
    if not _PARAMS_RE.fullmatch(text):
        return _parse_params_by_cursor(text)  # which says what is wrong
    # findall gives "" for a group that took no part; a quoted string or a token that
    # did is never empty, and neither took part for a flag.
    return tuple(
        [(name, quoted or token or None) for name, quoted, token in _PARAM_RE.findall(text)]
    )


def _parse_params_by_cursor(text: str) -> Params:
    """``parse_params`` step by step: the reference reading, and the error messages."""
    cur = Cursor(text)
    params: list[tuple[str, str | None]] = []
    cur.skip_ws()
    while cur.peek():
        cur.expect(";", "before a parameter")
        name = cur.take(TOKEN_RUN)
        if not name:
            raise SipParseError("empty parameter (a stray ';' or a non-token name)")
        value: str | None = None
        cur.skip_ws()
        if cur.peek() == "=":
            cur.expect("=", "")
            value = cur.quoted() if cur.peek() == '"' else cur.take(_VALUE_RUN)
            if not value:
                raise SipParseError(f"parameter {show(name)} has '=' but no value")
            cur.skip_ws()
        params.append((name, value))
    return tuple(params)


def check_params(params: Params) -> None:
    """Refuse parameters that ``format_params`` could not write back parseably."""
    for name, value in params:
        if not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"parameter name {show(name)} is not a token")
        if value is not None and not (is_quoted_string(value) or _VALUE_RE.fullmatch(value)):
            raise SipParseError(
                f"value {show(value)} of parameter {show(name)} must be a token, "
                "a host or a quoted string (with its quotes)"
            )


def format_params(params: Params) -> str:
    """``;name=value;flag`` as written on the wire, in order."""
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def find_param(params: Params, name: str) -> str | None:
    """Raw value of ``name`` (any case): ``""`` for a flag, None when absent.

    The names in ``params`` are tokens (every Params is checked or parsed), so ASCII:
    ``str.lower`` is their ASCII lower case.
    """
    key = lower(name)
    for pname, value in params:
        if pname.lower() == key:
            return "" if value is None else value
    return None


class Parametrised:
    """Parameter lookup shared by the frozen value classes with ``params`` (NameAddr, Via)."""

    __slots__ = ()
    params: Params

    def param(self, name: str) -> str | None:
        """Raw value of ``name`` (any case): ``""`` for a flag, None when absent."""
        return find_param(self.params, name)

    def has_param(self, name: str) -> bool:
        """Whether ``name`` (any case) is present, flag or not."""
        return find_param(self.params, name) is not None


def replace_param(params: Params, name: str, value: str | None) -> Params:
    """Set ``name`` where it already is (first occurrence, others dropped), else append."""
    key = lower(name)
    at = next((i for i, (n, _) in enumerate(params) if lower(n) == key), None)
    if at is None:
        return (*params, (name, value))
    rest = tuple(p for p in params[at + 1 :] if lower(p[0]) != key)
    return (*params[:at], (params[at][0], value), *rest)
