"""Every socket and connection of the daemon, found or made per next hop.

The shared UDP socket of each address family (``udp``), and one TCP or TLS
connection per remote, transport and TLS identity (``stream``), reused by every
registration that goes there; a connection being opened is shared too, so a
thousand profiles behind one proxy open one connection, not a thousand.

A registration bound to an access point asks for a ``local`` address (and its
``device``): it gets sockets and connections of its own kind, bound there, shared
by every registration on the same interface. When that address goes away,
``prune`` closes them.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from .dispatch import Dispatcher
from .flow import Flow, Target
from .stream import StreamFlow, tls_context
from .udp import UdpEndpoint, UdpFlow, bind_to_device, forget_local_ips, local_ip_for

CONNECT_TIMEOUT: Final = 10.0


class Flows:
    """Every socket and connection of the daemon."""

    def __init__(self, udp_port: int = 0) -> None:
        self.dispatcher = Dispatcher()
        #: The port every UDP socket asks for first (``udp.preferred_port``); 0: any.
        self._udp_port = udp_port
        #: (family, local address, device) -> socket; "" and "" for the unbound one.
        self._udp: dict[tuple[int, str, str], UdpEndpoint] = {}
        self._streams: dict[_StreamKey, StreamFlow] = {}
        self._connecting: dict[_StreamKey, asyncio.Future[StreamFlow]] = {}

    async def flow(self, target: Target, local: str = "", device: str = "") -> Flow:
        """A flow to ``target``: the shared UDP socket, or a (reused) connection.

        ``local`` (and ``device``) bind it to an access point; "" lets the kernel choose.
        """
        if target.transport == "udp":
            return self.udp_flow(target, local, device)
        key = (target, local, device)
        existing = self._streams.get(key)
        if existing is not None and not existing.closed:
            return existing
        pending = self._connecting.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(key))
            self._connecting[key] = pending
            pending.add_done_callback(lambda _: self._connecting.pop(key, None))
        return await asyncio.shield(pending)

    def udp_flow(self, target: Target, local: str = "", device: str = "") -> UdpFlow:
        """The shared UDP socket towards ``target``, opened on first use (no waiting).

        ``ConnectionError`` when no socket of that family can be had (IPv6 switched
        off, no ports left, the access point's address just went away): a failure to
        reach the next hop, retried like one.
        """
        family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
        key = (family, local, device)
        endpoint = self._udp.get(key)
        if endpoint is None:
            try:
                endpoint = UdpEndpoint.open(
                    family, self.dispatcher, local, device, port=self._udp_port
                )
            except OSError as exc:
                where = f" on {local}" if local else ""
                raise ConnectionError(f"cannot open a UDP socket{where}: {exc}") from exc
            self._udp[key] = endpoint
        source = local or local_ip_for(target.address)
        return endpoint.flow_to((target.address, target.port), source)

    async def _connect(self, key: _StreamKey) -> StreamFlow:
        target, local, device = key
        loop = asyncio.get_running_loop()
        context = tls_context(target.tls) if target.tls else None
        server_hostname = target.tls.server_name if target.tls else None
        try:
            sock = await asyncio.wait_for(_connected_socket(target, local, device), CONNECT_TIMEOUT)
            _, flow = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamFlow(target.transport, self.dispatcher),
                    sock=sock,
                    ssl=context,
                    server_hostname=server_hostname,
                ),
                CONNECT_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise ConnectionError(
                f"cannot connect to {target.transport}:{target.address}:{target.port}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        self._streams[key] = flow

        def forget(_reason: str) -> None:
            if self._streams.get(key) is flow:
                del self._streams[key]

        flow.on_close(forget)
        return flow

    def prune(self, addresses: set[str]) -> None:
        """Close the sockets and connections bound to an address no longer in ``addresses``.

        The access point lost that address (or went down): nothing can be sent from
        it, and a socket bound to it would stay bound to nothing. Their registrations
        have been moved or suspended by the engine already.
        """
        for key, endpoint in list(self._udp.items()):
            if key[1] and key[1] not in addresses:
                endpoint.close()
                del self._udp[key]
        for (_, local, _), flow in list(self._streams.items()):
            if local and local not in addresses:
                flow.close(f"address {local} went away")

    def route_changed(self) -> None:
        """The default route changed: unbound connections follow it by reconnecting.

        Their sessions hear the close and connect again, on the new route; the unbound
        UDP socket needs nothing but new source addresses, asked afresh.
        """
        forget_local_ips()
        for (_, local, _), flow in list(self._streams.items()):
            if not local:
                flow.close("the default route changed")

    def close(self) -> None:
        """Close every socket and connection."""
        for flow in list(self._streams.values()):
            flow.close("shutting down")
        self._streams.clear()
        for endpoint in self._udp.values():
            endpoint.close()
        self._udp.clear()


#: A connection's identity: the next hop, and the local address and device it is bound to.
_StreamKey = tuple[Target, str, str]


async def _connected_socket(target: Target, local: str, device: str) -> socket.socket:
    """A TCP socket connected to ``target``, bound to ``local``/``device`` if given."""
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if device:
            bind_to_device(sock, device)
        if local:
            sock.bind((local, 0))
        await asyncio.get_running_loop().sock_connect(sock, (target.address, target.port))
    except BaseException:
        sock.close()
        raise
    return sock
