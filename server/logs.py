"""Where the daemon's log goes and what it may say: journald lines, SIP traces, masking.

Under systemd, stderr is a stream to the journal (``JOURNAL_STREAM`` names it), which
stamps every line with the time and reads its priority from a ``<N>`` prefix
(sd-daemon(3)); a timestamp of our own would only be noise there, and without the
prefix every line would be filed as info. Anywhere else (a terminal, a test, a file)
lines carry a timestamp and the level in words.

``--trace-sip`` logs every SIP message sent and received, for the engineer chasing an
interoperability problem. Traces go to a log that users attach to bug reports, so the
values that would let a reader guess a password offline or replay an answer (the
digest ``response``, AKA's ``auts``, the server's ``rspauth``, ``ck``/``ik`` an IMS
core should never have let through, a password written into a URI) are masked first.
When tracing is off the transports pay one attribute check per message for it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Final, Protocol, TextIO

#: The dedicated logger of SIP traces, so they can be filtered in or out on their own.
TRACE_LOGGER: Final = "sipprofile.sip.trace"
#: Environment variable that turns tracing on like ``--trace-sip`` (``1``, ``yes``, ...).
TRACE_ENVIRONMENT: Final = "SIPPROFILED_TRACE_SIP"

#: The readable format, for a terminal or a file: the journal adds time and priority itself.
READABLE_FORMAT: Final = "%(asctime)s.%(msecs)03d sipprofiled: %(levelname)s: %(message)s"
READABLE_DATE: Final = "%Y-%m-%d %H:%M:%S"

#: Libraries whose DEBUG lines could carry what we must not log: aiosqlite writes the
#: repr of every database job, arguments included. They stay at INFO even with
#: ``--log-level debug``; our own debug lines are what that option is for.
QUIET_LIBRARIES: Final = ("aiosqlite",)

_TRUE: Final = frozenset({"1", "yes", "true", "on"})

Address = tuple[str, int]


def syslog_priority(levelno: int) -> int:
    """The sd-daemon(3) priority of a logging level: SD_ERR 3, SD_WARNING 4, SD_INFO 6..."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class JournalFormatter(logging.Formatter):
    """``<N>message``, with the prefix on every line of the record.

    The journal makes one entry of each line of a stream, so the lines after the
    first (a traceback, a traced SIP message) need the priority too, or a traceback
    of an error would be filed as info.
    """

    def __init__(self) -> None:
        super().__init__("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record's text, each line prefixed with its priority."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).split("\n"))


def stderr_is_journal(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``stream`` is the journal stream systemd connected (sd_journal_stream_fd).

    ``JOURNAL_STREAM`` is inherited by children whose stderr may have been pointed
    elsewhere, so it counts only when its ``device:inode`` is the stream's own, as
    systemd.exec(5) recommends.
    """
    device, sep, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        found = os.fstat(stream.fileno())
        return (found.st_dev, found.st_ino) == (int(device), int(inode))
    except (OSError, ValueError, AttributeError):  # no file descriptor, or not numbers
        return False


def trace_sip_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``SIPPROFILED_TRACE_SIP`` asks for SIP traces (``1``, ``yes``, ``true``, ``on``)."""
    return environ.get(TRACE_ENVIRONMENT, "").strip().lower() in _TRUE


def setup(
    level: str,
    *,
    trace_sip: bool = False,
    stream: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
) -> logging.Handler:
    """Send the log to ``stream`` (stderr) in the journal's format or a readable one.

    ``level`` is ``--log-level`` (``debug``, ``info``, ...). SIP traces are DEBUG
    records of their own logger, which ``trace_sip`` opens whatever the level: asking
    for traces is asking to see them. Returns the handler installed.
    """
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    if stderr_is_journal(out, environ):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(READABLE_FORMAT, READABLE_DATE))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
    logging.getLogger(TRACE_LOGGER).setLevel(logging.DEBUG if trace_sip else logging.NOTSET)
    SIP_TRACE.enabled = trace_sip
    return handler


# ------------------------------------------------------------------ masking

#: Parameters whose values are secrets or let a reader attack one: the digest answer
#: (an offline dictionary attack on the password needs nothing else), the AKA
#: resynchronisation token, the server's proof, and an IMS core's CK/IK. ``username``,
#: ``nonce``, ``cnonce`` and ``nc`` stay: they are what a stale-nonce or wrong-user
#: problem is diagnosed with, and without ``response`` they reveal nothing.
MASKED_PARAMETERS: Final = ("response", "auts", "rspauth", "ck", "ik")

