"""What the ``settings`` target checks: validation of D-Bus profile settings.

``validate_changes`` on what ``bus.values.unwrap`` makes of a client's argument raises
only ``InvalidArgument`` or ``ReadOnly``, never repeats a secret, and normalises stably.
Also the JSON form of D-Bus values the atheris target and the seed corpus use.
Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

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
