"""Plain Python values to D-Bus variants and back, driven by :mod:`sipprofile.proto.schema`.

Callers write ``{"Aor": "sip:alice@example.com", "SigComp": True}``; the bus needs
``a{sv}`` with the *contract's* signature for every key (``Expires`` is ``u``, not
the ``x`` a Python ``int`` would suggest). The signatures come from the schema so
the client cannot drift from the daemon.

Validation is the daemon's job. When a value does not fit the contract's type, or
the key is unknown, the value is still sent, with a signature guessed from its
Python type, so the daemon answers with its own ``InvalidArgument`` naming the key
and the expected type, exactly as it would for any other client. Only values with no
D-Bus form at all (``None``, arbitrary objects) are refused here, because they
cannot be put on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dbus_fast import Variant
from dbus_fast.errors import DBusFastError

from sipprofile.client.errors import InvalidArgument
from sipprofile.proto.schema import AKA_WRITABLE_KEYS, PROPERTIES, SERVER_WRITABLE_KEYS

__all__ = [
    "SERVER_SETTINGS",
    "extension_variant",
    "guess_variant",
    "settings_to_variants",
    "typed_variant",
    "unpack",
]

#: Settings whose value is a server dictionary (Uri, Username, Realm, Password).
SERVER_SETTINGS: Final = frozenset({"Registrar", "OutboundProxy"})

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_INTEGER_SIGNATURES: Final = frozenset("ynqiuxt")


def guess_variant(value: object, *, what: str = "value") -> Variant:
    """A variant for ``value`` with the signature its Python type suggests.

    bool → ``b``, int → ``x`` (``t`` above the int64 range), float → ``d``,
    str → ``s``, bytes → ``ay``, a list of strings → ``as``, other sequences →
    ``av``, a mapping with string keys → ``a{sv}``; a :class:`Variant` is kept as is.
    ``what`` names the value in the error for something that cannot be sent.
    """
    if isinstance(value, Variant):
        return value
    if isinstance(value, bool):
        return Variant("b", value)
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return Variant("x", value)
        if 0 <= value <= _UINT64_MAX:
            return Variant("t", value)
        raise InvalidArgument(f"{what}: the integer {value} does not fit in 64 bits")
    if isinstance(value, float):
        return Variant("d", value)
    if isinstance(value, str):
        return Variant("s", value)
    if isinstance(value, bytes | bytearray):
        return Variant("ay", bytes(value))
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return Variant("as", list(value))
        return Variant(
            "av", [guess_variant(item, what=f"{what}[{i}]") for i, item in enumerate(value)]
        )
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise InvalidArgument(f"{what}: dictionary keys must be strings")
        return Variant(
            "a{sv}", {key: guess_variant(item, what=f"{what}.{key}") for key, item in value.items()}
        )
    raise InvalidArgument(f"{what}: a {type(value).__name__} cannot be sent on D-Bus")


def _fits(signature: str, value: object) -> bool:
    """Whether ``value`` is a valid Python form of ``signature``.

    dbus-fast accepts ``True`` for integer types (bool is an int); we do not,
    so that ``{"Expires": True}`` reaches the daemon as the mistake it is.
    """
    if signature in _INTEGER_SIGNATURES and isinstance(value, bool):
        return False
    try:
        Variant(signature, value)
    except (DBusFastError, TypeError, ValueError, AttributeError):
        return False
    return True


def typed_variant(value: object, signature: str | None, *, what: str = "value") -> Variant:
    """A variant of the contract's ``signature`` when ``value`` fits it, else a guess.

    Tuples are accepted for arrays and structs, and any mapping for dictionaries,
    since dbus-fast itself wants ``list`` and ``dict``.
    """
    if isinstance(value, Variant):
        return value
    if signature is not None:
        candidate: object = value
        if isinstance(value, tuple) and signature[0] in "a(":
            candidate = list(value)
        elif isinstance(value, Mapping) and not isinstance(value, dict):
            candidate = dict(value)
        if _fits(signature, candidate):
            return Variant(signature, candidate)
    return guess_variant(value, what=what)


def extension_variant(value: object, *, what: str = "Extensions value") -> Variant:
    """The variant for one ``Extensions`` value.

    str → ``s``, bool → ``b``, int → ``x``, list of str → ``as``; pass a
    :class:`Variant` to choose another of the accepted types (``i``, ``u``, ``t``).
    """
    return guess_variant(value, what=what)


def _server_dict(
    setting: str, value: Mapping[Any, object], types: Mapping[str, str] = SERVER_WRITABLE_KEYS
) -> Variant:
    """``a{sv}`` for a Registrar/OutboundProxy (or Aka) dictionary, known keys typed by schema."""
    body: dict[str, Variant] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"{setting}: dictionary keys must be strings")
        body[key] = typed_variant(item, types.get(key), what=f"{setting}.{key}")
    return Variant("a{sv}", body)


def setting_variant(key: str, value: object) -> Variant:
    """The variant for one setting (or any other key, for the daemon to judge)."""
    if isinstance(value, Variant):
        return value
    if isinstance(value, Mapping):
        if key in SERVER_SETTINGS:
            return _server_dict(key, value)
        if key == "Aka":  # SQN is ``t``, which a Python int would not be guessed as
            return _server_dict(key, value, AKA_WRITABLE_KEYS)
        if key == "Extensions":
            body: dict[str, Variant] = {}
            for ext_key, item in value.items():
                if not isinstance(ext_key, str):
                    raise InvalidArgument("Extensions: keys must be strings")
                body[ext_key] = extension_variant(item, what=f"Extensions.{ext_key}")
            return Variant("a{sv}", body)
    # Status keys get their real signature too, so writing one is answered with
    # ReadOnly rather than a type complaint.
    return typed_variant(value, PROPERTIES.get(key), what=key)


def settings_to_variants(settings: Mapping[str, object]) -> dict[str, Variant]:
    """Convert a settings mapping (``CreateProfile`` / ``Update`` keys) to ``a{sv}``."""
    result: dict[str, Variant] = {}
    for key, value in settings.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"setting names must be strings, not {type(key).__name__}")
        result[key] = setting_variant(key, value)
    return result


def unpack(value: Any) -> Any:
    """Strip variants recursively and turn structs (tuples) into lists.

    The result is plain JSON-able data (for everything the contract uses), which
    is what attribute readers and ``as_dict`` want.
    """
    if isinstance(value, Variant):
        return unpack(value.value)
    if isinstance(value, dict):
        return {key: unpack(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [unpack(item) for item in value]
    return value
