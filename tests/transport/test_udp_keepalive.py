"""STUN keep-alives of the shared UDP socket (RFC 5626 §4.4.2) against a real socket."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from sipprofile.server.transport.dispatch import Dispatcher
from sipprofile.server.transport.stun import MAGIC_COOKIE, is_stun, transaction_id
from sipprofile.server.transport.udp import UdpEndpoint, UdpFlow


class StunServer:
    """Answers Binding requests with ``mapped`` (or garbage, or nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.mapped = ("198.51.100.7", 5555)
        self.mode = "answer"  # or "silent", "wrong-id", "stranger"
        #: Another socket: a stranger who learned the transaction id answers from it.
        self.stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.stranger.bind(("127.0.0.1", 0))
        self.requests = 0
        loop = asyncio.get_running_loop()
        loop.add_reader(self.sock.fileno(), self._read)

    def _read(self) -> None:
        data, peer = self.sock.recvfrom(2048)
        assert is_stun(data)
        self.requests += 1
        if self.mode == "silent":
            return
        tid = transaction_id(data) if self.mode == "answer" else bytes(12)
        host, port = self.mapped
        cookie = struct.pack("!I", MAGIC_COOKIE)
        raw = bytes(a ^ b for a, b in zip(socket.inet_aton(host), cookie, strict=True))
        value = struct.pack("!BBH", 0, 1, port ^ 0x2112) + raw
        body = struct.pack("!HH", 0x0020, len(value)) + value
        header = struct.pack("!HHI12s", 0x0101, len(body), MAGIC_COOKIE, tid)
        sender = self.stranger if self.mode == "stranger" else self.sock
        sender.sendto(header + body, peer)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        self.stranger.close()


@pytest.fixture
async def endpoint() -> AsyncIterator[UdpEndpoint]:
    udp = UdpEndpoint.open(socket.AF_INET, Dispatcher())  # needs the running loop
    yield udp
    udp.close()


async def test_answers_keep_it_quiet_and_a_new_mapping_is_told(endpoint: UdpEndpoint) -> None:
    server = StunServer()
    try:
        flow = UdpFlow(endpoint, ("127.0.0.1", server.port), "127.0.0.1")
        mapped: list[str] = []
        failed: list[str] = []
        flow.on_mapped(mapped.append)
        flow.on_close(failed.append)
        flow.keep_alive(0.1)
        await asyncio.sleep(0.35)
        keeper = endpoint.keeper(("127.0.0.1", server.port))
        assert keeper.answered >= 2
        assert keeper.mapped == "198.51.100.7:5555"
        assert mapped == []  # the first answer is where we were: nothing new
        server.mapped = ("198.51.100.7", 6001)  # the NAT mapped us anew
        await asyncio.sleep(0.2)
        assert mapped == ["198.51.100.7:6001"]
        assert failed == []
    finally:
        server.close()


@pytest.mark.parametrize("mode", ["silent", "wrong-id", "stranger"])
async def test_no_answer_fails_the_flow(endpoint: UdpEndpoint, mode: str) -> None:
    """Unanswered (or answered for another transaction, or by another address than the
    one pinged, even with the right transaction id) until the timeout: failed."""
    server = StunServer()
    server.mode = mode
    try:
        remote = ("127.0.0.1", server.port)
        keeper = endpoint.keeper(remote, timeout=0.4)
        flow = UdpFlow(endpoint, remote, "127.0.0.1")
        failed: list[str] = []
        flow.on_close(failed.append)
        flow.keep_alive(0.05)
        await asyncio.sleep(0.6)
        assert failed[:1] == ["no answer to the STUN keep-alive in 0.4 s"]
        assert server.requests >= 2  # retransmitted meanwhile
        assert keeper.answered == 0
    finally:
        server.close()


async def test_a_stray_stun_answer_is_dropped(endpoint: UdpEndpoint) -> None:
    """Nobody waits for it: it is not handed to the SIP dispatcher, and nothing breaks."""
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        stray = struct.pack("!HHI12s", 0x0101, 0, MAGIC_COOKIE, bytes(12))
        peer.sendto(stray, ("127.0.0.1", endpoint.port))
        await asyncio.sleep(0.05)  # nothing waits for it; nothing breaks
        assert endpoint.stun_waiters == {}
    finally:
        peer.close()
