"""Bytes to SIP messages: whole datagrams, and framing on stream transports.

Every malformed input raises ``SipParseError`` and nothing else, whatever the bytes:
input comes from the network, and a stray ``IndexError`` or ``UnicodeDecodeError``
would otherwise end a transport's receive loop. Limits (message size, header count)
are checked before work proportional to them is done.

What is checked here is framing and the syntax every message needs: start line,
header lines, UTF-8, Content-Length. Header *values* are parsed when read (see
``message.py``), so an unusual header nobody reads never costs a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import TOKEN_CLASS, is_token
from .message import (
    _REASON_RE,
    TOKEN_NAMES,
    Headers,
    Message,
    Request,
    Response,
    _check_reason,
    _check_request_uri,
    _names,
)

_CRLF: Final = b"\r\n"
_BLANK: Final = b"\r\n\r\n"
_WS: Final = " \t"
# The start of a header line: a token name, optional whitespace, the colon and the
# whitespace after it (RFC 3261 §7.3.1 ``HCOLON``). The value is the rest, right-trimmed.
_FIELD_START: Final = re.compile(rf"({TOKEN_CLASS}++)[ \t]*+:[ \t]*+")
# The usual status line, as _parse_start_line reads it: a status code 100-699 and a
# reason phrase that _check_reason accepts, maybe empty.
_STATUS_LINE: Final = re.compile(rf"SIP/2\.0 ([1-6][0-9][0-9])(?: ({_REASON_RE.pattern}))?")


@dataclass(frozen=True, slots=True)
class Keepalive:
    """A lone CRLF between messages on a stream: an RFC 5626 §4.4.1 keep-alive pong.

    Returned by ``StreamFramer.feed`` so the transport can see the server is alive; the
    double-CRLF ping is skipped silently (RFC 3261 §7.5 lets CRLFs precede a message).
    """


def _show(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:37] + "...")


#: The status lines a registrar sends nearly always, read without a regular expression.
_USUAL_STATUS_LINES: Final[dict[str, tuple[int, str]]] = {
    f"SIP/2.0 {status} {reason}": (status, reason)
    for status, reason in (
        (100, "Trying"),
        (200, "OK"),
        (401, "Unauthorized"),
        (407, "Proxy Authentication Required"),
    )
}


def _parse_start_line(line: str) -> tuple[int, str] | tuple[str, str]:
    """``(status, reason)`` of a status line, ``(method, Request-URI)`` of a request line."""
    usual = _USUAL_STATUS_LINES.get(line)
    if usual is not None:
        return usual
    status_line = _STATUS_LINE.fullmatch(line)
    if status_line is not None:
        return int(status_line[1]), status_line[2] or ""
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        if version.upper() != "SIP/2.0":
            _check_version(version)
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not (code.isascii() and code.isdigit()) or code[0] == "0":
            raise SipParseError(f"status code {_show(code)} is not a number 100-699")
        status = int(code)
        if status >= 700:
            raise SipParseError(f"status code {status} is not a number 100-699")
        if _REASON_RE.fullmatch(reason) is None:
            _check_reason(reason)
        return status, reason
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(
            f"request line {_show(line)} is not 'METHOD Request-URI SIP/2.0' with single spaces"
        )
    method, uri, version = parts
    if not is_token(method):
        raise SipParseError(f"method {_show(method)} is not a token")
    _check_request_uri(uri)
    _check_version(version)
    return method, uri


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"unsupported protocol version {_show(version)} (only SIP/2.0)")


def _content_length(values: list[str]) -> int | None:
    """The Content-Length, None when absent; conflicting values are a framing error."""
    lengths: set[int] = set()
    for raw in values:
        if not (raw.isascii() and raw.isdigit()):  # empty is not a digit either
            raise SipParseError(f"Content-Length {_show(raw)} is not a non-negative integer")
        digits = raw.lstrip("0") or "0"
        if len(digits) > 10:  # also keeps int() away from its digit-count limit
            raise SipParseError(f"Content-Length {_show(raw)} is too large")
        lengths.add(int(digits))
    if len(lengths) > 1:
        raise SipParseError(f"conflicting Content-Length values {sorted(lengths)}")
    return lengths.pop() if lengths else None


def _parse_head(head: bytes, max_headers: int) -> tuple[Message, int | None]:
    """Parse the start line and headers (``head`` excludes the blank line).

    Folded lines (RFC 3261 §7.3.1) are joined with one space. Lines end with CRLF
    only; a bare CR or LF is refused rather than guessed at, since a peer and this
    parser disagreeing on where a header ends is how header injection works.
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"the header section is not UTF-8 (at byte {exc.start})") from None
    start_line, *lines = text.split("\r\n")
    pairs = len(lines)  # CRLFs
    if text.count("\r") != pairs or text.count("\n") != pairs:
        _refuse_bare_line_end(text)
    first, second = _parse_start_line(start_line)
    headers = _read_fields(lines, max_headers)
    message: Message
    if isinstance(first, int):
        message = Response(first, second, headers)
    else:
        message = Request(first, second, headers)
    lengths = headers._by_key().get("content-length")
    if lengths is None:
        return message, None
    raw = lengths[0]
    if len(lengths) == 1 and len(raw) <= 10 and raw.isascii() and raw.isdigit():
        return message, int(raw)  # the usual single number, as _content_length reads it
    return message, _content_length(lengths)


