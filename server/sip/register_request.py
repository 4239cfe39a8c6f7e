"""The text of a REGISTER, written from a configuration that is checked once.

A registration sends the same request again and again (first attempt, the answer to a
challenge, every refresh), and only the branch, CSeq, Expires and the Authorization
lines change between them. ``RegisterWriter`` checks and writes the rest once per
configuration, with the very checks ``Headers.add`` makes (same canonical names, same
errors, met in the same order), so a REGISTER costs one string join instead of a dozen
validated header insertions. The bytes are exactly what ``Request.to_bytes`` writes
for the same header lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from .grammar import HEADER_VALUES_RE
from .headers import name_addr_text
from .message import _check_request_uri, check_header, check_header_value
from .params import replace_param
from .registration_config import RegistrationConfig

_LENGTH_LINE: Final = "Content-Length: 0\r\n"  # a REGISTER has no body


def _line(name: str, value: str) -> str:
    """A checked header line, CRLF included, for ``name`` spelled canonically already.

    Only the value needs a check: ``name`` is one of this module's literal names.
    """
    check_header_value(name, value)
    return f"{name}: {value}\r\n"


def sent_via(config: RegistrationConfig, branch: str) -> str:
    """Our Via up to and including ``branch``: what a registrar returns first as it was.

    ``RegisterWriter`` adds ``;rport``; the registration reads a response's top Via
    against this text (``register_response.via_as_sent``).
    """
    return f"SIP/2.0/{config.via_transport} {config.via_sent_by};branch={branch}"


def _checked_lines(fields: list[tuple[str, str]]) -> list[str]:
    """``_line`` of each ``(name, value)``: the values checked in one match, in order."""
    joined = "\n".join([value for _, value in fields])
    if HEADER_VALUES_RE.fullmatch(joined) is None or joined.count("\n") != len(fields) - 1:
        for name, value in fields:
            check_header_value(name, value)  # raises for the first that cannot be sent
    return [f"{name}: {value}\r\n" for name, value in fields]


# ``__init__`` written out (``init=False``): mypyc (setup.py) compiles it, while the one
# ``@dataclass`` generates stays interpreted, about 10x slower to construct. ``Final``
# keeps the fields read-only for mypy, as ``frozen=True`` did; ``unsafe_hash`` keeps
# the hash a frozen class had.
@dataclass(slots=True, init=False, unsafe_hash=True)
class _Lines:
    """The checked, written lines of one configuration that do not change per request.

    ``middle`` runs from Max-Forwards to Call-ID, ``contact`` is the Contact line and
    ``tail`` holds User-Agent and the extra headers. ``length_in_tail`` says whether an
    extra header was a Content-Length, which is then written where it stood (with the
    true length, 0) rather than at the end, as ``Request.to_bytes`` does.
    """

    middle: Final[str]
    contact: Final[str]
    tail: Final[str]
    length_in_tail: Final[bool]

    def __init__(self, middle: str, contact: str, tail: str, length_in_tail: bool) -> None:
        self.middle = middle
        self.contact = contact
        self.tail = tail
        self.length_in_tail = length_in_tail


def _lines(c: RegistrationConfig, *, zero_expires: bool) -> _Lines:
    """Check and write the lines of ``c``; ``SipParseError`` names the first fault."""
    middle = _checked_lines(
        [
            ("Max-Forwards", "70"),
            *[("Route", f"<{route}>") for route in c.route],
            ("From", f"<{c.aor}>;tag={c.from_tag}"),
            ("To", f"<{c.aor}>"),
            ("Call-ID", c.call_id),
        ]
    )
    ours: list[tuple[str, str | None]] = []
    if c.instance_id:
        ours.append(("+sip.instance", f'"<{c.instance_id}>"'))
    if c.outbound:
        ours.append(("reg-id", "1"))
    if zero_expires:  # only our own binding goes
        ours.append(("expires", "0"))
    params = c.contact_params
    if params:  # the profile's own Contact parameters: ours replace theirs of a name
        for name, value in ours:
            params = replace_param(params, name, value)
    else:
        params = tuple(ours)
    contact_line = _line("Contact", name_addr_text(c.contact, params))
    tail, length_in_tail = _tail(c.user_agent, c.outbound, c.option_tags, c.extra_headers)
    return _Lines("".join(middle), contact_line, tail, length_in_tail)


@lru_cache(maxsize=64)
def _tail(
    user_agent: str, outbound: bool, option_tags: tuple[str, ...], extra_headers: tuple[str, ...]
) -> tuple[str, bool]:
    """The lines after the Contact, and whether an extra header was a Content-Length.

    The same for every profile of a kind (most of a gateway's thousands), so written
    once for each; a fault raises, and raising is not remembered.
    """
    fixed = [("User-Agent", user_agent)]
    tags = dict.fromkeys((*(("outbound", "path") if outbound else ()), *option_tags))
    if tags:
        fixed.append(("Supported", ", ".join(tags)))
    tail = _checked_lines(fixed)
    length_in_tail = False
    for text in extra_headers:
        name, _, value = text.partition(":")
        value = value.strip()
        key, canonical = check_header(name.strip(), value)
        if key == "content-length":
            if not length_in_tail:  # only the first one is written, with the true length
                tail.append(_LENGTH_LINE)
                length_in_tail = True
        else:
            tail.append(f"{canonical}: {value}\r\n")
    return "".join(tail), length_in_tail


class RegisterWriter:
    """Writes the REGISTERs of one configuration; the fixed lines are checked once.

    The fixed lines are written on first use rather than when the writer is made, so a
    configuration that cannot be sent fails where it always did: when a request is
    built, with the same error.
    """

    __slots__ = ("_lines", "_request_uri", "config")

    def __init__(self, config: RegistrationConfig) -> None:
        self.config = config
        self._lines: dict[bool, _Lines] = {}  # key: Expires is 0 (Contact gets expires=0)
        self._request_uri: str | None = None  # the last Request-URI that passed its check

    def write(
        self,
        *,
        request_uri: str,
        branch: str,
        cseq: int,
        expires: int,
        authorization: Iterable[tuple[str, str]],
        remove: Sequence[str] = (),
    ) -> bytes:
        """The REGISTER as bytes, or ``SipParseError`` for what cannot be sent.

        Faults are met in the order ``Headers.add`` and ``Request.to_bytes`` would meet
        them: Via, the fixed lines, the Authorization lines (taken from
        ``authorization`` one by one, so a lazy iterable stops at the first bad one),
        then the Request-URI. ``remove`` are other Contact URIs of ours, written after
        our Contact with ``expires=0``: bindings to delete in the same request.
        """
        c = self.config
        via = f"{sent_via(c, branch)};rport"
        check_header_value("Via", via)
        zero = expires == 0
        lines = self._lines.get(zero)
        if lines is None:
            lines = self._lines[zero] = _lines(c, zero_expires=zero)
        auth = "".join([_line(name, value) for name, value in authorization])  # canonical names
        if request_uri != self._request_uri:
            _check_request_uri(request_uri)
            self._request_uri = request_uri
        length = "" if lines.length_in_tail else _LENGTH_LINE
        contact = lines.contact
        if remove:
            value = contact[len("Contact: ") : -2] + "".join(
                [f", <{uri}>;expires=0" for uri in remove]
            )
            contact = _line("Contact", value)
        return (
            f"REGISTER {request_uri} SIP/2.0\r\nVia: {via}\r\n{lines.middle}"
            f"CSeq: {cseq} REGISTER\r\n{contact}Expires: {expires}\r\n"
            f"{lines.tail}{auth}{length}\r\n"
        ).encode()
