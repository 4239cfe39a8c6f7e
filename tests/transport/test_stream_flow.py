"""A TCP flow over a real loopback connection: what one bad message may cost."""

from __future__ import annotations

import asyncio

import pytest

from sipprofile.server.sip.message import Response
from sipprofile.server.transport.dispatch import Dispatcher
from sipprofile.server.transport.stream import StreamFlow
from transport.test_udp import response


async def test_a_failing_handler_costs_its_message_not_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every registration sharing the connection would have to register again."""
    sent: asyncio.Future[asyncio.StreamWriter] = asyncio.get_running_loop().create_future()

    async def serve(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent.set_result(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dispatcher = Dispatcher()
    got: list[Response] = []

    def broken(_response: Response) -> None:
        raise RuntimeError("a bug in a handler")

    dispatcher.expect("z9hG4bKbroken", broken)
    dispatcher.expect("z9hG4bKfine", got.append)
    _, flow = await asyncio.get_running_loop().create_connection(
        lambda: StreamFlow("tcp", dispatcher), "127.0.0.1", port
    )
    try:
        writer = await asyncio.wait_for(sent, 5)
        writer.write(response("z9hG4bKbroken") + response("z9hG4bKfine"))
        for _ in range(250):
            if got:
                break
            await asyncio.sleep(0.02)
        assert [r.status for r in got] == [200]  # the message after it still came
        assert not flow.closed
        assert "could not be handled" in caplog.text
        writer.close()
    finally:
        flow.close("test over")
        server.close()
