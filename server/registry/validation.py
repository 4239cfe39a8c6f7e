"""Checks every setting a client sends, before anything is stored.

One function per setting, each returning the normalised value or raising
``InvalidArgument`` with a message for a person. Signatures are checked first, so a
checker only sees values of the right Python type. Nothing here touches storage: a
rejected call changes nothing because validation finishes before the transaction
starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any, Final

from sipprofile.proto.schema import (
    AKA_WRITABLE_KEYS,
    CREATE_ONLY,
    EXTENSION_SIGNATURES,
    SERVER_WRITABLE_KEYS,
    SETTINGS,
    STATUS,
)
from sipprofile.server.errors import InvalidArgument, ReadOnly
from sipprofile.server.sip.errors import SipParseError
from sipprofile.server.sip.grammar import (
    is_header_name,
    is_header_value,
    is_host,
    is_quoted_string,
    is_token,
)
from sipprofile.server.sip.uri import SipUri, parse_uri

from .access_point import AccessPointError, interface_names
from .aka import merge_aka
from .model import (
    FIELDS,
    SERVER_OF_SETTING,
    AkaSettings,
    ProfileSettings,
    ServerSettings,
    Typed,
    ValidChanges,
)

MAX_TEXT: Final = 256
MAX_URI: Final = 1024
MAX_ITEMS: Final = 32
MAX_EXTENSIONS: Final = 64
MAX_EXTENSION_TEXT: Final = 4096
SUPPORTED_TRANSPORTS: Final = ("udp", "tcp", "tls")

#: Headers the daemon writes itself; letting a client add them would corrupt the
#: REGISTER (compact forms included, RFC 3261 §7.3.3).
RESERVED_HEADERS: Final = frozenset(
    {
        "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "contact", "m",
        "expires", "content-length", "l", "content-type", "c", "max-forwards",
        "authorization", "proxy-authorization", "route", "record-route",
        "security-client", "security-verify",
    }
)  # fmt: skip
#: Contact parameters the daemon manages itself (expiry, RFC 5626 flows, SigComp).
RESERVED_CONTACT_PARAMS: Final = frozenset({"expires", "reg-id", "comp"})
MAX_PARAM_NAME: Final = 64
MAX_PARAM_VALUE: Final = 256
#: All the text of a profile's Extensions together: the profile is sent whole in
#: every GetManagedObjects reply, which must stay far below the bus's message limit.
MAX_EXTENSIONS_TOTAL: Final = 16384

_TYPE_WORDS: Final = {
    "s": "a string",
    "b": "a boolean",
    "t": "an unsigned 64-bit integer",
    "u": "an unsigned 32-bit integer",
    "i": "a 32-bit integer",
    "x": "a 64-bit integer",
    "as": "an array of strings",
    "a{sv}": "a dictionary of variants",
    "a{ss}": "a dictionary of strings",
    "(ss)": "a pair of strings",
}


#: URIs are parsed several times per request (validation, lookup key); a parsed
#: ``SipUri`` is immutable, so a small cache serves them all.
parse_uri_cached: Final = lru_cache(maxsize=1024)(parse_uri)


def describe_type(signature: str) -> str:
    """'b' -> "'b' (a boolean)": type errors name the D-Bus type and say it in words."""
    words = _TYPE_WORDS.get(signature)
    return f"'{signature}' ({words})" if words else f"'{signature}'"


def _expect(where: str, expected: str, got: Typed) -> Any:
    signature, value = got
    if signature != expected:
        raise InvalidArgument(
            f"{where} must be of D-Bus type {describe_type(expected)}, "
            f"not {describe_type(signature)}"
        )
    return value


def _text(where: str, value: str, limit: int = MAX_TEXT) -> str:
    if len(value) > limit:
        raise InvalidArgument(f"{where} is too long ({len(value)} characters; at most {limit})")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value):
        raise InvalidArgument(f"{where} must not contain control characters or line breaks")
    return value


_URI_PASSWORD: Final = re.compile(r"^(sips?:[^:@;?]*):[^@;?]*@", re.IGNORECASE)


def redact(uri: str) -> str:
    """A URI as it may be shown: a password someone typed into it is masked."""
    return _URI_PASSWORD.sub(r"\1:***@", uri)


def _uri(where: str, value: str) -> SipUri:
    _text(where, value, MAX_URI)
    try:
        return parse_uri_cached(value)
    except SipParseError as exc:
        raise InvalidArgument(f"{where} {redact(value)!r} is not a valid SIP URI: {exc}") from None


def check_aor(value: str) -> str:
    """The AOR is the To of every REGISTER: a sip:/sips: URI naming a user."""
    if not value:
        raise InvalidArgument("Aor is required: a sip: or sips: URI such as sip:alice@example.com")
    uri = _uri("Aor", value)
    if not uri.user:
        raise InvalidArgument(
            f"Aor {value!r} has no user part; an address of record looks like sip:alice@example.com"
        )
    if uri.password is not None:
        raise InvalidArgument("Aor must not carry a password; set Registrar.Password instead")
    if uri.headers:
        raise InvalidArgument(f"Aor {value!r} must not have URI headers ('?...')")
    if uri.secure and uri.transport == "udp":
        raise InvalidArgument(f"Aor {value!r}: a sips: URI cannot use transport=udp")
    return value


def check_server_uri(where: str, value: str) -> str:
    """Registrar and proxy URIs name a host, never a user (RFC 3261 §10.2)."""
    if not value:
        return value
    uri = _uri(where, value)
    shown = redact(value)
    if uri.user is not None:
        raise InvalidArgument(
            f"{where} {shown!r} must not have a user part; write it as sip:host[:port]"
        )
    if uri.headers:
        raise InvalidArgument(f"{where} {shown!r} must not have URI headers ('?...')")
    if uri.port == 0:
        raise InvalidArgument(f"{where} {shown!r}: port 0 is not a port to send to")
    if uri.has_param("transport") and not uri.transport:
        raise InvalidArgument(f"{where} {shown!r}: ;transport needs a value (udp, tcp or tls)")
    transport = uri.transport
    if transport is not None and transport not in SUPPORTED_TRANSPORTS:
        raise InvalidArgument(
            f"{where}: transport {transport!r} is not supported; use udp, tcp or tls"
        )
    if uri.secure and transport == "udp":
        raise InvalidArgument(f"{where}: a sips: URI needs TLS and cannot use transport=udp")
    return value


def _check_identity(value: str) -> str:
    _text("PrivateIdentity", value)
    if value and (
        any(c.isspace() for c in value)
        or "@" not in value
        or value.startswith("@")
        or value.endswith("@")
    ):
        raise InvalidArgument(
            f"PrivateIdentity {value!r} must be a network access identifier "
            "such as user@ims.example.com"
        )
    return value


def _check_contact_params(value: Mapping[str, str]) -> dict[str, str]:
    if len(value) > MAX_ITEMS:
        raise InvalidArgument(f"ContactParams has {len(value)} entries; at most {MAX_ITEMS}")
    for name, param in value.items():
        if len(name) > MAX_PARAM_NAME or len(param) > MAX_PARAM_VALUE:
            raise InvalidArgument(
                f"ContactParams: {name[:40]!r} is too long (names up to {MAX_PARAM_NAME}, "
                f"values up to {MAX_PARAM_VALUE} characters)"
            )
        if not is_token(name):
            raise InvalidArgument(f"ContactParams: {name!r} is not a valid parameter name")
        if name.lower() in RESERVED_CONTACT_PARAMS:
            raise InvalidArgument(
                f"ContactParams: {name!r} is managed by the daemon and cannot be set"
            )
        if param and not (is_token(param) or is_quoted_string(param) or is_host(param)):
            raise InvalidArgument(
                f"ContactParams: the value of {name!r} must be a token or a quoted string "
                f'(e.g. "<urn:uuid:...>" with the quotes), not {param!r}'
            )
    return dict(value)


def _check_headers(value: list[str]) -> tuple[str, ...]:
    if len(value) > MAX_ITEMS:
        raise InvalidArgument(f"Headers has {len(value)} entries; at most {MAX_ITEMS}")
    lines = []
    for line in value:
        name, colon, content = line.partition(":")
        name, content = name.strip(), content.strip()
        if not colon or not is_header_name(name):
            raise InvalidArgument(f"Headers: {line!r} is not a header line 'Name: value'")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidArgument(
                f"Headers: {name} is written by the daemon itself and cannot be added"
            )
        if not content or len(line) > MAX_URI or not is_header_value(content):
            raise InvalidArgument(f"Headers: the value of {name} is empty or not valid text")
        lines.append(f"{name}: {content}")
    return tuple(lines)


def _check_extensions(value: Mapping[str, Typed]) -> dict[str, Typed]:
    if len(value) > MAX_EXTENSIONS:
        raise InvalidArgument(f"Extensions has {len(value)} entries; at most {MAX_EXTENSIONS}")
    for key, (signature, item) in value.items():
        if not key or len(key) > 128 or any(c.isspace() or not c.isprintable() for c in key):
            raise InvalidArgument(
                f"Extensions: {key!r} is not a valid key (1-128 printable, no spaces)"
            )
        if signature not in EXTENSION_SIGNATURES:
            allowed = ", ".join(describe_type(s) for s in EXTENSION_SIGNATURES)
            raise InvalidArgument(
                f"Extensions: {key} has D-Bus type {describe_type(signature)}; allowed: {allowed}"
            )
        texts = item if signature == "as" else [item] if signature == "s" else []
        if signature == "as" and len(item) > MAX_EXTENSIONS:
            raise InvalidArgument(f"Extensions: {key} has more than {MAX_EXTENSIONS} strings")
        for text in texts:
            _text(f"Extensions: {key}", text, MAX_EXTENSION_TEXT)
    total = sum(
        len(key) + (len(item) if sig == "s" else sum(map(len, item)) if sig == "as" else 8)
        for key, (sig, item) in value.items()
    )
    if total > MAX_EXTENSIONS_TOTAL:
        raise InvalidArgument(
            f"Extensions hold {total} characters in all; at most {MAX_EXTENSIONS_TOTAL}"
        )
    return dict(value)


def _check_access_point(value: str) -> str:
    """'' or interface names in order of preference, which the engine can bind to."""
    _text("AccessPoint", value)
    try:
        interface_names(value)
    except AccessPointError as exc:
        raise InvalidArgument(str(exc)) from None
    return value


_CHECKERS: Final[dict[str, Callable[[Any], Any]]] = {
    "ProviderName": lambda v: _text("ProviderName", v),
    "Aor": check_aor,
    "AccessPoint": _check_access_point,
    "SigComp": bool,
    "SecurityNegotiation": bool,
    "AutoRegistration": bool,
    "Default": bool,
    "PrivateIdentity": _check_identity,
    "ContactParams": _check_contact_params,
    "Headers": _check_headers,
    "Extensions": _check_extensions,
}


def _merge_server(
    setting: str, raw: Mapping[str, Typed], current: ServerSettings
) -> tuple[ServerSettings, str | None]:
    """Merge a written server dictionary into the current one.

    Merging (not replacing) is what makes a write-only password workable: a client
    that changes the URI cannot resend a password it was never allowed to read.
    """
    merged = current
    password: str | None = None
    for key, typed in raw.items():
        where = f"{setting}.{key}"
        if key == "HasPassword":
            raise ReadOnly(f"{where} is read-only; write {setting}.Password instead")
        if key not in SERVER_WRITABLE_KEYS:
            known = ", ".join(SERVER_WRITABLE_KEYS)
            raise InvalidArgument(f"{setting}: unknown key {key!r}; known keys are {known}")
        value = _expect(where, SERVER_WRITABLE_KEYS[key], typed)
        if key == "Uri":
            merged = replace(merged, uri=check_server_uri(f"{setting}.Uri", value))
        elif key == "Password":
            password = _text(where, value, MAX_TEXT)
            merged = replace(merged, has_password=bool(value))
        elif key == "Username":
            merged = replace(merged, username=_text(where, value))
        else:
            merged = replace(merged, realm=_text(where, value))
    return merged, password


def _check_aka(
    raw: Mapping[str, Typed], current: AkaSettings
) -> tuple[AkaSettings, dict[str, str]]:
    """Check the keys and types of a written ``Aka`` dictionary, then merge it.

    The rules of the keys' values and of merging live in ``aka.merge_aka``.
    """
    values: dict[str, Any] = {}
    for key, typed in raw.items():
        if key == "HasKeys":
            raise ReadOnly("Aka.HasKeys is read-only; write Aka.K with OP or OPc instead")
        if key not in AKA_WRITABLE_KEYS:
            known = ", ".join(AKA_WRITABLE_KEYS)
            raise InvalidArgument(f"Aka: unknown key {key!r}; known keys are {known}")
        values[key] = _expect(f"Aka.{key}", AKA_WRITABLE_KEYS[key], typed)
    return merge_aka(values, current)


def validate_changes(raw: Mapping[str, Typed], *, current: ProfileSettings | None) -> ValidChanges:
    """Validate a CreateProfile (``current`` is None) or Update request.

    Returns the new values by field name; raises on the first bad key, in the order
    the caller sent them, so the message names exactly one problem.
    """
    creating = current is None
    settings: dict[str, Any] = {}
    passwords: dict[str, str] = {}
    aka: dict[str, str] = {}
    for key, typed in raw.items():
        if key in STATUS:
            raise ReadOnly(f"{key} is a status property kept by the daemon; it cannot be written")
        if key not in SETTINGS:
            known = ", ".join(SETTINGS)
            raise InvalidArgument(f"unknown setting {key!r}; the settings are: {known}")
        if key in CREATE_ONLY and not creating:
            raise ReadOnly(
                f"{key} is fixed when a profile is created; create a new profile instead"
            )
        if key in SERVER_OF_SETTING:
            value = _expect(key, "a{sv}", typed)
            base = getattr(current, FIELDS[key]) if current else ServerSettings()
            merged, password = _merge_server(key, value, base)
            settings[FIELDS[key]] = merged
            if password is not None:
                passwords[SERVER_OF_SETTING[key]] = password
            continue
        if key == "Aka":
            value = _expect(key, "a{sv}", typed)
            settings["aka"], aka = _check_aka(value, current.aka if current else AkaSettings())
            continue
        value = _expect(key, SETTINGS[key], typed)
        checker = _CHECKERS.get(key)
        settings[FIELDS[key]] = checker(value) if checker else value
    if current is not None and current.default and settings.get("default") is False:
        raise InvalidArgument(
            "Default can only be set to true; make another profile the default instead"
        )
    if not creating and settings.get("default") is False:
        del settings["default"]
    return ValidChanges(settings=settings, passwords=passwords, aka=aka)