def _read_fields(lines: list[str], max_headers: int) -> Headers:
    """The header fields of ``lines``, and their index by key (see ``Headers``).

    The usual line, ``Name: value`` with a name seen before, takes one dictionary
    look-up; anything else (whitespace before the colon, folding, a new or invalid
    name, more lines than fields allowed) is read by ``_read_fields_slowly``.
    """
    if len(lines) <= max_headers:
        fields: list[tuple[str, str, str]] = []
        index: dict[str, list[str]] = {}
        known = TOKEN_NAMES.get
        for line in lines:
            name, colon, value = line.partition(":")
            names = known(name)
            if names is None or not colon:
                break
            key, canonical = names
            value = value.strip(" \t")
            fields.append((key, canonical, value))
            values = index.get(key)
            if values is None:
                index[key] = [value]
            else:
                values.append(value)
        else:
            return Headers._of_lines(fields, index)
    slowly = _read_fields_slowly(lines, max_headers)
    return Headers._of_lines([(*_names(name), value) for name, value in slowly], None)


def _read_fields_slowly(lines: list[str], max_headers: int) -> list[tuple[str, str]]:
    """``(name, value)`` of each header field; folded lines are joined with one space."""
    items: list[tuple[str, str]] = []
    folded: dict[int, list[str]] = {}  # index in items -> the value's continuation parts
    for line in lines:
        field = _FIELD_START.match(line)
        if field is None:
            if line[:1] not in (" ", "\t"):
                raise SipParseError(f"header line {_show(line)} is not 'Name: value'")
            if not items:
                raise SipParseError("the first header line starts with whitespace")
            folded.setdefault(len(items) - 1, []).append(line.strip(_WS))
            continue
        if len(items) == max_headers:
            raise SipParseError(f"more than {max_headers} header fields")
        items.append((field[1], line[field.end() :].rstrip(_WS)))
    for index, parts in folded.items():
        name, value = items[index]
        items[index] = (name, " ".join(p for p in (value, *parts) if p))
    return items


def _refuse_bare_line_end(text: str) -> None:
    """Name the line with a CR or LF that is not part of a CRLF.

    Called when the counts say there is one: every CR and LF is part of a line end
    exactly when there are as many of each as there are CRLF pairs.
    """
    for number, line in enumerate(text.split("\r\n"), start=1):
        if "\r" in line or "\n" in line:
            raise SipParseError(f"line {number} contains a bare CR or LF")


