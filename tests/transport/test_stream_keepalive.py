"""CRLF keep-alives (RFC 5626 §4.4.1) on real loopback TCP connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sipprofile.server.transport.dispatch import Dispatcher
from sipprofile.server.transport.stream import PING, StreamFlow


class Peer:
    """A TCP server that counts pings and answers each with a pong, if told to."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.pings = 0
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.readexactly(len(PING)):
                assert data == PING
                self.pings += 1
                if self.answer:
                    writer.write(b"\r\n")
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def connect() -> AsyncIterator[
    Callable[[bool, float], asyncio.Future[tuple[Peer, StreamFlow]]]
]:
    servers: list[asyncio.Server] = []

    async def make(answer: bool, pong_timeout: float) -> tuple[Peer, StreamFlow]:
        peer = Peer(answer)
        server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        _, flow = await loop.create_connection(
            lambda: StreamFlow("tcp", Dispatcher(), pong_timeout=pong_timeout), "127.0.0.1", port
        )
        return peer, flow

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


async def test_pings_are_answered_and_the_flow_stays(connect) -> None:
    peer, flow = await connect(True, 0.5)
    closed: list[str] = []
    flow.on_close(closed.append)
    flow.keep_alive(0.1)
    await asyncio.sleep(0.7)
    assert peer.pings >= 3
    assert flow.pongs >= 3
    assert closed == [] and not flow.closed
    flow.close()


async def test_a_missing_pong_closes_the_flow_and_says_why(connect) -> None:
    peer, flow = await connect(False, 0.2)
    closed: list[str] = []
    flow.on_close(closed.append)
    flow.keep_alive(0.05)
    await asyncio.sleep(0.5)
    assert 1 <= peer.pings <= 6  # every 40-50 ms until the first pong was 0.2 s late
    assert closed == ["no answer to the keep-alive in 0.2 s"]
    pings = peer.pings
    await asyncio.sleep(0.2)
    assert peer.pings == pings  # and then no more


async def test_the_shortest_interval_asked_for_wins(connect) -> None:
    peer, flow = await connect(True, 0.5)
    flow.keep_alive(0.1)
    flow.keep_alive(30.0)  # a longer one does not slow it down
    await asyncio.sleep(0.45)
    assert peer.pings >= 3
    flow.close()
    await asyncio.sleep(0.05)  # a ping written just before the close may still arrive
    pings = peer.pings
    await asyncio.sleep(0.25)
    assert peer.pings == pings  # a closed flow pings no more
