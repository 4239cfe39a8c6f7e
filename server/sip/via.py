"""Via header values (RFC 3261 §8.1.1.7, §18.2.1, §20.42): parse, check, write, match.

A response is matched to the request it answers by the branch of its top Via, so every
response's Vias are read; ``via_branch`` reads the common shape with one regular
expression, and ``parse_via`` reads it into a ``Via`` the same way. The step-by-step
reading (``_parse_via_by_cursor``) remains the definition and says what is wrong; the
fast paths accept only what it accepts, with the same result.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from .errors import SipParseError
from .grammar import ALPHANUM, HOSTNAME_OR_IPV4_PATTERN, TOKEN_CLASS, char_class, is_host, is_token
from .params import (
    PARAM_PATTERN,
    TOKEN_RUN,
    WS,
    Cursor,
    Parametrised,
    Params,
    check_params,
    find_param,
    format_params,
    lower,
    parse_params,
    replace_param,
    show,
)

_HOST_RUN: Final = re.compile(char_class(ALPHANUM + "-.") + "*")
_DIGIT_RUN: Final = re.compile("[0-9]*")
_VERSION_RUN: Final = re.compile("[0-9.]*")


def _via_head(host: str) -> str:
    """Pattern text of the part of a Via before its parameters; ``host`` matches the host.

    As ``_parse_via_by_cursor`` reads it: protocol name and version, transport (group 1),
    host (group 2) and an optional port (group 3), each run taking all it can.
    """
    return (
        rf"[Ss][Ii][Pp][ \t]*+/[ \t]*+2\.0[ \t]*+/[ \t]*+({TOKEN_CLASS}++)[ \t]++"
        rf"({host})[ \t]*+(?::[ \t]*+([0-9]++))?[ \t]*+"
    )


# The head of a well-formed Via, its host a bracketed IPv6 address or a run of name
# characters, still to be checked.
_VIA_HEAD: Final = re.compile(_via_head(r"\[[^\]]*+\]|[A-Za-z0-9\-.]++") + r"(?=;|\Z)")
# A whole well-formed Via as parse_via reads it: the head, its host bracketed or, as a
# whole run (the lookahead), a name or an IPv4 address; then the parameters as
# parse_params reads them, the first one's name and value captured (groups 4-6). The
# atomic group keeps the parameters split the way parse_params does.
_VIA_RE: Final = re.compile(
    _via_head(rf"\[[^\]]*+\]|(?:{HOSTNAME_OR_IPV4_PATTERN})(?![A-Za-z0-9\-.])")
    + rf"(?>{PARAM_PATTERN}(?:{PARAM_PATTERN})*+)?"
)


def _parse_port(raw: str) -> int:
    digits = raw.lstrip("0") or "0"
    if not raw or len(digits) > 5 or int(digits) > 65535:
        raise SipParseError(f"port {show(raw)} is not a number 0-65535")
    return int(digits)


@dataclass(frozen=True, slots=True)
class Via(Parametrised):
    """One ``SIP/2.0/transport sent-by;params`` hop; ``transport`` is kept upper case."""

    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    def __post_init__(self) -> None:
        """Normalise the transport's case and refuse what ``str()`` cannot write back."""
        if not is_token(self.transport):
            raise SipParseError(f"Via transport {show(self.transport)} is not a token")
        object.__setattr__(self, "transport", self.transport.upper())
        if not is_host(self.host):  # which ignores case
            raise SipParseError(f"Via host {show(self.host)} is not a host name or address")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise SipParseError(f"Via port {self.port} is out of range (0-65535)")
        check_params(self.params)

    @classmethod
    def _parsed(cls, transport: str, host: str, port: int | None, params: Params) -> Via:
        """A Via of ``parse_via``, whose parts it has checked: not checked again.

        The parser accepts only what ``__post_init__`` accepts (a token transport, a
        host, a port up to 65535, parameters from ``parse_params``), so the second check
        could never fail; it is skipped because every response's Vias are parsed.
        """
        via = Via.__new__(Via)  # not object.__new__: see message.Headers._of_lines
        object.__setattr__(via, "transport", transport.upper())
        object.__setattr__(via, "host", host)
        object.__setattr__(via, "port", port)
        object.__setattr__(via, "params", params)
        return via

    @property
    def branch(self) -> str | None:
        """The transaction id (RFC 3261 §8.1.1.7); None when absent."""
        return find_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        """The source address the next hop saw (RFC 3261 §18.2.1); None when absent."""
        return find_param(self.params, "received")

    @property
    def rport_requested(self) -> bool:
        """Whether ``;rport`` is present, with or without a value (RFC 3581)."""
        return find_param(self.params, "rport") is not None

    @property
    def rport(self) -> int | None:
        """The source port the server filled in; None when absent or only requested."""
        value = find_param(self.params, "rport")
        if not value:
            return None
        if not (value.isascii() and value.isdigit()):
            raise SipParseError(f"rport {show(value)} is not a number")
        return _parse_port(value)

    def with_param(self, name: str, value: str | None = None) -> Via:
        """A copy with ``name`` set (``value`` None for a flag), in place if present."""
        return dataclasses.replace(self, params=replace_param(self.params, name, value))

    def __str__(self) -> str:
        """``SIP/2.0/UDP host:port;branch=...;rport``."""
        port = "" if self.port is None else f":{self.port}"
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one Via element; LWS is allowed around ``/`` and ``:`` (RFC 3261 §25.1).

    Only ``SIP/2.0`` is accepted: a Via of another version means a peer this stack
    cannot talk to, and ``Via`` has no field to keep the version in.
    """
    text = value.strip(WS)
    head = _VIA_HEAD.match(text)
    if head is None or not is_host(head[2]):
        return _parse_via_by_cursor(text)  # which says what is wrong
    transport, host, port = head.groups()
    number = None if port is None else _parse_port(port)
    return Via._parsed(transport, host, number, parse_params(text[head.end() :]))


@lru_cache(maxsize=64)
def via_branch(value: str) -> str | None:
    """``parse_via(value).branch``, without building the Via in the usual case.

    Every response is matched to its request by the branch of its top Via (RFC 3261
    §17.1.3), so this is read for every response; in the Vias we write, the branch is
    the first parameter. The value is checked exactly as ``parse_via`` checks it.
    Remembered for the last few values: the transport reads it to route a response,
    then the registration reads it again to match it.
    """
    text = value.strip(WS)
    via = _VIA_RE.fullmatch(text)
    # via[4], a token, is ASCII: str.lower is the ASCII lower case find_param compares in
    if via is None or via[4] is None or via[4].lower() != "branch":
        return parse_via(text).branch
    if via[2][0] == "[" and not is_host(via[2]):  # the pattern checked names and IPv4
        return parse_via(text).branch
    port = via[3]
    if port is not None and (len(port) > 5 or int(port) > 65535):
        _parse_port(port)  # which refuses it, unless leading zeros make it short enough
    return via[5] or via[6] or ""  # "" for a flag, as find_param says


def _parse_via_by_cursor(text: str) -> Via:
    """``parse_via`` step by step: the reference reading, and the error messages."""
    cur = Cursor(text)
    name = cur.take(TOKEN_RUN)
    cur.expect("/", "after the Via protocol name")
    version = cur.take(_VERSION_RUN)
    cur.expect("/", "after the Via protocol version")
    transport = cur.take(TOKEN_RUN)
    if lower(name) != "sip" or version != "2.0":
        raise SipParseError(f"unsupported Via protocol {show(name + '/' + version)}")
    if not transport:
        raise SipParseError("the Via has no transport after SIP/2.0/")
    if not cur.skip_ws():
        raise SipParseError("expected whitespace between the Via transport and host")
    if cur.peek() == "[":
        close = cur.text.find("]", cur.pos)
        host = cur.text[cur.pos : close + 1] if close >= 0 else cur.text[cur.pos :]
        cur.pos += len(host)
    else:
        host = cur.take(_HOST_RUN)
    if not is_host(host):
        raise SipParseError(f"Via host {show(host)} is not a host name or address")
    cur.skip_ws()
    port = None
    if cur.peek() == ":":
        cur.expect(":", "")
        port = _parse_port(cur.take(_DIGIT_RUN))
    cur.skip_ws()
    if cur.peek() not in ("", ";"):
        raise SipParseError(f"unexpected {show(cur.text[cur.pos :])} after the Via host")
    return Via._parsed(transport, host, port, parse_params(cur.text[cur.pos :]))
