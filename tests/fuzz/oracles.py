"""What each fuzz target checks: one function per target, shared by pytest and atheris.

Each ``check_*`` takes one input and returns normally when the code under test did
what it documents: either it raised the documented error (and only that), or it
accepted the input and the result has the properties checked here (a parsed message
written out again parses to the same message, a parsed challenge written out again
reads the same, and so on). Anything else escapes: an unexpected exception, or an
``AssertionError`` saying which property failed. The hypothesis tests
(``test_fuzz_*.py``) call these with structured inputs; ``atheris_targets.py`` calls
the ``TARGETS`` with the bytes libFuzzer makes up.

Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from sipprofile.proto.schema import SETTINGS
from sipprofile.server.errors import InvalidArgument, ReadOnly
from sipprofile.server.registry.model import (
    FIELDS,
    AkaSettings,
    ProfileSettings,
    ServerSettings,
    Typed,
)
from sipprofile.server.registry.validation import validate_changes
from sipprofile.server.sip.digest import Credentials, authorization
from sipprofile.server.sip.digest_challenge import (
    Challenge,
    DigestError,
    answerable,
    choose_aka_challenge,
    choose_challenge,
    parse_challenge,
)
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.grammar import quote_string
from sipprofile.server.sip.headers import (
    parse_auth_params,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_via,
    split_list,
    via_branch,
)
from sipprofile.server.sip.message import Headers, Message, Request, Response
from sipprofile.server.sip.params import check_params, format_params
from sipprofile.server.sip.parser import Keepalive, StreamFramer, parse_message
from sipprofile.server.sip.reginfo import (
    CONTACT_EVENTS,
    CONTACT_STATES,
    DOCUMENT_STATES,
    MAX_BYTES,
    NAMESPACE,
    REGISTRATION_STATES,
    BindingView,
    Reginfo,
    ReginfoError,
    parse_reginfo,
)
from sipprofile.server.sip.registration import Registration, RegistrationConfig, State
from sipprofile.server.sip.registration_events import SendRequest
from sipprofile.server.sip.sec_agree import SecAgreeError, format_mechanisms, parse_mechanisms
from sipprofile.server.sip.uri import aor_lookup_key, check_uri, parse_uri, uri_equivalent

CORPUS = Path(__file__).parent / "corpus"

#: Limits used for the fuzzed datagrams: small enough that "too many headers" and "too
#: large" are reached by mutations, as they are by a hostile peer at the real limits.
MAX_SIZE = 4096
MAX_HEADERS = 32


def seeds(target: str) -> list[bytes]:
    """The seed corpus of ``target`` (``corpus/<target>/*``), in file-name order."""
    return [path.read_bytes() for path in sorted((CORPUS / target).iterdir()) if path.is_file()]


def text_of(data: bytes) -> str | None:
    """``data`` as the text a header value of a parsed message can be, or None.

    The message parser hands out only decoded UTF-8, so a value never holds a lone
    surrogate; bytes that do not decode stand for no value at all.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# --------------------------------------------------------------------- SIP messages


def _sans_length(message: Message) -> tuple[object, ...]:
    """A message as it must read back: ``to_bytes`` writes one true Content-Length."""
    start: tuple[object, ...]
    if isinstance(message, Request):
        start = ("request", message.method, message.uri)
    else:
        start = ("response", message.status, message.reason)
    lines = [(name, value) for name, value in message.headers if name != "Content-Length"]
    return (*start, lines, message.body)


def check_message(data: bytes) -> None:
    """``parse_message`` raises only ``SipParseError``; what it accepts round-trips.

    A parsed message written with ``to_bytes`` parses to the same message (up to the
    Content-Length, which is always written and always true), and writing that again
    gives the same bytes. Every header value is then read the way a UA reads it.
    """
    try:
        message = parse_message(data, max_size=MAX_SIZE, max_headers=MAX_HEADERS)
    except SipParseError:
        return
    wire = message.to_bytes()  # a parsed message can always be written back
    again = parse_message(wire, max_size=len(wire), max_headers=MAX_HEADERS + 1)
    assert _sans_length(again) == _sans_length(message), (wire, message, again)
    assert again.to_bytes() == wire
    assert again.headers.get("Content-Length") == str(len(message.body))
    check_parsed(message)


def check_parsed(message: Message) -> None:
    """Read a parsed message as a UA does: only ``SipParseError`` (and kin) may come out."""
    for read in ("call_id", "cseq", "via", "from_", "to"):
        with contextlib.suppress(SipParseError):
            getattr(message, read)
    if isinstance(message, Request) and message.uri[:4].lower() in ("sip:", "sips"):
        check_uri_text(message.uri)
    for name, value in message.headers:
        check_header(name, value)


_NAME_ADDR_HEADERS = frozenset(
    ["From", "To", "Contact", "Route", "Record-Route", "Path", "Service-Route",
     "P-Associated-URI", "P-Asserted-Identity", "Refer-To", "Referred-By", "Reply-To"]
)  # fmt: skip


def check_header(name: str, value: str) -> None:
    """Read one header value with the parser that reads it on a received message."""
    elements = split_list(value)
    assert all(e and e == e.strip(" \t") for e in elements), elements
    if name == "Via":
        for element in elements:
            check_via(element)
    elif name in _NAME_ADDR_HEADERS:
        for element in elements if name not in ("From", "To") else [value]:
            check_name_addr(element)
    elif name == "CSeq":
        check_cseq(value)
    elif name in ("WWW-Authenticate", "Proxy-Authenticate"):
        check_challenge_text(value, proxy=name == "Proxy-Authenticate")
        check_auth_params(value)
    elif name in ("Authorization", "Proxy-Authorization"):
        check_auth_params(value)
    elif name in ("Security-Server", "Security-Client", "Security-Verify"):
        check_mechanisms(value)


def check_header_value(value: str) -> None:
    """Every header-level parser on one value (the ``headers`` target)."""
    for element in split_list(value) or [value]:
        check_via(element)
        check_name_addr(element)
    check_name_addr(value)
    check_cseq(value)
    check_param_list(value)
    check_auth_params(value)
    check_mechanisms(value)
    check_uri_text(value)
    check_challenge_text(value)


def check_via(value: str) -> None:
    """``parse_via`` and its fast twin ``via_branch`` agree; a Via writes back as it read."""
    try:
        via = parse_via(value)
    except SipParseError:
        via = None
    try:
        branch = via_branch(value)
    except SipParseError:
        assert via is None, f"via_branch refused {value!r}, which parse_via read"
    else:
        assert via is not None, f"via_branch read {value!r}, which parse_via refused"
        assert branch == via.branch
    if via is None:
        return
    assert parse_via(str(via)) == via, (value, str(via))
    with contextlib.suppress(SipParseError):
        rport = via.rport
        assert rport is None or 0 <= rport <= 65535


def check_name_addr(value: str) -> None:
    """A name-addr or addr-spec that parses writes back (always as name-addr) the same."""
    try:
        addr = parse_name_addr(value)
    except SipParseError:
        return
    text = str(addr)
    assert parse_name_addr(text) == addr, (value, text)
    if addr.uri[:4].lower() in ("sip:", "sips"):
        check_uri_text(addr.uri)


def check_uri_text(text: str) -> None:
    """``parse_uri`` raises only ``SipParseError``; a URI writes back to an equal one."""
    try:
        uri = parse_uri(text)
    except SipParseError:
        try:
            check_uri(text)
        except SipParseError:
            return
        raise AssertionError(f"check_uri passed {text!r}, which parse_uri refused") from None
    check_uri(text)
    written = str(uri)
    again = parse_uri(written)
    assert again == uri, (text, written)
    assert uri_equivalent(uri, again)
    assert aor_lookup_key(uri) == aor_lookup_key(again)


def check_cseq(value: str) -> None:
    """``parse_cseq`` gives a number below 2**31 and a method that write back the same."""
    try:
        number, method = parse_cseq(value)
    except SipParseError:
        return
    assert 0 <= number < 2**31
    assert parse_cseq(f"{number} {method}") == (number, method)


def check_param_list(value: str) -> None:
    """Parameters that parse pass ``check_params`` and write back the same."""
    try:
        params = parse_params(value)
    except SipParseError:
        return
    check_params(params)
    assert parse_params(format_params(params)) == params


def check_auth_params(value: str) -> None:
    """``parse_auth_params`` raises only ``SipParseError``; names come out lower case."""
    try:
        _, params = parse_auth_params(value)
    except SipParseError:
        return
    assert all(name == name.lower() for name in params)


def check_mechanisms(value: str) -> None:
    """A Security-Server list raises only ``SecAgreeError``, and writes back the same."""
    try:
        mechanisms = parse_mechanisms([value])
    except SecAgreeError:
        return
    for mechanism in mechanisms:
        q = mechanism.q
        assert q is None or 0 <= q <= 1
    assert parse_mechanisms([format_mechanisms(mechanisms)]) == mechanisms


def check_headers(data: bytes) -> None:
    """The ``headers`` target: ``data`` as one header value (UTF-8, as the parser gives)."""
    value = text_of(data)
    if value is not None:
        check_header_value(value)


# --------------------------------------------------------------------- stream framing


def _feed(framer: StreamFramer, chunks: Iterable[bytes]) -> tuple[list[Message], bool]:
    """Feed ``chunks``; the messages that came out, and whether the stream failed.

    After an error every later feed must raise too; items are messages or pongs only.
    """
    messages: list[Message] = []
    failed = False
    for chunk in chunks:
        try:
            items = framer.feed(chunk)
        except SipParseError:
            failed = True
            continue
        assert not failed, "a framer must stay failed after an error"
        for item in items:
            assert isinstance(item, Request | Response | Keepalive), item
            if not isinstance(item, Keepalive):
                messages.append(item)
    return messages, failed


def check_stream_chunks(stream: bytes, cuts: Iterable[int]) -> None:
    """``StreamFramer`` raises only ``SipParseError``, and framing ignores chunking.

    The stream fed whole and fed in the pieces ``cuts`` gives the same messages, and
    fails or not alike (only pongs may differ: a lone CRLF read before the rest of a
    ping arrives is a pong). Each message, written out, frames to itself again.
    """
    whole, whole_failed = _feed(StreamFramer(max_size=MAX_SIZE, max_headers=MAX_HEADERS), [stream])
    bounds = sorted({0, len(stream), *(c for c in cuts if 0 < c < len(stream))})
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    framer = StreamFramer(max_size=MAX_SIZE, max_headers=MAX_HEADERS)
    chunked, chunked_failed = _feed(framer, [*pieces, b""])
    assert chunked_failed == whole_failed, (stream, bounds)
    if whole_failed:
        return
    assert chunked == whole, (stream, bounds)
    for message in whole:
        wire = message.to_bytes()
        [again] = StreamFramer(max_size=len(wire), max_headers=MAX_HEADERS + 1).feed(wire)
        assert not isinstance(again, Keepalive)
        assert _sans_length(again) == _sans_length(message)


def check_stream(data: bytes) -> None:
    """The ``stream`` target: the first byte seeds where the rest is cut into reads."""
    if not data:
        return
    rng = random.Random(data[0])
    stream = data[1:]
    cuts = [rng.randrange(len(stream) + 1) for _ in range(rng.randrange(12))]
    if data[0] == 0:  # one byte per read: the framer's worst case
        cuts = list(range(len(stream)))
    check_stream_chunks(stream, cuts)


# --------------------------------------------------------------------- digest challenges


def challenge_text(challenge: Challenge) -> str:
    """``challenge`` written back as a ``WWW-Authenticate`` value (the test's own writer)."""
    parts = [
        f"realm={quote_string(challenge.realm)}",
        f"nonce={quote_string(challenge.nonce)}",
        f"algorithm={quote_string(challenge.algorithm)}",
    ]
    if challenge.qop:
        parts.append(f"qop={quote_string(','.join(challenge.qop))}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote_string(challenge.opaque)}")
    if challenge.stale:
        parts.append("stale=true")
    if challenge.userhash:
        parts.append("userhash=TRUE")
    if challenge.charset is not None:
        parts.append(f"charset={quote_string(challenge.charset)}")
    return "Digest " + ", ".join(parts)


def check_challenge_text(text: str, *, proxy: bool = False) -> None:
    """``parse_challenge`` raises only ``DigestError``; what it reads is consistent.

    A challenge written back reads the same; ``answerable`` and the choosers agree with
    each other; the answer to an answerable one (``authorization``) raises only
    ``DigestError`` and, read with ``parse_auth_params``, echoes realm, nonce and opaque.
    """
    try:
        challenge = parse_challenge(text, proxy=proxy)
    except DigestError:
        return
    assert challenge.scheme == "Digest" and challenge.proxy is proxy
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # no such text comes off the wire
        written = challenge_text(challenge)
        assert parse_challenge(written, proxy=proxy) == challenge, (text, written)
    algorithm = answerable(challenge)
    aka = answerable(challenge, aka=True)
    assert algorithm is None or aka is None, "one algorithm is answered one way"
    assert choose_challenge([challenge]) is (challenge if algorithm else None)
    assert choose_aka_challenge([challenge]) is (challenge if aka else None)
    if algorithm is None:
        return
    try:
        answer = authorization(
            challenge,
            Credentials("alice", "secret"),
            method="REGISTER",
            uri="sip:example.com",
            cnonce="cn",
        )
    except DigestError:
        return
    scheme, params = parse_auth_params(answer)
    assert scheme == "Digest"
    assert (params["realm"], params["nonce"]) == (challenge.realm, challenge.nonce)
    assert params.get("opaque") == challenge.opaque
    assert params["algorithm"] == algorithm.name


def check_challenges(data: bytes) -> None:
    """The ``digest`` target: one or more challenge values, one per line.

    Read as ``Proxy-Authenticate`` when the input has an odd length, else as
    ``WWW-Authenticate``. Every value is read on its own, and the whole text as one
    (folded) value, then the readable ones are chosen among as ``choose_challenge`` does.
    """
    text = text_of(data)
    if text is None:
        return
    proxy = len(data) % 2 == 1
    read: list[Challenge] = []
    for value in [text, *text.split("\n")] if "\n" in text else [text]:
        check_challenge_text(value, proxy=proxy)
        with contextlib.suppress(DigestError):
            read.append(parse_challenge(value, proxy=proxy))
    check_choice(read)


def check_choice(challenges: list[Challenge]) -> None:
    """``choose_challenge`` picks the strongest answerable one, the first on ties."""
    chosen = choose_challenge(challenges)
    ranked = []
    for index, challenge in enumerate(challenges):
        algorithm = answerable(challenge)
        if algorithm is not None:
            ranked.append((algorithm.strength, -index))
    if not ranked:
        assert chosen is None
        return
    _, best = max(ranked)
    assert chosen is challenges[-best]


# --------------------------------------------------------------------- reginfo


def reginfo_xml(document: Reginfo) -> bytes:
    """``document`` written as XML (the test's own writer), to read back."""
    out = [f'<reginfo xmlns="{NAMESPACE}" version="{document.version}" state="{document.state}">']
    for r in document.registrations:
        out.append(
            f"<registration aor={quoteattr(r.aor)} id={quoteattr(r.id)} state={quoteattr(r.state)}>"
        )
        for c in r.contacts:
            extra = "" if c.expires is None else f' expires="{c.expires}"'
            extra += "" if c.retry_after is None else f' retry-after="{c.retry_after}"'
            out.append(
                f"<contact id={quoteattr(c.id)} state={quoteattr(c.state)} "
                f"event={quoteattr(c.event)}{extra}>"
                f"<uri>{escape(c.uri, {chr(13): '&#13;'})}</uri></contact>"
            )
        out.append("</registration>")
    out.append("</reginfo>")
    return "".join(out).encode()


def _has_doctype(body: bytes) -> bool:
    """Whether expat, read independently, sees a DOCTYPE in ``body``."""
    seen: list[str] = []
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.StartDoctypeDeclHandler = lambda name, *_: seen.append(name)
    with contextlib.suppress(expat.ExpatError, ValueError):
        parser.Parse(body, True)
    return bool(seen)


def check_reginfo(body: bytes) -> None:
    """``parse_reginfo`` raises only ``ReginfoError``; what it accepts is sound.

    No document with a DOCTYPE is accepted (so no entity is ever expanded); values are
    the ones RFC 3680 defines; the document written back reads the same; and a
    ``BindingView`` for any of its contacts takes it without raising.
    """
    try:
        document = parse_reginfo(body)
    except ReginfoError:
        return
    assert len(body) <= MAX_BYTES
    assert not _has_doctype(body), "a document with a DOCTYPE was accepted"
    assert document.state in DOCUMENT_STATES and document.version >= 0
    for registration in document.registrations:
        assert registration.state in REGISTRATION_STATES
        for contact in registration.contacts:
            assert contact.state in CONTACT_STATES and contact.event in CONTACT_EVENTS
            assert contact.uri and contact.uri == contact.uri.strip(" \t\r\n")
            assert contact.expires is None or contact.expires >= 0
            assert contact.retry_after is None or contact.retry_after >= 0
    written = reginfo_xml(document)
    assert parse_reginfo(written) == document, written
    views = [BindingView("sip:alice@ims.example.net", "sip:3f2a@192.0.2.10:5062")]
    for registration in document.registrations[:4]:
        for contact in registration.contacts[:4]:
            views.append(BindingView(registration.aor, contact.uri))
    for view in views:
        news = view.apply(document)
        assert view.version == document.version or news.need_full or document.state != "full"


# --------------------------------------------------------------------- D-Bus settings

#: Integer D-Bus types and their ranges.
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "y": (0, 2**8 - 1),
    "n": (-(2**15), 2**15 - 1),
    "q": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "u": (0, 2**32 - 1),
    "x": (-(2**63), 2**63 - 1),
    "t": (0, 2**64 - 1),
    "h": (0, 2**32 - 1),
}


def is_bus_string(value: object) -> bool:
    """A string D-Bus can carry: valid UTF-8 (no lone surrogate), no NUL."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def typed_from_json(item: object) -> Typed | None:
    """``[signature, value]`` as the ``Typed`` pair ``bus.values.unwrap`` would give.

    None when the value is not of its signature: dbus-fast never delivers such a pair.
    """
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
        return None
    signature, value = item
    if signature in ("s", "o", "g"):
        return (signature, value) if is_bus_string(value) else None
    if signature == "b":
        return (signature, value) if isinstance(value, bool) else None
    if signature in INTEGER_RANGES:
        low, high = INTEGER_RANGES[signature]
        ok = type(value) is int and low <= value <= high
        return (signature, value) if ok else None
    if signature == "d":
        ok = type(value) in (int, float)
        return (signature, float(value)) if ok else None
    if signature in ("as", "ao"):
        ok = isinstance(value, list) and all(is_bus_string(v) for v in value)
        return (signature, value) if ok else None
    if signature == "ay":
        ok = isinstance(value, list) and all(type(v) is int and 0 <= v <= 255 for v in value)
        return (signature, bytes(value)) if ok else None
    if signature == "(ss)":
        ok = isinstance(value, list) and len(value) == 2 and all(map(is_bus_string, value))
        return (signature, value) if ok else None
    if signature == "a{ss}":
        ok = isinstance(value, dict) and all(map(is_bus_string, [*value, *value.values()]))
        return (signature, value) if ok else None
    if signature == "a{sv}":
        inner = settings_from_json(value)
        return None if inner is None else (signature, inner)
    return None


def settings_from_json(value: object) -> dict[str, Typed] | None:
    """A JSON object of ``[signature, value]`` items as an ``a{sv}`` off the bus, or None."""
    if not isinstance(value, dict):
        return None
    out: dict[str, Typed] = {}
    for key, item in value.items():
        typed = typed_from_json(item)
        if typed is None or not is_bus_string(key):
            return None
        out[key] = typed
    return out


#: The profiles an Update is validated against: plain, the default one with AKA keys
#: and a registrar password, and an IMS one.
CURRENTS: tuple[ProfileSettings | None, ...] = (
    None,
    ProfileSettings(type="internet", aor="sip:alice@example.com"),
    ProfileSettings(
        type="ims",
        aor="sip:+15551234@ims.example.net",
        default=True,
        registrar=ServerSettings("sip:ims.example.net", "alice", "", has_password=True),
        aka=AkaSettings(has_keys=True),
    ),
)
_SECRETS = (
    ("Registrar", "Password"),
    ("OutboundProxy", "Password"),
    ("Aka", "K"),
    ("Aka", "OP"),
    ("Aka", "OPc"),
)


def _secrets(raw: Mapping[str, Typed]) -> tuple[list[str], dict[str, Typed]]:
    """The write-only values in ``raw``, and ``raw`` without them."""
    found = []
    rest = dict(raw)
    for setting, key in _SECRETS:
        signature, value = rest.get(setting, ("", None))
        if signature == "a{sv}" and isinstance(value, dict):
            inner = value.get(key)
            if inner is not None and inner[0] == "s":
                found.append(inner[1])
                rest[setting] = (signature, {k: v for k, v in value.items() if k != key})
    return found, rest


def _strings(value: object) -> Iterable[str]:
    """Every string inside a ``Typed`` structure, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _as_typed(key: str, value: Any) -> Typed | None:
    """A normalised setting written again as the client would send it, or None."""
    signature = SETTINGS[key]
    if signature == "a{ss}":
        return signature, dict(value)
    if signature == "as":
        return signature, list(value)
    if signature == "a{sv}":
        return (signature, dict(value)) if key == "Extensions" else None
    return signature, value


def check_settings_raw(raw: Mapping[str, Typed]) -> None:
    """``validate_changes`` raises only ``InvalidArgument`` or ``ReadOnly``.

    Against each of ``CURRENTS``. Its messages never repeat a password or AKA key that
    was written, nor do the settings it returns; a setting it normalised validates
    again to the same value.
    """
    # Secrets that can be told apart: long, with a letter or digit (so no run of
    # punctuation a message has too), and found nowhere else in what was sent (a
    # message may well quote the other values).
    secrets, rest = _secrets(raw)
    others = list(_strings(rest))
    secrets = [
        s
        for s in secrets
        if len(s) >= 8 and any(c.isalnum() for c in s) and not any(s in o for o in others)
    ]
    for current in CURRENTS:
        try:
            changes = validate_changes(raw, current=current)
        except (InvalidArgument, ReadOnly) as exc:
            assert exc.message == str(exc)
            for secret in secrets:
                assert secret not in exc.message, f"{exc.message!r} repeats a secret"
            continue
        assert set(changes.settings) <= set(FIELDS.values())
        assert set(changes.passwords) <= {"registrar", "proxy"}
        shown = repr(changes.settings)
        for secret in secrets:
            assert secret not in shown, "a secret ended up in the readable settings"
        for key, typed in raw.items():
            field = FIELDS.get(key)
            if field is None or field not in changes.settings or key in ("Default", "Type"):
                continue
            again = _as_typed(key, changes.settings[field])
            if again is not None and again != typed:
                revalidated = validate_changes({key: again}, current=current)
                assert revalidated.settings[field] == changes.settings[field], key


def check_settings(data: bytes) -> None:
    """The ``settings`` target: a JSON object of ``[signature, value]`` items."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return
    raw = settings_from_json(value)
    if raw is not None:
        check_settings_raw(raw)


# --------------------------------------------------------------------- REGISTER responses

#: Our Contact in the machines below (and in the registration seed corpus).
CONTACT = "sip:3f2a9c1e7d5b4a60@192.0.2.10:5062"


def _config(**changes: Any) -> RegistrationConfig:
    base: dict[str, Any] = {
        "aor": "sip:alice@example.com",
        "registrar": "sip:example.com",
        "contact": CONTACT,
        "call_id": "callid-1",
        "from_tag": "tag-1",
        "via_transport": "UDP",
        "via_sent_by": "192.0.2.10:5062",
        "reliable": False,
        "credentials": Credentials("alice", "alice-secret"),
    }
    return RegistrationConfig(**(base | changes))


def _machine(**changes: Any) -> Registration:
    branches = (f"z9hG4bK-{n}" for n in itertools.count(1))
    return Registration(
        _config(**changes),
        branch_factory=lambda: next(branches),
        random=lambda: 0.5,
        cnonce_factory=lambda: "cnonce",
    )


def _answer(request_data: bytes, status: int, *extra: tuple[str, str]) -> Response:
    request = parse_message(request_data)
    lines = [(n, v) for n, v in request.headers if n in ("Via", "From", "Call-ID", "CSeq")]
    lines += [("To", f"{request.headers.get('To')};tag=srv"), *extra]
    return Response(status, "X", Headers(lines))


def _requests(events: Iterable[object]) -> list[SendRequest]:
    return [e for e in events if isinstance(e, SendRequest)]


def _scenarios() -> list[tuple[Registration, Callable[[], list[SendRequest]]]]:
    """Machines about to have a REGISTER in flight, each at another point of its life."""
    fresh = _machine()
    ims = _machine(
        aor="sip:alice@ims.example.com",
        registrar="sip:ims.example.com",
        credentials=Credentials("alice@ims.example.com", "secret"),
        proxy_credentials=Credentials("alice", "proxy-secret", "proxy.example.org"),
        initial_authorization=True,
        security_agreement=True,
        outbound=True,
        instance_id="urn:uuid:00000000-0000-1000-8000-000A95A0E128",
        option_tags=("path",),
        temporary_retries=1,
        route=("sip:pcscf.ims.example.com;lr",),
    )
    refreshing = _machine()
    leaving = _machine()

    def refresh() -> list[SendRequest]:
        [first] = _requests(refreshing.register(0.0))
        challenge = ("WWW-Authenticate", 'Digest realm="example.com", nonce="n1", qop="auth"')
        [second] = _requests(refreshing.receive(_answer(first.data, 401, challenge), 0.1))
        ok = _answer(second.data, 200, ("Contact", f"<{CONTACT}>;expires=600"))
        refreshing.receive(ok, 0.2)
        assert refreshing.state is State.REGISTERED
        return _requests(refreshing.timer(1000.0))  # the refresh is due

    def deregister() -> list[SendRequest]:
        leaving.register(0.0)
        return _requests(leaving.deregister(0.1))

    return [
        (fresh, lambda: _requests(fresh.register(0.0))),
        (ims, lambda: _requests(ims.register(0.0))),
        (refreshing, refresh),
        (leaving, deregister),
    ]


_LIVE = (State.REGISTERING, State.DEREGISTERING, State.RETRYING, State.REGISTERED)


def check_registration(data: bytes) -> None:
    """A REGISTER's response, whatever it says, moves the machine on without raising.

    ``data`` is a response in which ``$BRANCH`` and ``$CSEQ`` stand for the branch
    and CSeq number of the REGISTER in flight, so that it matches it (RFC 3261
    §17.1.3). ``Registration.receive`` must not raise, whatever the headers hold
    (the functions it reads them with skip what they cannot read), and must leave
    the machine alive: in a state that waits for something, with a finite deadline.
    """
    for machine, start in _scenarios():
        [request] = start()
        message = parse_message(request.data)
        branch = message.via[0].branch or ""
        number = str(message.cseq[0])
        wire = data.replace(b"$BRANCH", branch.encode()).replace(b"$CSEQ", number.encode())
        try:
            response = parse_message(wire)  # the transport's limits
        except SipParseError:
            continue
        if not isinstance(response, Response):
            continue
        machine.receive(response, 0.5)
        deadline = machine.next_deadline()
        assert deadline is None or math.isfinite(deadline), deadline
        if machine.state in _LIVE:
            assert deadline is not None, f"{machine.state} with nothing to wait for"


#: Target name -> the check of one input, as libFuzzer gives it.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "message": check_message,
    "stream": check_stream,
    "headers": check_headers,
    "digest": check_challenges,
    "reginfo": check_reginfo,
    "settings": check_settings,
    "registration": check_registration,
}