def parse_message(data: bytes, *, max_size: int = 65535, max_headers: int = 256) -> Message:
    """Parse one whole datagram (RFC 3261 §18.3).

    Without Content-Length the body is the rest of the datagram; with it, extra octets
    are dropped (RFC 4475 §3.1.1.8) and a value larger than what arrived is an error.
    CRLFs before the start line are skipped.
    """
    data = bytes(data)
    if len(data) > max_size:
        raise SipParseError(f"message of {len(data)} bytes exceeds the limit of {max_size}")
    start = 0
    while data.startswith(_CRLF, start):
        start += 2
    if start == len(data):
        raise SipParseError("the message is empty")
    end = data.find(_BLANK, start)
    if end < 0:
        raise SipParseError("no empty line ends the header section")
    message, length = _parse_head(data[start:end], max_headers)
    body = data[end + 4 :]
    if length is not None:
        if length > len(body):
            raise SipParseError(
                f"Content-Length {length} is larger than the {len(body)} body bytes received"
            )
        body = body[:length]
    message.body = body
    return message


class StreamFramer:
    """Split a TCP/TLS byte stream into messages, framed by Content-Length.

    Content-Length is mandatory on streams (RFC 3261 §18.3): without it the end of the
    body is unknowable. After any error the stream is out of step for good, so every
    later ``feed`` raises too; the transport should close the connection.
    """

    def __init__(self, *, max_size: int = 65535, max_headers: int = 256) -> None:
        self._buf = bytearray()
        # Offsets: consumed bytes are dropped once per feed, not per message, so a read
        # full of small messages or CRLF pings costs linear time.
        self._pos = 0  # start of the unconsumed data
        self._scan = 0  # where, relative to _pos, the search for the blank line resumes
        self._pending: tuple[Message, int, int] | None = None  # head parsed: body at, length
        self._max_size = max_size
        self._max_headers = max_headers
        self._error: SipParseError | None = None

    def feed(self, data: bytes) -> list[Message | Keepalive]:
        """Add received bytes; return the messages and pongs they complete, in order."""
        if self._error is not None:
            raise SipParseError(f"stream unusable after an earlier error: {self._error}")
        self._buf += data
        out: list[Message | Keepalive] = []
        try:
            while (item := self._next()) is not None:
                out.append(item)
        except SipParseError as exc:
            self._error = exc
            self._buf.clear()
            raise
        del self._buf[: self._pos]
        self._pos = 0
        return out

    def _next(self) -> Message | Keepalive | None:
        buf, pos = self._buf, self._pos
        if self._pending is None:
            # pos is at a message boundary (a message never starts with CR).
            while buf.startswith(_BLANK, pos):  # RFC 5626 ping (or plain CRLFs): skip
                pos += 4
            self._pos = pos
            if len(buf) - pos <= 3 and bytes(buf[pos:]) in (b"", b"\r", b"\r\n\r"):
                return None  # nothing yet, or maybe the start of a ping
            if buf.startswith(_CRLF, pos):
                self._pos = pos + 2
                return Keepalive()
            end = buf.find(_BLANK, pos + self._scan)
            if end < 0:
                if len(buf) - pos > self._max_size:
                    raise SipParseError(f"header section exceeds the limit of {self._max_size}")
                self._scan = max(0, len(buf) - pos - 3)
                return None
            message, length = _parse_head(bytes(buf[pos:end]), self._max_headers)
            if length is None:
                raise SipParseError("a message on a stream transport must have Content-Length")
            if end + 4 - pos + length > self._max_size:
                raise SipParseError(
                    f"message of {end + 4 - pos + length} bytes exceeds the limit of "
                    f"{self._max_size}"
                )
            self._pending = (message, end + 4 - pos, length)
        message, body_at, length = self._pending
        if len(buf) - pos < body_at + length:
            return None
        message.body = bytes(buf[pos + body_at : pos + body_at + length])
        self._pos = pos + body_at + length
        self._pending = None
        self._scan = 0
        return message
