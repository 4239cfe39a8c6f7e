"""``GetManagedObjects`` and ``InterfacesAdded`` bodies written straight from rows.

The reply for every profile is built from the store's raw rows by the ``wire``
marshaller, never holding a variant per property: this keeps the 10,000-profile reply
inside its latency budget and the daemon's memory flat (nothing is cached per profile).
The property order and values are those of ``values.profile_properties``; a test
decodes both and compares them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

from sipprofile.proto.names import PROFILE_INTERFACE, profile_path
from sipprofile.proto.schema import PROPERTIES
from sipprofile.server.registry.model import IDLE, ProfileStatus
from sipprofile.server.store.profiles import Row

from .introspection import STANDARD_INTERFACE_NAMES
from .wire import Writer, prefix

_P: Final = {name: prefix(name, sig) for name, sig in PROPERTIES.items()}
_SERVER_KEYS: Final = ("Uri", "Username", "Realm")
_SP: Final = {name: prefix(name, "s") for name in _SERVER_KEYS}
_HAS_PASSWORD: Final = prefix("HasPassword", "b")
_EMPTY_ARRAY: Final = b"\0\0\0\0"  # followed by padding the writer adds
_TRUE: Final = b"\1\0\0\0"
_FALSE: Final = b"\0\0\0\0"


def _standard_interfaces_blob() -> bytes:
    """The empty-property entries for Peer, Introspectable and Properties."""
    w = Writer()
    for name in STANDARD_INTERFACE_NAMES:
        w.align(8)
        w.string(name)
        mark = w.begin_array(8)
        w.end_array(mark)
    return bytes(w.buf)


_STANDARD: Final = _standard_interfaces_blob()


def _status_blob(status: ProfileStatus) -> bytes:
    """Entries State..LastError of one status, starting 8-aligned."""
    w = Writer()
    w.entry("State", "s", status.state)
    w.entry("Holders", "u", status.holders)
    w.entry("RegisteredAors", "as", list(status.registered_aors))
    w.entry("RegisteredContact", "s", status.registered_contact)
    w.entry("ServiceRoute", "as", list(status.service_route))
    w.entry("NegotiatedSecurity", "s", status.negotiated_security)
    w.entry("Expires", "u", status.expires)
    w.entry("LastError", "(ss)", list(status.last_error))
    return bytes(w.buf)


_IDLE_STATUS: Final = _status_blob(IDLE)


def _server(w: Writer, uri: str, username: str, realm: str, has_password: int) -> None:
    buf = w.buf
    mark = w.begin_array(8)
    for key, text in zip(_SERVER_KEYS, (uri, username, realm), strict=True):
        buf += b"\0" * (-len(buf) % 8)
        buf += _SP[key]
        w.string(text)
    buf += b"\0" * (-len(buf) % 8)
    buf += _HAS_PASSWORD
    buf += _TRUE if has_password else _FALSE
    w.end_array(mark)


def write_profile(w: Writer, row: Row, status: ProfileStatus, type_class: str) -> None:
    """One ``{o, a{sa{sv}}}`` entry for a profile row (``store.profiles.SELECT``)."""
    buf = w.buf
    string = w.string
    buf += b"\0" * (-len(buf) % 8)
    string(profile_path(row[0]))
    interfaces = w.begin_array(8)
    string(PROFILE_INTERFACE)
    props = w.begin_array(8)

    def text(name: str, value: str) -> None:
        buf.__iadd__(b"\0" * (-len(buf) % 8))
        buf.__iadd__(_P[name])
        string(value)

    def flag(name: str, value: int) -> None:
        buf.__iadd__(b"\0" * (-len(buf) % 8))
        buf.__iadd__(_P[name])
        buf.__iadd__(_TRUE if value else _FALSE)

    def json_value(name: str, sig: str, raw: str, convert: Callable[[Any], Any]) -> None:
        buf.__iadd__(b"\0" * (-len(buf) % 8))
        buf.__iadd__(_P[name])
        if raw in ("{}", "[]"):
            buf.__iadd__(_EMPTY_ARRAY)
            if sig != "as":
                buf.__iadd__(b"\0" * (-len(buf) % 8))
        else:
            w.value(sig, convert(json.loads(raw)))

    text("Type", row[1])
    text("ProviderName", row[2])
    text("Aor", row[3])
    text("AccessPoint", row[4])
    buf += b"\0" * (-len(buf) % 8)
    buf += _P["Registrar"]
    _server(w, row[5], row[6], row[7], row[20])
    buf += b"\0" * (-len(buf) % 8)
    buf += _P["OutboundProxy"]
    _server(w, row[8], row[9], row[10], row[21])
    flag("SigComp", row[11])
    flag("SecurityNegotiation", row[12])
    flag("AutoRegistration", row[13])
    flag("Default", row[14])
    text("PrivateIdentity", row[15])
    json_value("ContactParams", "a{ss}", row[16], _same)
    json_value("Headers", "as", row[17], _same)
    json_value("Extensions", "a{sv}", row[18], _extensions)
    buf += b"\0" * (-len(buf) % 8)
    buf += _P["Id"]
    buf += row[0].to_bytes(8, "little")
    text("TypeClass", type_class)
    buf += b"\0" * (-len(buf) % 8)
    buf += _IDLE_STATUS if status is IDLE else _status_blob(status)
    w.end_array(props)
    buf += b"\0" * (-len(buf) % 8)
    buf += _STANDARD
    w.end_array(interfaces)


def _same(value: Any) -> Any:
    return value


def _extensions(value: dict[str, list[Any]]) -> dict[str, tuple[str, Any]]:
    return {key: (sig, item) for key, (sig, item) in value.items()}


def managed_objects_body(
    rows: Sequence[Row],
    status_of: Callable[[int], ProfileStatus],
    type_class_of: Callable[[str], str],
) -> bytearray:
    """The whole ``a{oa{sa{sv}}}`` body for ``rows``."""
    w = Writer()
    mark = w.begin_array(8)
    for row in rows:
        write_profile(w, row, status_of(row[0]), type_class_of(row[1]))
    w.end_array(mark)
    return w.buf
