"""``GetManagedObjects`` written from stored wire fragments, not from variants.

A 10,000-profile reply is 12 MB; building a dbus-fast ``Variant`` per property and
marshalling them costs several times the latency budget. Instead each profile's
settings are marshalled once, when they are written, into a fragment stored beside
them (``profiles.wire``); the reply splices fragments together with the parts that
live in memory (id, type class, status). Nothing is cached in RAM per profile.

Fragments are position-independent: every ``{sv}`` entry starts at an 8-aligned
offset, and alignment inside an entry is relative to that start. The property order
and values are those of ``values.profile_properties``; a test decodes both and
compares them.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final

from sipprofile.proto.names import PROFILE_INTERFACE, profile_path
from sipprofile.server.registry.model import IDLE, ProfileStatus
from sipprofile.server.store.profiles import Row

from .introspection import STANDARD_INTERFACE_NAMES
from .wire import Writer, prefix

#: Bump when ``encode_settings`` changes: stored fragments are then rebuilt at start.
#: 2: ``Aka`` ({HasKeys}) after ``PrivateIdentity``.
WIRE_FORMAT: Final = 2

_U32: Final = struct.Struct("<I").pack
_U64: Final = struct.Struct("<Q").pack
_PAD: Final = tuple(b"\0" * n for n in range(8))


def _server(w: Writer, uri: str, username: str, realm: str, has_password: int) -> None:
    w.value(
        "a{sv}",
        {
            "Uri": ("s", uri),
            "Username": ("s", username),
            "Realm": ("s", realm),
            "HasPassword": ("b", bool(has_password)),
        },
    )


def encode_settings(row: Row) -> bytes:
    """The ``{sv}`` entries Type..Extensions of one ``store.profiles.SELECT`` row.

    ``Aka`` is only the row's ``has_aka_keys`` flag: the keys are not in the row at all.
    """
    w = Writer()
    w.entry("Type", "s", row[1])
    w.entry("ProviderName", "s", row[2])
    w.entry("Aor", "s", row[3])
    w.entry("AccessPoint", "s", row[4])
    w.align(8)
    w.buf += prefix("Registrar", "a{sv}")
    _server(w, row[5], row[6], row[7], row[20])
    w.align(8)
    w.buf += prefix("OutboundProxy", "a{sv}")
    _server(w, row[8], row[9], row[10], row[21])
    w.entry("SigComp", "b", row[11])
    w.entry("SecurityNegotiation", "b", row[12])
    w.entry("AutoRegistration", "b", row[13])
    w.entry("Default", "b", row[14])
    w.entry("PrivateIdentity", "s", row[15])
    w.entry("Aka", "a{sv}", {"HasKeys": ("b", bool(row[22]))})
    w.entry("ContactParams", "a{ss}", json.loads(row[16]))
    w.entry("Headers", "as", json.loads(row[17]))
    extensions = {k: (sig, value) for k, (sig, value) in json.loads(row[18]).items()}
    w.entry("Extensions", "a{sv}", extensions)
    return bytes(w.buf)


def _status_blob(status: ProfileStatus) -> bytes:
    """Entries State..Flow of one status, starting 8-aligned."""
    w = Writer()
    w.entry("State", "s", status.state)
    w.entry("Holders", "u", status.holders)
    w.entry("RegisteredAors", "as", list(status.registered_aors))
    w.entry("RegisteredContact", "s", status.registered_contact)
    w.entry("ServiceRoute", "as", list(status.service_route))
    w.entry("NegotiatedSecurity", "s", status.negotiated_security)
    w.entry("Expires", "u", status.expires)
    w.entry("LastError", "(ss)", list(status.last_error))
    w.entry("Flow", "(sss)", list(status.flow))
    return bytes(w.buf)


def _standard_interfaces_blob() -> bytes:
    """The empty-property entries for Peer, Introspectable and Properties."""
    w = Writer()
    for name in STANDARD_INTERFACE_NAMES:
        w.align(8)
        w.string(name)
        mark = w.begin_array(8)
        w.end_array(mark)
    return bytes(w.buf)


_IDLE_STATUS: Final = _status_blob(IDLE)
_STANDARD: Final = _standard_interfaces_blob()
_ID_PREFIX: Final = prefix("Id", "t")
_IFACE: Final = PROFILE_INTERFACE.encode()
#: string(PROFILE_INTERFACE), then the a{sv} length field's alignment.
_IFACE_HEAD: Final = _U32(len(_IFACE)) + _IFACE + b"\0" + _PAD[-(len(_IFACE) + 5) % 4]


def write_profile_entry(
    buf: bytearray,
    profile_id: int,
    fragment: bytes,
    status: ProfileStatus,
    class_entry: bytes,
) -> None:
    """``{o, a{sa{sv}}}`` of one profile, appended at an 8-aligned offset of ``buf``.

    The same bytes are a ``GetManagedObjects`` dict entry and the whole body of an
    ``InterfacesAdded`` signal.
    """
    path = profile_path(profile_id).encode()
    buf += _U32(len(path))
    buf += path
    buf += b"\0"
    buf += _PAD[-len(buf) % 4]
    interfaces_at = len(buf)
    buf += b"\0\0\0\0"
    buf += _PAD[-len(buf) % 8]
    interfaces_start = len(buf)
    buf += _IFACE_HEAD
    props_at = len(buf)
    buf += b"\0\0\0\0"
    buf += _PAD[-len(buf) % 8]
    props_start = len(buf)
    buf += fragment
    buf += _PAD[-len(buf) % 8]
    buf += _ID_PREFIX
    buf += _U64(profile_id)
    buf += class_entry  # TypeClass, starting 8-aligned after the 8-byte Id
    buf += _PAD[-len(buf) % 8]
    buf += _IDLE_STATUS if status is IDLE else _status_blob(status)
    struct.pack_into("<I", buf, props_at, len(buf) - props_start)
    buf += _PAD[-len(buf) % 8]
    buf += _STANDARD
    struct.pack_into("<I", buf, interfaces_at, len(buf) - interfaces_start)


def interfaces_added_body(
    profile_id: int, fragment: bytes, status: ProfileStatus, type_class: str
) -> bytearray:
    """The ``oa{sa{sv}}`` body of ``InterfacesAdded`` for a new profile."""
    buf = bytearray()
    write_profile_entry(buf, profile_id, fragment, status, class_entry(type_class))
    return buf


def managed_objects_body(
    items: Sequence[tuple[int, str, bytes]],
    status_of: Callable[[int], ProfileStatus],
    type_class_of: Callable[[str], str],
) -> bytearray:
    """The ``a{oa{sa{sv}}}`` body for ``(id, type, settings fragment)`` items."""
    buf = bytearray(b"\0\0\0\0\0\0\0\0")  # outer array length, padded to 8
    classes: dict[str, bytes] = {}
    for profile_id, type_name, fragment in items:
        buf += _PAD[-len(buf) % 8]
        entry = classes.get(type_name)
        if entry is None:
            entry = classes[type_name] = class_entry(type_class_of(type_name))
        write_profile_entry(buf, profile_id, fragment, status_of(profile_id), entry)
    struct.pack_into("<I", buf, 0, len(buf) - 8)
    return buf


@lru_cache(maxsize=64)
def class_entry(type_class: str) -> bytes:
    """The ``TypeClass`` entry, starting 8-aligned."""
    w = Writer()
    w.entry("TypeClass", "s", type_class)
    return bytes(w.buf)
