"""SIP messages (RFC 3261 §7): an ordered header multi-map, Request, Response, bytes.

Header values are stored as text, exactly as received (unfolded) or as set; structure
is given on demand by ``headers.py`` through the properties here. Names are stored in
one canonical spelling (compact forms expanded, known names in their RFC case), so what
is serialised is predictable whatever a peer sent, and lookups never depend on case.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, overload

from .errors import SipParseError
from .grammar import ALPHA, DIGIT, is_header_name, is_header_value, is_token
from .headers import NameAddr, Via, parse_cseq, parse_name_addr, parse_via, split_list

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

_SCHEME: Final = frozenset(ALPHA + DIGIT + "+-.")
_ASCII_LOWER: Final = str.maketrans(ALPHA[:26], ALPHA[26:])
_CANONICAL: Final = {n.translate(_ASCII_LOWER): n for n in _KNOWN_NAMES} | _COMPACT


def _canonical(name: str) -> str:
    return _CANONICAL.get(name.translate(_ASCII_LOWER), name)


def _key(name: str) -> str:
    """The lookup key: canonical name, ASCII lower case."""
    return _canonical(name).translate(_ASCII_LOWER)


def _show(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:37] + "...")


class Headers:
    """An ordered multi-map of header lines with case-insensitive, compact-aware lookup.

    Order matters in SIP (Via and Route are read top to bottom), so this is a list of
    lines, not a dict. ``add``/``set`` validate; values from the parser are trusted as
    received (they may hold characters ``add`` refuses, such as an escaped NUL inside a
    quoted string, RFC 4475 §3.1.1.2).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []  # (key, canonical name, value)
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_wire(cls, items: Iterable[tuple[str, str]]) -> Headers:
        """Build without validation: for the parser, which has checked the syntax."""
        headers = cls()
        headers._items = [(_key(n), _canonical(n), v) for n, v in items]
        return headers

    @staticmethod
    def _checked(name: str, value: str) -> tuple[str, str, str]:
        if not is_header_name(name):
            raise SipParseError(f"header name {_show(name)} is not a token")
        if not is_header_value(value):
            raise SipParseError(
                f"value of {name} header {_show(value)} has control characters or "
                "leading/trailing whitespace"
            )
        return _key(name), _canonical(name), value

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first ``name`` line (any case, compact or full), or default."""
        key = _key(name)
        return next((v for k, _, v in self._items if k == key), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; list-valued headers split into elements."""
        key = _key(name)
        values = [v for k, _, v in self._items if k == key]
        if key in _LIST_HEADERS:
            return [element for v in values for element in split_list(v)]
        return values

    def add(self, name: str, value: str) -> None:
        """Append one header line (after any existing ones)."""
        self._items.append(self._checked(name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one, where the first was (else at the end)."""
        item = self._checked(name, value)
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
    scheme = uri[:colon] if colon > 0 else ""
    if not scheme or scheme[0] not in ALPHA or not all(c in _SCHEME for c in scheme):
        raise SipParseError(f"Request-URI {_show(uri)} does not start with a scheme")
    if any(not 0x21 <= ord(c) <= 0x7E or c in '<>"' for c in uri):
        raise SipParseError(f"Request-URI {_show(uri)} contains a space, control or non-ASCII")


def _check_reason(reason: str) -> None:
    """Reason-Phrase: UTF-8 text, spaces and tabs, but no control characters."""
    for c in reason:
        o = ord(c)
        if (o < 0x20 and c != "\t") or o == 0x7F or "\ud800" <= c <= "\udfff":
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

    def _single(self, name: str) -> str:
        values = self.headers.get_all(name)
        if len(values) != 1:
            raise SipParseError(f"the message has {len(values)} {name} headers, not one")
        return values[0]

    @property
    def call_id(self) -> str:
        """The Call-ID text."""
        return self._single("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """``(number, method)`` of the CSeq header."""
        return parse_cseq(self._single("CSeq"))

    @property
    def via(self) -> list[Via]:
        """Every Via element, top (most recent hop) first; empty when there is none."""
        return [parse_via(v) for v in self.headers.get_all("Via")]

    @property
    def from_(self) -> NameAddr:
        """The From header (``from`` is a Python keyword)."""
        return parse_name_addr(self._single("From"))

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return parse_name_addr(self._single("To"))


@dataclass(eq=True)
class Request(_HeaderViews):
    """A request: method, Request-URI (text, any scheme), headers and body bytes."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""

    def to_bytes(self) -> bytes:
        """Wire form; ``SipParseError`` if the method or URI cannot be written as is."""
        if not is_token(self.method):
            raise SipParseError(f"method {_show(self.method)} is not a token")
        _check_request_uri(self.uri)
        return _serialise(f"{self.method} {self.uri} SIP/2.0", self.headers, self.body)


@dataclass(eq=True)
class Response(_HeaderViews):
    """A response: status 100-699, reason phrase (may be empty), headers, body bytes."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""

    def to_bytes(self) -> bytes:
        """Wire form; ``SipParseError`` for a status or reason that cannot be sent."""
        status = self.status
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 699:
            raise SipParseError(f"status {status!r} is not 100-699")
        _check_reason(self.reason)
        return _serialise(f"SIP/2.0 {int(status)} {self.reason}", self.headers, self.body)


#: Either kind of message, as ``parse_message`` returns it.
Message = Request | Response
