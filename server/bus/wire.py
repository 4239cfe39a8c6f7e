"""A small D-Bus marshaller for replies too large for variant objects.

``GetManagedObjects`` over 10,000 profiles is a 10 MB reply; building a dbus-fast
``Variant`` per property costs several times the latency budget. The daemon knows
the reply's exact shape, so it writes the bytes directly with this marshaller
(little-endian, D-Bus specification "Marshaling"). Correctness is checked by tests
that decode its output with dbus-fast and compare with the variant-built reply.

Alignment is relative to the start of the body, which the header pads to 8, so a
segment that begins at an 8-aligned offset can be prepared once and copied.

Signals sent many times a second (``PropertiesChanged`` of live status, ``ProfileEvent``)
are written whole, header included, by ``signal_bytes``: only the path, the serial and
the body change from one to the next, so the rest of the header is prepared once per
(interface, member, signature). Measured against dbus-fast's compiled marshaller, a
status ``PropertiesChanged`` costs about half as much this way (``bench.signals``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Final

_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_I32: Final = struct.Struct("<i")
_I64: Final = struct.Struct("<q")
_ZEROS: Final = tuple(b"\0" * n for n in range(8))

_ALIGN: Final = {
    "s": 4,
    "o": 4,
    "g": 1,
    "b": 4,
    "u": 4,
    "i": 4,
    "t": 8,
    "x": 8,
    "a": 4,
    "(": 8,
    "{": 8,
    "y": 1,
}


class Writer:
    """Appends marshalled values to a bytearray, tracking alignment."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def align(self, n: int) -> None:
        """Pad with zeros to a multiple of ``n``."""
        self.buf += _ZEROS[-len(self.buf) % n]

    def string(self, text: str) -> None:
        """A string or object path: length, UTF-8, NUL."""
        data = text.encode()
        buf = self.buf
        buf += _ZEROS[-len(buf) % 4]
        buf += _U32.pack(len(data))
        buf += data
        buf += b"\0"

    def signature(self, sig: str) -> None:
        """A signature: one length byte, ASCII, NUL."""
        self.buf.append(len(sig))
        self.buf += sig.encode()
        self.buf.append(0)

    def begin_array(self, element_alignment: int) -> tuple[int, int]:
        """Start an array; returns what ``end_array`` needs to fill in its length."""
        self.align(4)
        at = len(self.buf)
        self.buf += b"\0\0\0\0"
        self.align(element_alignment)
        return at, len(self.buf)

    def end_array(self, mark: tuple[int, int]) -> None:
        """Write the byte length of the array started at ``mark``."""
        at, start = mark
        _U32.pack_into(self.buf, at, len(self.buf) - start)

    def value(self, sig: str, value: Any) -> None:
        """Any value of the types this daemon sends (s o g b u i t x as a{ss} a{sv} (ss) (sss))."""
        if sig in ("s", "o"):
            self.string(value)
        elif sig == "b" or sig == "u":
            self.align(4)
            self.buf += _U32.pack(int(value))
        elif sig == "i":
            self.align(4)
            self.buf += _I32.pack(value)
        elif sig == "t":
            self.align(8)
            self.buf += _U64.pack(value)
        elif sig == "x":
            self.align(8)
            self.buf += _I64.pack(value)
        elif sig == "g":
            self.signature(value)
        elif sig == "as":
            mark = self.begin_array(4)
            for item in value:
                self.string(item)
            self.end_array(mark)
        elif sig == "a{ss}":
            mark = self.begin_array(8)
            for key, item in value.items():
                self.align(8)
                self.string(key)
                self.string(item)
            self.end_array(mark)
        elif sig == "a{sv}":
            mark = self.begin_array(8)
            for key, (inner_sig, item) in value.items():
                self.entry(key, inner_sig, item)
            self.end_array(mark)
        elif sig in ("(ss)", "(sss)"):
            self.align(8)
            for item in value:
                self.string(item)
        else:  # pragma: no cover - a programming error, not input
            raise ValueError(f"wire: unsupported signature {sig!r}")

    def entry(self, key: str, sig: str, value: Any) -> None:
        """One ``{sv}`` dictionary entry; ``a{sv}`` values are ``{key: (sig, value)}``."""
        self.align(8)
        self.buf += prefix(key, sig)
        self.value(sig, value)


@lru_cache(maxsize=4096)
def prefix(key: str, sig: str) -> bytes:
    """The constant start of a ``{sv}`` entry up to its value's alignment.

    Valid wherever the entry starts 8-aligned, which every dict entry does.
    """
    w = Writer()
    w.string(key)
    w.signature(sig)
    w.align(_ALIGN[sig[0]])
    return bytes(w.buf)


#: Byte order (little-endian), SIGNAL, no flags, protocol version 1.
_SIGNAL_START: Final = b"l\x04\x00\x01"
#: Header field PATH (1) with signature "o", up to its string's length.
_PATH_FIELD: Final = b"\x01\x01o\x00"


@lru_cache(maxsize=64)
def _fields_after_path(interface: str, member: str, signature: str) -> tuple[int, bytes]:
    """Header fields INTERFACE, MEMBER and SIGNATURE, starting 8-aligned.

    Their length unpadded (what the header's field array counts), and their bytes
    padded to 8 (where the body starts).
    """
    w = Writer()
    for code, sig, value in ((2, "s", interface), (3, "s", member), (8, "g", signature)):
        w.align(8)
        w.buf.append(code)
        w.signature(sig)
        w.value(sig, value)
    length = len(w.buf)
    w.align(8)
    return length, bytes(w.buf)


