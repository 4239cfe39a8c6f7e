"""The shared UDP endpoint on real loopback sockets: bursts, strangers, pings, backlog."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator

import pytest

from sipprofile.server.sip.message import Response
from sipprofile.server.transport.dispatch import Dispatcher
from sipprofile.server.transport.udp import (
    PREFERRED_PORTS,
    READ_BATCH,
    RECEIVE_BUFFER,
    SEND_BUFFER,
    UdpEndpoint,
    UdpFlow,
    local_ip_for,
    preferred_port,
)


def response(branch: str, status: int = 200) -> bytes:
    return (
        f"SIP/2.0 {status} X\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport=5060\r\n"
        "From: <sip:a@x.test>;tag=1\r\nTo: <sip:a@x.test>;tag=2\r\n"
        "Call-ID: c@x\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.005)


async def test_a_burst_larger_than_a_batch_reaches_every_handler(peer: socket.socket) -> None:
    dispatcher = Dispatcher()
    endpoint = UdpEndpoint.open(socket.AF_INET, dispatcher)
    got: list[int] = []
    count = READ_BATCH * 3 + 5
    for n in range(count):
        dispatcher.expect(f"z9hG4bK{n}", lambda r, n=n: got.append(n))
    try:
        for n in range(count):  # all queued before the loop runs again
            peer.sendto(response(f"z9hG4bK{n}"), ("127.0.0.1", endpoint.port))
        await wait_for(lambda: len(got) == count)
        assert sorted(got) == list(range(count))
    finally:
        endpoint.close()


async def test_strangers_garbage_and_a_failing_handler_spoil_nothing(
    peer: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = Dispatcher()
    endpoint = UdpEndpoint.open(socket.AF_INET, dispatcher)
    got: list[Response] = []

    def broken(_: Response) -> None:
        raise RuntimeError("handler bug")

    dispatcher.expect("z9hG4bKbroken", broken)
    dispatcher.expect("z9hG4bKmine", got.append)
    try:
        to = ("127.0.0.1", endpoint.port)
        peer.sendto(b"\x00\xffnot sip at all", to)
        peer.sendto(response("z9hG4bKstranger"), to)
        peer.sendto(response("z9hG4bKbroken"), to)
        peer.sendto(response("z9hG4bKmine", 401), to)
        await wait_for(lambda: len(got) == 1)
        assert got[0].status == 401
        assert "handler bug" in caplog.text
    finally:
        endpoint.close()


async def test_options_ping_is_answered_to_its_sender(peer: socket.socket) -> None:
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher())
    try:
        ping = (
            b"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKping\r\n"
            b"From: <sip:reg@x.test>;tag=9\r\nTo: <sip:u@x.test>\r\n"
            b"Call-ID: ping@x\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        peer.sendto(ping, ("127.0.0.1", endpoint.port))
        answer = await asyncio.to_thread(peer.recv, 65535)
        assert answer.startswith(b"SIP/2.0 200 OK\r\n")
        assert b"CSeq: 7 OPTIONS" in answer
    finally:
        endpoint.close()


class _FullBuffer:
    """A real socket whose first sends find the send buffer full (EAGAIN).

    A loopback UDP socket practically never blocks, so this is the one fault here
    that the kernel cannot be made to produce on demand.
    """

    def __init__(self, sock: socket.socket, refusals: int) -> None:
        self._sock = sock
        self.refusals = refusals

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        if self.refusals:
            self.refusals -= 1
            raise BlockingIOError
        return self._sock.sendto(data, addr)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


async def test_a_full_send_buffer_queues_in_order(peer: socket.socket) -> None:
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher())
    real = endpoint._sock
    endpoint._sock = _FullBuffer(real, refusals=2)  # type: ignore[assignment]
    try:
        flow = UdpFlow(endpoint, peer.getsockname(), local_ip_for("127.0.0.1"))
        for n in range(5):
            flow.send(b"datagram %d" % n)
        received = [await asyncio.to_thread(peer.recv, 100) for _ in range(5)]
        assert received == [b"datagram %d" % n for n in range(5)]
        assert not endpoint._backlog
    finally:
        endpoint._sock = real
        endpoint.close()


async def test_closed_endpoint_sends_nothing_and_frees_the_port(peer: socket.socket) -> None:
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher())
    port = endpoint.port
    endpoint.close()
    endpoint.close()  # twice is harmless
    UdpFlow(endpoint, peer.getsockname(), "127.0.0.1").send(b"late")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("0.0.0.0", port))
    peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        peer.recv(100)


async def test_the_preferred_port_is_taken_when_free_and_passed_over_when_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Contact's port survives a restart: the same key asks for the same port."""
    caplog.set_level(logging.INFO, logger="sipprofile.server.transport.udp")
    port = preferred_port("/var/lib/sipprofiled/profiles.db")
    assert port == preferred_port("/var/lib/sipprofiled/profiles.db")
    assert port in PREFERRED_PORTS
    assert len({preferred_port(f"/home/u{i}/profiles.db") for i in range(50)}) > 40
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher(), port=port)
    try:
        assert endpoint.port == port
        # a second socket wanting it (another daemon, or someone else) gets another
        other = UdpEndpoint.open(socket.AF_INET, Dispatcher(), port=port)
        try:
            assert other.port not in (0, port)
            assert f"UDP port {port} is taken" in caplog.text
        finally:
            other.close()
    finally:
        endpoint.close()