# A parameter anywhere (folding and spaces around "=" allowed, as SWS is), quoted
# (quoted-pairs kept inside; an unterminated quote masks to the end) or a token.
_PARAMETER = re.compile(
    r"(?<![\w.!%*+`'~-])(" + "|".join(MASKED_PARAMETERS) + r")(\s*=\s*)"
    r"(\"(?:[^\"\\]|\\.)*\"?|[^\s,;\"]+)",
    re.IGNORECASE,
)
# ``sip:user:password@`` / ``sips:``: the user part has no ":", the password runs to
# the "@" (more rather than less: over-masking a trace is harmless). And any
# ``scheme://user:password@`` in another header (Call-Info, Alert-Info).
_SIP_USERINFO = re.compile(r"(?<![\w+.-])(sips?:[^\s:@<>\"\[\]]+:)[^\s@<>\"]*(?=@)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(//[^\s/:@<>\"\[\]]+:)[^\s/@<>\"]*(?=@)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

MASK: Final = "***"


def _mask_parameter(match: re.Match[str]) -> str:
    value = match.group(3)
    if value == '""':  # an empty answer (IMS's first REGISTER) hides nothing, and tells much
        return match.group(0)
    return match.group(1) + match.group(2) + (f'"{MASK}"' if value.startswith('"') else MASK)


def mask_secrets(text: str) -> str:
    """``text`` (a SIP message) with its credentials replaced by ``***``.

    Pure and header-agnostic on purpose: it works on folded headers, compact forms,
    any number of ``Authorization``/``Proxy-Authorization`` headers and bodies alike,
    because it looks for the secrets themselves, not for where they usually are.
    """
    text = _PARAMETER.sub(_mask_parameter, text)
    text = _SIP_USERINFO.sub(lambda m: m.group(1) + MASK, text)
    return _URL_USERINFO.sub(lambda m: m.group(1) + MASK, text)


# ------------------------------------------------------------------ tracing


class Wire(Protocol):
    """A parsed message that can be written out again (streams deliver those)."""

    def to_bytes(self) -> bytes:
        """The message's wire form."""
        ...


def show_address(address: Address) -> str:
    """``host:port``, an IPv6 host in brackets."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render(data: bytes) -> str:
    """A message as trace text: masked, one line per header, control characters escaped.

    A peer's bytes must not drive the reader's terminal or forge log lines, hence
    the escapes; line ends are the log's own.
    """
    text = data.decode("utf-8", "backslashreplace").replace("\r\n", "\n").rstrip("\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", mask_secrets(text))


class SipTrace:
    """The transports' hook: ``if SIP_TRACE.enabled: SIP_TRACE.sent(...)``.

    A flag on a shared object rather than a logger check, so that a send with
    tracing off costs one attribute load; ``setup`` sets it.
    """

    __slots__ = ("enabled", "log")

    def __init__(self) -> None:
        self.enabled = False
        self.log = logging.getLogger(TRACE_LOGGER)

    def sent(self, transport: str, local: Address, remote: Address, data: bytes | Wire) -> None:
        """Log a message we send (``local -> remote``)."""
        self._trace("sent", transport, local, "->", remote, data)

    def received(self, transport: str, local: Address, remote: Address, data: bytes | Wire) -> None:
        """Log a message we received (``local <- remote``)."""
        self._trace("received", transport, local, "<-", remote, data)

    def _trace(
        self,
        what: str,
        transport: str,
        local: Address,
        arrow: str,
        remote: Address,
        data: bytes | Wire,
    ) -> None:
        if not self.log.isEnabledFor(logging.DEBUG):
            return
        try:
            raw = data if isinstance(data, bytes) else data.to_bytes()
        except Exception as exc:  # a parsed message that cannot be written back
            raw = f"(not shown: {exc})".encode()
        if not raw.strip(b"\r\n"):
            return  # a CRLF keep-alive, not a SIP message
        self.log.debug(
            "%s %s %s %s %s, %d bytes\n%s",
            what,
            transport,
            show_address(local),
            arrow,
            show_address(remote),
            len(raw),
            render(raw),
        )


#: The one trace hook of the process.
SIP_TRACE: Final = SipTrace()