@lru_cache(maxsize=64)
def _head_with_path(path_length: int) -> struct.Struct:
    """The fixed header, then the PATH field for a path of ``path_length`` bytes.

    Byte order, SIGNAL, flags, version; body length; serial; header fields length;
    the PATH field's code and signature; the path's length, the path, and its NUL
    padded to 8 (``struct`` pads an ``s`` field with NULs). Profile paths have a few
    lengths only, so one ``pack`` writes all of it.
    """
    return struct.Struct(f"<4sIII4sI{path_length + 1 + (-(path_length + 1) % 8)}s")


def signal_bytes(
    serial: int, path: str, interface: str, member: str, signature: str, body: bytes | bytearray
) -> bytearray:
    """A whole broadcast signal on the wire, ready to be written to the bus socket."""
    encoded = path.encode()
    length, tail = _fields_after_path(interface, member, signature)
    # PATH first: it starts at offset 16 (8-aligned) and ends padded to 8, so the
    # prepared fields after it keep their alignment.
    head = _head_with_path(len(encoded))
    path_field = head.size - 16
    out = bytearray(
        head.pack(_SIGNAL_START, len(body), serial, path_field + length, _PATH_FIELD,
                  len(encoded), encoded)
    )  # fmt: skip
    out += tail
    out += body
    return out


@lru_cache(maxsize=16)
def _interface_head(interface: str) -> bytes:
    """``s`` of the interface name, then padding for the ``a{sv}`` length after it."""
    w = Writer()
    w.string(interface)
    w.align(4)
    return bytes(w.buf)


def _put_string(buf: bytearray, value: str) -> None:
    # Status strings come from the network (reason phrases, Contact URIs); one NUL
    # would make dbus-daemon drop the daemon's whole connection as dbus-fast's own
    # check is bypassed here, so refuse it like dbus-fast does.
    if "\0" in value:
        raise ValueError(f"a D-Bus string cannot hold a NUL character: {value!r}")
    data = value.encode()
    buf += _ZEROS[-len(buf) % 4]
    buf += _U32.pack(len(data))
    buf += data
    buf += b"\0"


def _put_u32(buf: bytearray, value: int) -> None:
    buf += _ZEROS[-len(buf) % 4]
    buf += _U32.pack(int(value))


def _put_u64(buf: bytearray, value: int) -> None:
    buf += _ZEROS[-len(buf) % 8]
    buf += _U64.pack(value)


def _put_strings(buf: bytearray, value: Iterable[str]) -> None:
    buf += _ZEROS[-len(buf) % 4]
    at = len(buf)
    buf += b"\0\0\0\0"
    for item in value:
        _put_string(buf, item)
    _U32.pack_into(buf, at, len(buf) - at - 4)


def _put_struct(buf: bytearray, value: tuple[str, ...] | list[str]) -> None:
    buf += _ZEROS[-len(buf) % 8]
    for item in value:
        _put_string(buf, item)


#: Direct encoders for the types of live status, one dictionary look-up instead of
#: ``Writer.value``'s chain of comparisons; each aligns for itself.
_PUT: Final[dict[str, Callable[[bytearray, Any], None]]] = {
    "s": _put_string,
    "o": _put_string,
    "b": _put_u32,
    "u": _put_u32,
    "t": _put_u64,
    "as": _put_strings,
    "(ss)": _put_struct,
    "(sss)": _put_struct,
}


#: Status properties whose values most profiles share (``registered``, 3600 s, the
#: flow to one registrar, no error): their whole entries are written once each.
_SHARED_VALUES: Final = frozenset(
    {"State", "Expires", "Flow", "LastError", "ServiceRoute", "NegotiatedSecurity", "Holders"}
)


@lru_cache(maxsize=256)
def _shared_entry(key: str, sig: str, value: Any) -> bytes:
    """One whole ``{sv}`` entry of a value many profiles share.

    An entry starts 8-aligned, and the alignment of everything in it is relative to
    that start: its bytes are the same wherever it is written.
    """
    buf = bytearray(prefix(key, sig))
    _PUT[sig](buf, value)
    return bytes(buf)


def properties_changed_body(interface: str, entries: Iterable[tuple[str, str, Any]]) -> bytearray:
    """The ``sa{sv}as`` body of ``PropertiesChanged``.

    ``entries`` are (name, signature, value) of the changed properties; no property
    is listed as invalidated.
    """
    w = Writer()
    buf = w.buf
    buf += _interface_head(interface)
    mark = len(buf)
    buf += b"\0\0\0\0"
    buf += _ZEROS[-len(buf) % 8]
    start = len(buf)
    for key, sig, value in entries:
        if key in _SHARED_VALUES and sig in _PUT and not isinstance(value, list):
            buf += _ZEROS[-len(buf) % 8]
            buf += _shared_entry(key, sig, value)  # a tuple or a scalar: hashable
            continue
        put = _PUT.get(sig)
        if put is None:
            w.entry(key, sig, value)
            continue
        buf += _ZEROS[-len(buf) % 8]
        buf += prefix(key, sig)
        put(buf, value)
    _U32.pack_into(buf, mark, len(buf) - start)
    buf += _ZEROS[-len(buf) % 4]
    buf += b"\0\0\0\0"
    return buf


def event_body(profile_id: int, *texts: str) -> bytearray:
    """The ``ts`` / ``tss`` body of ``ProfileEvent`` and ``ProfileError``."""
    buf = bytearray(_U64.pack(profile_id))
    for text in texts:
        _put_string(buf, text)
    return buf
