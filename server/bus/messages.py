"""Messages dbus-fast sends as we wrote them: premarshalled bodies, prewritten signals.

Subclasses of dbus-fast's ``Message`` whose ``_marshall`` returns bytes made by
``wire``: apart from ``wire`` because they extend a class compiled by Cython, which
mypyc cannot compile a subclass of, while ``wire`` itself is compiled (setup.py).
"""

from __future__ import annotations

from typing import Any

from dbus_fast import Message, MessageType

from .wire import _U32, Writer


class Premarshalled(Message):
    """A message whose body was marshalled already.

    dbus-fast calls ``_marshall`` when it writes a message; this override sends the
    prepared body behind a header written here, so a body built from stored
    fragments is never turned into variants and back.
    """

    def __init__(self, body: bytes | bytearray, **fields: Any) -> None:
        super().__init__(**fields)
        self.raw_body = body

    @classmethod
    def reply(cls, call: Message, signature: str, body: bytes | bytearray) -> Premarshalled:
        """The METHOD_RETURN to ``call``."""
        return cls(
            body,
            message_type=MessageType.METHOD_RETURN,
            reply_serial=call.serial,
            destination=call.sender,
            signature=signature,
        )

    @classmethod
    def signal(
        cls, path: str, interface: str, member: str, signature: str, body: bytes | bytearray
    ) -> Premarshalled:
        """A broadcast signal."""
        return cls(
            body,
            message_type=MessageType.SIGNAL,
            path=path,
            interface=interface,
            member=member,
            signature=signature,
        )

    def _marshall(self, negotiate_unix_fd: bool) -> bytearray:
        w = Writer()
        w.buf += b"l" + bytes((self.message_type.value, self.flags.value, 1))
        w.buf += _U32.pack(len(self.raw_body))
        w.buf += _U32.pack(self.serial)
        mark = w.begin_array(8)
        fields: list[tuple[int, str, Any]] = [
            (code, sig, value)
            for code, sig, value in (
                (1, "o", self.path),
                (2, "s", self.interface),
                (3, "s", self.member),
                (4, "s", self.error_name),
                (5, "u", self.reply_serial),
                (6, "s", self.destination),
                (8, "g", self.signature),
            )
            if value
        ]
        for code, sig, value in fields:
            w.align(8)
            w.buf.append(code)
            w.signature(sig)
            w.value(sig, value)
        w.end_array(mark)
        w.align(8)
        w.buf += self.raw_body
        return w.buf


class Prewritten(Message):
    """Messages already written whole by ``signal_bytes``, sent as one.

    Several signals of one loop turn go to the bus socket in one write this way. The
    serials are inside the bytes; ``serial`` is set to the last of them only so that
    ``MessageBus.send`` does not take another.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytearray, last_serial: int) -> None:
        super().__init__(
            path="/",
            interface="org.sipprofile.Prewritten",
            member="Prewritten",
            message_type=MessageType.SIGNAL,
            serial=last_serial,
            validate=False,
        )
        self.data = data

    def _marshall(self, negotiate_unix_fd: bool) -> bytearray:
        return self.data