async def test_sessions_aimed_at_one_remote_share_one_flow(peer: socket.socket) -> None:
    """A flow holds no session's state: one object however many registrations use it."""
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher())
    try:
        remote = peer.getsockname()
        flow = endpoint.flow_to(remote, "127.0.0.1")
        assert endpoint.flow_to(remote, "127.0.0.1") is flow
        assert endpoint.flow_to((remote[0], remote[1] + 1), "127.0.0.1") is not flow
        assert endpoint.flow_to(remote, "127.0.0.2") is not flow
        flow.send(b"hello")
        peer.settimeout(2)
        assert peer.recv(100) == b"hello"
    finally:
        endpoint.close()


def test_local_address_towards_loopback() -> None:
    assert local_ip_for("127.0.0.1") == "127.0.0.1"
    assert local_ip_for("::1") == "::1"


async def test_no_socket_to_be_had_is_a_connection_error() -> None:
    """Out of file descriptors: a failure to reach the next hop, which sessions retry.

    Before, the ``OSError`` escaped the session's start and left the profile in
    ``registering`` for good. The limit is real (RLIMIT_NOFILE), lowered for a moment.
    """
    import os
    import resource

    from sipprofile.server.transport.flow import Target
    from sipprofile.server.transport.flows import Flows

    flows = Flows()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    spare: list[socket.socket] = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, hard))
        while True:  # fill the gaps below the limit
            try:
                spare.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            except OSError:
                break
        with pytest.raises(ConnectionError, match="cannot open a UDP socket"):
            flows.udp_flow(Target("udp", "127.0.0.1", 5060, None))
    finally:
        for sock in spare:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        flows.close()
    flow = flows.udp_flow(Target("udp", "127.0.0.1", 5060, None))  # and once there is one
    assert flow.transport == "udp"
    flows.close()


async def test_socket_buffers_are_sized_for_a_burst_of_answers() -> None:
    """As large as asked where the kernel lets us (root), else at rmem_max's cap."""
    endpoint = UdpEndpoint.open(socket.AF_INET, Dispatcher())
    try:
        sock = endpoint._sock
        received = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        sent = sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        rmem_max = int(open("/proc/sys/net/core/rmem_max").read())  # noqa: SIM115
        wmem_max = int(open("/proc/sys/net/core/wmem_max").read())  # noqa: SIM115
        # the kernel doubles what it grants, for its own bookkeeping
        if os.geteuid() == 0:  # SO_RCVBUFFORCE: the full size whatever rmem_max says
            assert received >= 2 * RECEIVE_BUFFER
            assert sent >= 2 * SEND_BUFFER
        else:
            assert received >= 2 * min(RECEIVE_BUFFER, rmem_max)
            assert sent >= 2 * min(SEND_BUFFER, wmem_max)
    finally:
        endpoint.close()
