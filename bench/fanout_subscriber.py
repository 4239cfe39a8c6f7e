"""``python -m bench.fanout_subscriber SOCKET CONNECTIONS``: subscribers for ``bench.fanout``.

Why a module of its own: the fan-out benchmark needs a hundred clients on the bus whose
CPU is not the benchmark's, so it starts a few of these processes, each holding
CONNECTIONS raw D-Bus connections. Decoding with dbus-fast would cost far more than the
daemon being measured; these read the socket and parse only what they need.

What one process does: per connection, EXTERNAL authentication, ``Hello`` and an
``AddMatch`` for the daemon's ``ProfileEvent`` signals (sender, path, interface and
member, as a client library subscribes), waiting for the ``AddMatch`` reply; then it
prints ``ready``. From then on it waits on all its sockets at once, and after every
``recv`` it stamps ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every
process of the machine) on each whole ``ProfileEvent(id, "registered")`` in the data.
A line ``finish N`` on stdin means: go on reading until every connection has seen N
``registered`` events (or ``FINISH_TIMEOUT_S`` passed), then write one JSON line, a
list with one ``[[id, t], ...]`` list per connection, and exit.

Messages from dbus-daemon are little-endian; anything else is refused loudly.
"""

from __future__ import annotations

import json
import selectors
import struct
import sys
import time
from typing import Final

from sipprofile.proto import names

from .harness import raw_subscription

FINISH_TIMEOUT_S: Final = 5.0
MATCH_RULE: Final = (
    f"type='signal',sender='{names.BUS_NAME}',path='{names.REGISTRY_PATH}',"
    f"interface='{names.REGISTRY_INTERFACE}',member='ProfileEvent'"
)
_METHOD_RETURN: Final = 2
_ERROR: Final = 3
_SIGNAL: Final = 4
_ADD_MATCH_SERIAL: Final = 2
_REGISTERED: Final = names.Event.REGISTERED.encode()


class Header:
    """The header fields this module looks at, and where the body starts and ends."""

    __slots__ = ("body_at", "end", "kind", "member", "reply_serial", "signature")

    def __init__(self, data: bytes | bytearray, at: int) -> None:
        """Parse the header of the whole message at ``data[at:]``."""
        if data[at] != ord("l"):
            raise RuntimeError(f"a big-endian message ({data[at]!r}): not handled")
        body_len, _serial, fields_len = struct.unpack_from("<III", data, at + 4)
        self.kind = data[at + 1]
        self.member = b""
        self.signature = b""
        self.reply_serial = 0
        offset = at + 16
        fields_end = offset + fields_len
        while offset < fields_end:
            offset += -(offset - at) % 8
            code = data[offset]
            sig_len = data[offset + 1]
            sig = bytes(data[offset + 2 : offset + 2 + sig_len])
            offset += 3 + sig_len
            if sig == b"u":
                offset += -(offset - at) % 4
                if code == 5:
                    self.reply_serial = struct.unpack_from("<I", data, offset)[0]
                offset += 4
            elif sig in (b"s", b"o"):
                offset += -(offset - at) % 4
                length = struct.unpack_from("<I", data, offset)[0]
                if code == 3:
                    self.member = bytes(data[offset + 4 : offset + 4 + length])
                offset += 4 + length + 1
            elif sig == b"g":
                length = data[offset]
                if code == 8:
                    self.signature = bytes(data[offset + 1 : offset + 1 + length])
                offset += 1 + length + 1
            else:
                raise RuntimeError(f"header field {code} of type {sig!r}: not handled")
        self.body_at = at + 16 + fields_len + (-fields_len % 8)
        self.end = self.body_at + body_len


def whole_message_end(data: bytes | bytearray, at: int) -> int | None:
    """Where the message starting at ``data[at:]`` ends, or None if it is not all there."""
    if len(data) - at < 16:
        return None
    body_len, _serial, fields_len = struct.unpack_from("<III", data, at + 4)
    end = at + 16 + fields_len + (-fields_len % 8) + body_len
    return end if end <= len(data) else None


class Subscriber:
    """One raw connection: subscribed, then stamping ``registered`` events."""

    def __init__(self, socket_path: str) -> None:
        self.sock = raw_subscription(socket_path, MATCH_RULE)
        self.pending = bytearray()
        #: (profile id, time.monotonic()) of each ``registered`` event, in arrival order.
        self.arrivals: list[tuple[int, float]] = []
        self.seen: set[int] = set()

    def wait_subscribed(self) -> None:
        """Block until dbus-daemon answered the ``AddMatch`` (Hello's reply comes first)."""
        while True:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise RuntimeError("the bus closed the connection during set-up")
            self.pending += chunk
            at = 0
            while (end := whole_message_end(self.pending, at)) is not None:
                header = Header(self.pending, at)
                at = end
                if header.reply_serial == _ADD_MATCH_SERIAL:
                    if header.kind != _METHOD_RETURN:
                        raise RuntimeError(f"AddMatch failed (message type {header.kind})")
                    del self.pending[:at]
                    self.sock.setblocking(False)
                    return
            del self.pending[:at]

    def readable(self) -> bool:
        """Read what is there and stamp its events; False when the bus hung up."""
        try:
            chunk = self.sock.recv(1 << 16)
        except BlockingIOError:
            return True
        now = time.monotonic()
        if not chunk:
            return False
        pending = self.pending
        pending += chunk
        at = 0
        while (end := whole_message_end(pending, at)) is not None:
            header = Header(pending, at)
            if (
                header.kind == _SIGNAL
                and header.member == b"ProfileEvent"
                and header.signature == b"ts"
            ):
                body = header.body_at
                profile_id, length = struct.unpack_from("<QI", pending, body)
                if pending[body + 12 : body + 12 + length] == _REGISTERED:
                    self.arrivals.append((profile_id, now))
                    self.seen.add(profile_id)
            at = end
        del pending[:at]
        return True


def serve(socket_path: str, connections: int) -> None:
    subscribers = [Subscriber(socket_path) for _ in range(connections)]
    for sub in subscribers:
        sub.wait_subscribed()
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    selector = selectors.DefaultSelector()
    for sub in subscribers:
        selector.register(sub.sock, selectors.EVENT_READ, sub)
    stdin = sys.stdin.buffer
    selector.register(stdin, selectors.EVENT_READ, None)
    expected: int | None = None
    deadline = float("inf")
    while True:
        if expected is not None and (
            all(len(sub.seen) >= expected for sub in subscribers) or time.monotonic() > deadline
        ):
            break
        timeout = None if expected is None else max(0.0, deadline - time.monotonic())
        for key, _ in selector.select(timeout):
            sub = key.data
            if sub is None:  # the parent
                line = stdin.readline()
                if not line:
                    return  # the parent went away: nothing to report to
                command, _, count = line.decode().partition(" ")
                if command != "finish":
                    raise RuntimeError(f"unknown command {line!r}")
                expected = int(count)
                deadline = time.monotonic() + FINISH_TIMEOUT_S
                selector.unregister(stdin)
            elif not sub.readable():
                raise RuntimeError("the bus closed a subscriber's connection")
    out.write(json.dumps([sub.arrivals for sub in subscribers]) + "\n")
    out.flush()


def main() -> None:
    socket_path, connections = sys.argv[1], int(sys.argv[2])
    serve(socket_path, connections)


if __name__ == "__main__":
    main()
