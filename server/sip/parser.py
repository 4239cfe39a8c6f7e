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

from dataclasses import dataclass
from typing import Final

from .errors import SipParseError
from .grammar import DIGIT, is_header_name, is_token
from .message import Headers, Message, Request, Response, _check_reason, _check_request_uri

_CRLF: Final = b"\r\n"
_BLANK: Final = b"\r\n\r\n"
_WS: Final = " \t"
_DIGITS: Final = frozenset(DIGIT)


@dataclass(frozen=True, slots=True)
class Keepalive:
    """A lone CRLF between messages on a stream: an RFC 5626 §4.4.1 keep-alive pong.

    Returned by ``StreamFramer.feed`` so the transport can see the server is alive; the
    double-CRLF ping is skipped silently (RFC 3261 §7.5 lets CRLFs precede a message).
    """


def _show(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _parse_start_line(line: str) -> Message:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        _check_version(version)
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not all(c in _DIGITS for c in code) or code[0] == "0":
            raise SipParseError(f"status code {_show(code)} is not a number 100-699")
        status = int(code)
        if status >= 700:
            raise SipParseError(f"status code {status} is not a number 100-699")
        _check_reason(reason)
        return Response(status, reason, Headers())
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
    return Request(method, uri, Headers())


def _check_version(version: str) -> None:
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"unsupported protocol version {_show(version)} (only SIP/2.0)")


def _content_length(headers: Headers) -> int | None:
    """The Content-Length, None when absent; conflicting values are a framing error."""
    lengths: set[int] = set()
    for raw in headers.get_all("Content-Length"):
        if not raw or not all(c in _DIGITS for c in raw):
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
    lines = text.split("\r\n")
    for number, line in enumerate(lines, start=1):
        if "\r" in line or "\n" in line:
            raise SipParseError(f"line {number} contains a bare CR or LF")
    message = _parse_start_line(lines[0])
    fields: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("the first header line starts with whitespace")
            fields[-1].append(line.strip(_WS))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(_WS)
        if not colon or not is_header_name(name):
            raise SipParseError(f"header line {_show(line)} is not 'Name: value'")
        if len(fields) == max_headers:
            raise SipParseError(f"more than {max_headers} header fields")
        fields.append([name, value.strip(_WS)])
    headers = Headers._from_wire((f[0], " ".join(p for p in f[1:] if p)) for f in fields)
    message.headers = headers
    return message, _content_length(headers)


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
