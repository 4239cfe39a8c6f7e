"""SIP over UDP: one socket per address family, shared by every registration.

The socket is read straight from the event loop's readiness callback, draining up
to ``READ_BATCH`` datagrams per wake-up. asyncio's datagram transport reads one
datagram per wake-up, so a burst of N responses (a thousand always-on profiles
starting, all their refreshes falling due together) cost N trips through epoll
and the loop; draining costs one. Sends go straight to the socket; only when the
kernel's send buffer is full are datagrams queued until it is writable again.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import logging
import socket
import time
import zlib
from collections.abc import Callable
from typing import Final

from sipprofile.server.logs import SIP_TRACE

from .dispatch import Dispatcher
from .flow import CloseHandler, Flow
from .stun import is_stun, transaction_id
from .udp_keepalive import STUN_TIMEOUT, StunKeeper

_log = logging.getLogger(__name__)

#: Datagrams handled per readiness callback before other callbacks get a turn.
READ_BATCH: Final = 64
#: Largest datagram read (the UDP maximum; SIP over UDP stays far below it).
MAX_DATAGRAM: Final = 65535
#: Receive buffer asked for: room for the answers to a burst of thousands of
#: REGISTERs (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER: Final = 4 * 1024 * 1024
#: Send buffer asked for: a burst of the pacer's (200 REGISTERs, about 140 KB) and
#: the retransmissions due meanwhile go out without queueing in the daemon.
SEND_BUFFER: Final = 1024 * 1024
#: Below this granted receive buffer the answers to one burst may not fit: say so.
RECEIVE_BUFFER_ENOUGH: Final = 400 * 1024
#: Queued datagrams beyond this are dropped (and retransmitted by their transaction).
SEND_BACKLOG: Final = 10_000
#: How long a learned source address is trusted (routes change; issue 4 watches them).
LOCAL_IP_TTL: Final = 1.0

#: Where ``preferred_port`` picks from: above Linux's default ephemeral range (32768 to
#: 60999), so a port the kernel handed to someone else is rarely the one we want.
PREFERRED_PORTS: Final = range(61000, 65536)

Address = tuple[str, int]


def preferred_port(key: str) -> int:
    """The UDP port this daemon asks for first: the same for the same ``key``.

    The port is part of every Contact we register. With a new ephemeral port at each
    start, a daemon killed without deregistering would come back under a new Contact,
    and the registrar would hold the old binding beside the new one until it expired
    (we remove it once a 200 OK lists it, but only then). A port derived from the
    database's path needs no state of its own and is stable across restarts; when it
    is taken the socket falls back to an ephemeral one.
    """
    return PREFERRED_PORTS[zlib.crc32(key.encode()) % len(PREFERRED_PORTS)]


_buffers_reported = False


def size_buffers(sock: socket.socket) -> None:
    """Ask for large socket buffers, beyond ``net.core.rmem_max`` where allowed.

    ``SO_RCVBUFFORCE`` needs CAP_NET_ADMIN (root outside the packaged unit, which
    keeps no capability); without it the kernel caps ``SO_RCVBUF`` at rmem_max,
    208 KB by default: the first start on such a box says once how to raise it.
    """
    global _buffers_reported
    for force, plain, size in (
        (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF, RECEIVE_BUFFER),
        (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF, SEND_BUFFER),
    ):
        try:
            if force is None:
                raise PermissionError
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, size)
            except OSError as exc:  # a smaller buffer still works
                _log.debug("cannot enlarge a UDP socket buffer: %s", exc)
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < RECEIVE_BUFFER_ENOUGH and not _buffers_reported:
        _buffers_reported = True
        _log.warning(
            "the UDP receive buffer is %d KB: with thousands of registrations, raise "
            "net.core.rmem_max to %d (sysctl) so that answers are not dropped",
            granted // 1024,
            RECEIVE_BUFFER,
        )


class UdpEndpoint:
    """A non-blocking UDP socket bound to a free port on every address of a family."""

    def __init__(self, sock: socket.socket, dispatcher: Dispatcher) -> None:
        self._sock = sock
        self._dispatcher = dispatcher
        self._loop = asyncio.get_running_loop()
        self._backlog: collections.deque[tuple[bytes, Address]] = collections.deque()
        self._closed = False
        bound = sock.getsockname()
        self.port: int = bound[1]
        #: The address bound ("0.0.0.0" or "::" unless an access point's): for traces.
        self.host: str = bound[0]
        #: STUN transaction id -> the address asked and who waits for its answer.
        self.stun_waiters: dict[bytes, tuple[Address, Callable[[bytes], None]]] = {}
        self._keepers: dict[Address, StunKeeper] = {}
        #: (remote, our source address) -> its flow, one for every session aimed there:
        #: a flow holds nothing of a session's, and a gateway has thousands per remote.
        self._flows: dict[tuple[Address, str], UdpFlow] = {}
        self._loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def open(
        cls,
        family: socket.AddressFamily,
        dispatcher: Dispatcher,
        address: str = "",
        device: str = "",
        port: int = 0,
    ) -> UdpEndpoint:
        """Bind a new socket of ``family`` to ``port``, or to an ephemeral one.

        On every address of the family, or on ``address`` (an access point's), and
        then also to ``device`` where the kernel allows it (``bind_to_device``).
        ``port`` is a wish (``preferred_port``): when another socket has it, or it
        may not be bound, the kernel picks one instead.
        """
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            size_buffers(sock)
            if device:
                bind_to_device(sock, device)
            host = address or ("::" if family == socket.AF_INET6 else "0.0.0.0")
            try:
                sock.bind((host, port))
            except OSError as exc:
                if not port or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                _log.info("UDP port %d is taken (%s); using another", port, exc.strerror)
                sock.bind((host, 0))
            return cls(sock, dispatcher)
        except BaseException:
            sock.close()
            raise

    def flow_to(self, remote: Address, local_ip: str) -> UdpFlow:
        """The flow from ``local_ip`` to ``remote`` on this socket, shared by its users."""
        key = (remote, local_ip)
        flow = self._flows.get(key)
        if flow is None:
            flow = self._flows[key] = UdpFlow(self, remote, local_ip)
        return flow

    def _readable(self) -> None:
        """Drain what has arrived (up to a batch); one bad datagram spoils nothing."""
        recvfrom = self._sock.recvfrom
        deliver = self._dispatcher.deliver
        tracing = SIP_TRACE.enabled  # once per wake-up, not per datagram
        for _ in range(READ_BATCH):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error queued on the socket
                _log.debug("UDP error: %s", exc)
                continue
            if data[:1] < b"\x40" and is_stun(data):  # never SIP: that starts with a letter
                tid = transaction_id(data)
                waiter = self.stun_waiters.get(tid)
                # only from where it was asked: anyone else is a stranger, even one
                # who saw the transaction id go by
                if waiter is not None and waiter[0] == addr[:2]:
                    del self.stun_waiters[tid]
                    waiter[1](data)
                continue
            if tracing:
                SIP_TRACE.received("udp", self.local_toward(addr), addr, data)
            try:
                deliver(data, _Replier(self, addr))
            except Exception:
                _log.exception("a UDP datagram from %s could not be handled", addr)

    def sendto(self, data: bytes, remote: Address) -> None:
        """Send a datagram now, or queue it while the send buffer is full."""
        if self._closed:
            return
        if not self._backlog:
            try:
                self._sock.sendto(data, remote)
                return
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._sock.fileno(), self._writable)
            except OSError as exc:  # unreachable, refused: the transaction times out
                _log.debug("UDP send to %s failed: %s", remote, exc)
                return
        if len(self._backlog) < SEND_BACKLOG:
            self._backlog.append((data, remote))

    def _writable(self) -> None:
        while self._backlog:
            data, remote = self._backlog[0]
            try:
                self._sock.sendto(data, remote)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log.debug("UDP send to %s failed: %s", remote, exc)
            self._backlog.popleft()
        self._loop.remove_writer(self._sock.fileno())

    def local_toward(self, remote: Address) -> Address:
        """Our address as ``remote`` sees it (traces only: it may ask the kernel)."""
        wildcard = self.host in ("0.0.0.0", "::")
        return (local_ip_for(remote[0]) if wildcard else self.host, self.port)

    def keeper(self, remote: Address, timeout: float = STUN_TIMEOUT) -> StunKeeper:
        """The STUN keep-alive towards ``remote``, made on first use."""
        keeper = self._keepers.get(remote)
        if keeper is None:
            keeper = self._keepers[remote] = StunKeeper(self, remote, timeout)
        return keeper

    def close(self) -> None:
        """Stop reading and writing and close the socket."""
        if self._closed:
            return
        self._closed = True
        for keeper in self._keepers.values():
            keeper.close()
        self._keepers.clear()
        self._flows.clear()
        self._loop.remove_reader(self._sock.fileno())
        if self._backlog:
            self._loop.remove_writer(self._sock.fileno())
            self._backlog.clear()
        self._sock.close()


class _Replier:
    """Sends an answer back to where a datagram came from (OPTIONS pings)."""

    __slots__ = ("_addr", "_endpoint")

    def __init__(self, endpoint: UdpEndpoint, addr: Address) -> None:
        self._endpoint = endpoint
        self._addr = addr

    def __call__(self, answer: bytes) -> None:
        if SIP_TRACE.enabled:
            SIP_TRACE.sent("udp", self._endpoint.local_toward(self._addr), self._addr, answer)
        self._endpoint.sendto(answer, self._addr)


class UdpFlow(Flow):
    """The shared UDP socket, aimed at one remote address."""

    def __init__(self, endpoint: UdpEndpoint, remote: Address, local_ip: str) -> None:
        self.transport = "udp"
        self._endpoint = endpoint
        self.remote = remote
        self.local = (local_ip, endpoint.port)

    @property
    def reliable(self) -> bool:
        """UDP does not retransmit: ``Flow.reliable``'s answer, asked of compiled code."""
        return False

    def send(self, data: bytes) -> None:
        """Send one datagram."""
        if SIP_TRACE.enabled:
            SIP_TRACE.sent("udp", self.local, self.remote, data)
        self._endpoint.sendto(data, self.remote)

    def on_close(self, handler: CloseHandler) -> Callable[[], None]:
        """A UDP flow "closes" when its STUN keep-alive goes unanswered (if one runs)."""
        return self._endpoint.keeper(self.remote).subscribe(lambda _m: None, handler)

    def on_mapped(self, handler: Callable[[str], None]) -> Callable[[], None]:
        """Hear ``host:port`` when a STUN answer shows the NAT mapped us anew."""
        return self._endpoint.keeper(self.remote).subscribe(handler, lambda _r: None)

    def watch(self, closed: CloseHandler, mapped: Callable[[str], None]) -> Callable[[], None]:
        """Both, as one subscription to the remote's keep-alive."""
        return self._endpoint.keeper(self.remote).subscribe(mapped, closed)

    def keep_alive(self, interval: float) -> None:
        """STUN Binding keep-alives (RFC 5626 §4.4.2), shared by every user of the remote."""
        self._endpoint.keeper(self.remote).keep_alive(interval)


def bind_to_device(sock: socket.socket, device: str) -> None:
    """Send and receive through ``device`` only (SO_BINDTODEVICE), where allowed.

    Binding to the interface's address alone picks the source address, not the way
    out: with routes to the registrar over two interfaces the kernel would still
    send by the best route. Linux 5.7 and later let an unprivileged process bind a
    socket to a device once; where it is refused (older kernels without
    CAP_NET_RAW) the address binding still holds, and that is logged, not fatal.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    except OSError as exc:
        _log.debug("cannot bind a socket to device %s (%s); bound to its address only", device, exc)


_local_ips: dict[str, tuple[float, str]] = {}


def forget_local_ips() -> None:
    """Routes changed: ask the kernel afresh which source address each remote gets."""
    _local_ips.clear()


def local_ip_for(remote: str) -> str:
    """The source address the kernel would use towards ``remote`` (no packet is sent).

    Remembered for ``LOCAL_IP_TTL`` seconds: a thousand profiles starting towards one
    registrar ask the routing table once, not a thousand times.
    """
    now = time.monotonic()
    known = _local_ips.get(remote)
    if known is not None and now - known[0] < LOCAL_IP_TTL:
        return known[1]
    family = socket.AF_INET6 if ":" in remote else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((remote, 9))
            found = str(probe.getsockname()[0])
        except OSError:
            found = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    if len(_local_ips) > 1024:
        _local_ips.clear()
    _local_ips[remote] = (now, found)
    return found
