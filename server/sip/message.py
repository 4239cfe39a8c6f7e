"""SIP messages (RFC 3261 §7): an ordered header multi-map, Request, Response, bytes.

Header values are stored as text, exactly as received (unfolded) or as set; structure
is given on demand by ``headers.py`` through the properties here. Names are stored in
one canonical spelling (compact forms expanded, known names in their RFC case), so what
is serialised is predictable whatever a peer sent, and lookups never depend on case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, overload

from .errors import SipParseError
from .grammar import ALPHA, is_header_name, is_header_value, is_token
from .headers import NameAddr, parse_cseq, parse_name_addr, split_list
from .via import Via, parse_via

# RFC 3261 §7.3.3 compact forms, and those of the extensions registered with IANA.
_COMPACT: Final = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Spellings from the defining RFCs; anything else is kept as the peer or caller wrote it.
_KNOWN_TEXT: Final = (
    "Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events "
    "Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition "
    "Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info Event "
    "Expires Feature-Caps Flow-Timer From Identity Identity-Info In-Reply-To Max-Forwards "
    "MIME-Version Min-Expires Min-SE Organization P-Access-Network-Info P-Asserted-Identity "
    "P-Associated-URI P-Called-Party-ID P-Charging-Function-Addresses P-Charging-Vector "
    "P-Preferred-Identity P-Visited-Network-ID Path Priority Privacy Proxy-Authenticate "
    "Proxy-Authorization Proxy-Require RAck Reason Record-Route Refer-To Referred-By "
    "Reject-Contact Replaces Reply-To Request-Disposition Require Retry-After Route RSeq "
    "Security-Client Security-Server Security-Verify Server Service-Route Session-Expires "
    "SIP-ETag SIP-If-Match Subject Subscription-State Supported Timestamp To Unsupported "
    "User-Agent Via Warning WWW-Authenticate"
)
_KNOWN_NAMES: Final = _KNOWN_TEXT.split()

# Headers whose grammar is ``#element``; ``get_all`` splits them. Auth headers, Date,
# Subject and the like contain commas that do not separate elements.
_LIST_TEXT: Final = (
    "accept accept-contact accept-encoding accept-language alert-info allow allow-events "
    "call-info contact content-encoding content-language error-info in-reply-to "
    "p-asserted-identity p-associated-uri p-preferred-identity p-visited-network-id path "
    "proxy-require reason record-route reject-contact request-disposition require route "
    "security-client security-server security-verify service-route supported unsupported via "
    "warning"
)
_LIST_HEADERS: Final = frozenset(_LIST_TEXT.split())

_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])
_CANONICAL: Final = {n.translate(_ASCII_LOWER): n for n in _KNOWN_NAMES} | _COMPACT

#: Header name as written -> ``(lookup key, canonical name)``, for names that are tokens
#: (so a name found here is a valid header name). Every header of every message is
#: looked up, so answers are remembered, the known names' usual spellings from the
#: start; the size bound keeps a peer that invents names from growing it without end
#: (names past the bound are worked out each time).
TOKEN_NAMES: Final[dict[str, tuple[str, str]]] = {}
_TOKEN_NAMES_MAX: Final = 4096


def _names(name: str) -> tuple[str, str]:
    """``(key, canonical)``: the key is the canonical name in ASCII lower case."""
    known = TOKEN_NAMES.get(name)
    if known is not None:
        return known
    canonical = _CANONICAL.get(name.translate(_ASCII_LOWER), name)
    known = (canonical.translate(_ASCII_LOWER), canonical)
    if len(TOKEN_NAMES) < _TOKEN_NAMES_MAX and is_header_name(name):
        TOKEN_NAMES[name] = known
    return known


def _remember_known_names() -> None:
    """Fill TOKEN_NAMES with the usual spellings of the known names and compact forms."""
    for name in [*_KNOWN_NAMES, *_COMPACT]:
        for spelling in (name, name.translate(_ASCII_LOWER), name.upper()):
            _names(spelling)


_remember_known_names()


def _key(name: str) -> str:
    """The lookup key: canonical name, ASCII lower case."""
    known = TOKEN_NAMES.get(name)
    return (known or _names(name))[0]


# A Request-URI as text: any scheme (RFC 4475 §3.3.3 ``soap.beep:``), then printable
# ASCII without ``<``, ``>`` or ``"``.
_SCHEME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_URI_TEXT_RE: Final = re.compile(r"[\x21\x23-\x3b\x3d\x3f-\x7e]*")
# Reason-Phrase: UTF-8 text, spaces and tabs, but no control characters.
_REASON_RE: Final = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]*")


def _show(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:37] + "...")


def check_header(name: str, value: str) -> tuple[str, str]:
    """``(key, canonical name)`` of ``name`` if ``name: value`` can be sent as it is.

    ``SipParseError`` otherwise: a name that is not a token, or a value with control
    characters or leading/trailing whitespace (see ``grammar.is_header_value``).
    """
    names = TOKEN_NAMES.get(name)  # a name found there is a token
    if names is None:
        if not is_header_name(name):
            raise SipParseError(f"header name {_show(name)} is not a token")
        names = _names(name)
    check_header_value(name, value)
    return names


def check_header_value(name: str, value: str) -> None:
    """``SipParseError`` unless ``value`` can be written after ``name:`` as it is."""
    if not is_header_value(value):
        raise SipParseError(
            f"value of {name} header {_show(value)} has control characters or "
            "leading/trailing whitespace"
        )


class Headers:
    """An ordered multi-map of header lines with case-insensitive, compact-aware lookup.

    Order matters in SIP (Via and Route are read top to bottom), so this is a list of
    lines, not a dict. ``add``/``set`` validate; values from the parser are trusted as
    received (they may hold characters ``add`` refuses, such as an escaped NUL inside a
    quoted string, RFC 4475 §3.1.1.2).

    Lookups go through an index of the values by key, built on the first lookup and
    dropped by every change: a received message is read many times (Call-ID, CSeq, Via,
    and so on) and rarely changed.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []  # (key, canonical name, value)
        self._index: dict[str, list[str]] | None = None
        for name, value in items:
            self.add(name, value)

    def _by_key(self) -> dict[str, list[str]]:
        """The index: lookup key -> values in order (lists callers must not hand out)."""
        index = self._index
        if index is None:
            index = self._index = {}
            for key, _, value in self._items:
                values = index.get(key)
                if values is None:
                    index[key] = [value]
                else:
                    values.append(value)
        return index

    @classmethod
    def _from_wire(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Build without validation: for the parser, which has checked the syntax."""
        return cls._of_lines([(*_names(n), v) for n, v in items], None)

    @classmethod
    def _of_lines(
        cls, lines: list[tuple[str, str, str]], index: dict[str, list[str]] | None
    ) -> Headers:
        """Headers holding ``lines`` (``key, canonical name, value``) as they are.

        ``index`` is their index if the caller made it along the way, else None.
        ``Headers.__new__(Headers)`` rather than ``object.__new__`` or ``cls.__new__``:
        the compiled build (mypyc, see setup.py) refuses ``object.__new__`` for its
        native classes and cannot compile ``cls.__new__``; this form works in both.
        """
        headers = Headers.__new__(Headers)
        headers._items = lines
        headers._index = index
        return headers

    @staticmethod
    def _checked(name: str, value: str) -> tuple[str, str, str]:
        return (*check_header(name, value), value)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first ``name`` line (any case, compact or full), or default."""
        key = (TOKEN_NAMES.get(name) or _names(name))[0]
        values = (self._index or self._by_key()).get(key)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; list-valued headers split into elements."""
        key = (TOKEN_NAMES.get(name) or _names(name))[0]
        values = (self._index or self._by_key()).get(key)
        if values is None:
            return []
        if key in _LIST_HEADERS:
            if len(values) == 1 and "," not in values[0]:
                # one element, which split_list would give back as it is: a stored value
                # never has whitespace at either end (the parser strips it, add refuses it)
                return [values[0]] if values[0] else []
            return [element for v in values for element in split_list(v)]
        return values.copy()

    def add(self, name: str, value: str) -> None:
        """Append one header line (after any existing ones)."""
        self._items.append(self._checked(name, value))
        self._index = None

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one, where the first was (else at the end)."""
        item = self._checked(name, value)
        self._index = None
        index = next((i for i, (k, _, _) in enumerate(self._items) if k == item[0]), None)
        if index is None:
            self._items.append(item)
            return
        rest = [it for it in self._items[index + 1 :] if it[0] != item[0]]
        self._items[index:] = [item, *rest]

    def remove(self, name: str) -> None:
        """Remove every ``name`` line; absent is not an error."""
        key = _key(name)
        self._items = [it for it in self._items if it[0] != key]
        self._index = None

    def copy(self) -> Headers:
        """An independent copy (messages are mutable; share headers deliberately only)."""
        return Headers._from_wire((n, v) for _, n, v in self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(canonical name, value)`` per line, in order."""
        return ((n, v) for _, n, v in self._items)

    def __len__(self) -> int:
        """Number of header lines."""
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        """Whether a ``name`` line exists (any case, compact or full)."""
        return isinstance(name, str) and self.get(name) is not None

    def __eq__(self, other: object) -> bool:
        """Same lines in the same order; names compared case-insensitively."""
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k, v) for k, _, v in self._items] == [(k, v) for k, _, v in other._items]

    def __repr__(self) -> str:
        """Show the lines, like the ``list`` of pairs that would rebuild them."""
        return f"Headers({list(self)!r})"


def _check_request_uri(uri: str) -> None:
    """Request-URI as text: ``scheme:`` and printable ASCII only, no ``<>`` or quotes.

    Any scheme passes (RFC 4475 §3.3.3 ``soap.beep:``); RFC 4475 §3.1.2.7 (``<sip:..>``
    as Request-URI) does not.
    """
    colon = uri.find(":")
    if colon <= 0 or not _SCHEME_RE.fullmatch(uri, 0, colon):
        raise SipParseError(f"Request-URI {_show(uri)} does not start with a scheme")
    if not _URI_TEXT_RE.fullmatch(uri):
        raise SipParseError(f"Request-URI {_show(uri)} contains a space, control or non-ASCII")


def _check_reason(reason: str) -> None:
    """Reason-Phrase: UTF-8 text, spaces and tabs, but no control characters."""
    if _REASON_RE.fullmatch(reason):
        return
    for c in reason:  # say which character is at fault
        o = ord(c)
        if (o < 0x20 and c != "\t") or o == 0x7F or 0xD800 <= o <= 0xDFFF:
            raise SipParseError(f"reason phrase contains control character U+{o:04X}")


def _serialise(start_line: str, headers: Headers, body: bytes) -> bytes:
    """Start line, headers in order, Content-Length from the body, blank line, body.

    Content-Length is always written, and always true: a stale value copied from a
    parsed message would mis-frame the stream for the peer (RFC 3261 §18.3).
    """
    lines = [start_line]
    length = f"Content-Length: {len(body)}"
    for name, value in headers:
        if name == "Content-Length":
            if length:
                lines.append(length)
                length = ""
        else:
            lines.append(f"{name}: {value}")
    if length:
        lines.append(length)
    lines += ["", ""]
    return "\r\n".join(lines).encode("utf-8") + bytes(body)


class _HeaderViews:
    """Structured views of the headers every UA transaction needs.

    Computed on each access from the current header text (messages are mutable);
    a missing, repeated (RFC 4475 §3.3.9) or malformed header raises ``SipParseError``.
    """

    headers: Headers

    def _single(self, key: str, name: str) -> str:
        """The value of the one ``name`` header (lookup key ``key``; not a list header)."""
        headers = self.headers
        values = (headers._index or headers._by_key()).get(key, ())
        if len(values) != 1:
            raise SipParseError(f"the message has {len(values)} {name} headers, not one")
        return values[0]

    def header(self, name: str) -> str:
        """The value of the one ``name`` header, as text; ``SipParseError`` if not one."""
        return self._single((TOKEN_NAMES.get(name) or _names(name))[0], name)

    @property
    def call_id(self) -> str:
        """The Call-ID text."""
        return self._single("call-id", "Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """``(number, method)`` of the CSeq header."""
        return parse_cseq(self._single("cseq", "CSeq"))

    @property
    def via(self) -> list[Via]:
        """Every Via element, top (most recent hop) first; empty when there is none."""
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def from_(self) -> NameAddr:
        """The From header (``from`` is a Python keyword)."""
        return parse_name_addr(self._single("from", "From"))

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return parse_name_addr(self._single("to", "To"))


# ``__init__`` written out (``init=False``): mypyc (setup.py) compiles it, while the one
# ``@dataclass`` generates stays interpreted, about 10x slower to construct.
@dataclass(eq=True, init=False)
class Request(_HeaderViews):
    """A request: method, Request-URI (text, any scheme), headers and body bytes."""

    method: str
    uri: str
    headers: Headers
    body: bytes

    def __init__(self, method: str, uri: str, headers: Headers, body: bytes = b"") -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body

    def to_bytes(self) -> bytes:
        """Wire form; ``SipParseError`` if the method or URI cannot be written as is."""
        if not is_token(self.method):
            raise SipParseError(f"method {_show(self.method)} is not a token")
        _check_request_uri(self.uri)
        return _serialise(f"{self.method} {self.uri} SIP/2.0", self.headers, self.body)


@dataclass(eq=True, init=False)
class Response(_HeaderViews):
    """A response: status 100-699, reason phrase (may be empty), headers, body bytes."""

    status: int
    reason: str
    headers: Headers
    body: bytes

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def to_bytes(self) -> bytes:
        """Wire form; ``SipParseError`` for a status or reason that cannot be sent."""
        status = self.status
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 699:
            raise SipParseError(f"status {status!r} is not 100-699")
        _check_reason(self.reason)
        return _serialise(f"SIP/2.0 {int(status)} {self.reason}", self.headers, self.body)


#: Either kind of message, as ``parse_message`` returns it.
Message = Request | Response
