"""Every socket and connection of the daemon, found or made per next hop.

The shared UDP socket of each address family (``udp``), and one TCP or TLS
connection per remote, transport and TLS identity (``stream``), reused by every
registration that goes there; a connection being opened is shared too, so a
thousand profiles behind one proxy open one connection, not a thousand.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Final

from .flow import Dispatcher, Flow, Target
from .stream import StreamFlow, tls_context
from .udp import UdpEndpoint, UdpFlow, local_ip_for

CONNECT_TIMEOUT: Final = 10.0


class Flows:
    """Every socket and connection of the daemon."""

    def __init__(self) -> None:
        self.dispatcher = Dispatcher()
        self._udp: dict[int, UdpEndpoint] = {}
        self._streams: dict[Target, StreamFlow] = {}
        self._connecting: dict[Target, asyncio.Future[StreamFlow]] = {}

    async def flow(self, target: Target) -> Flow:
        """A flow to ``target``: the shared UDP socket, or a (reused) connection."""
        if target.transport == "udp":
            return self.udp_flow(target)
        existing = self._streams.get(target)
        if existing is not None and not existing.closed:
            return existing
        pending = self._connecting.get(target)
        if pending is None:
            pending = asyncio.ensure_future(self._connect(target))
            self._connecting[target] = pending
            pending.add_done_callback(lambda _: self._connecting.pop(target, None))
        return await asyncio.shield(pending)

    def udp_flow(self, target: Target) -> UdpFlow:
        """The shared UDP socket towards ``target``, opened on first use (no waiting).

        ``ConnectionError`` when no socket of that family can be had (IPv6 switched
        off, no ports left): a failure to reach the next hop, retried like one.
        """
        family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
        endpoint = self._udp.get(family)
        if endpoint is None:
            try:
                endpoint = UdpEndpoint.open(family, self.dispatcher)
            except OSError as exc:
                raise ConnectionError(f"cannot open a UDP socket: {exc}") from exc
            self._udp[family] = endpoint
        return UdpFlow(endpoint, (target.address, target.port), local_ip_for(target.address))

    async def _connect(self, target: Target) -> StreamFlow:
        loop = asyncio.get_running_loop()
        context = tls_context(target.tls) if target.tls else None
        server_hostname = target.tls.server_name if target.tls else None
        try:
            _, flow = await asyncio.wait_for(
                loop.create_connection(
                    lambda: StreamFlow(target.transport, self.dispatcher),
                    target.address,
                    target.port,
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
        self._streams[target] = flow

        def forget(_reason: str) -> None:
            if self._streams.get(target) is flow:
                del self._streams[target]

        flow.on_close(forget)
        return flow

    def close(self) -> None:
        """Close every socket and connection."""
        for flow in list(self._streams.values()):
            flow.close("shutting down")
        self._streams.clear()
        for endpoint in self._udp.values():
            endpoint.close()
        self._udp.clear()
