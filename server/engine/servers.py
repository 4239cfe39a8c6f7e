"""Which of the registrar's servers a registration uses, and when it moves on.

RFC 3263 resolves one registrar name to a list of servers (NAPTR, SRV priority and
weight, addresses). A registration uses the first that can be reached; when that
one fails (no answer, a failed transport, 503) it moves to the next at once
(§4.3), and once a server has answered it stays there, refreshes included, until
that server fails: the *affinity* that other stacks lack (a refresh sent to another
server of the pool creates a second binding, or finds no binding to refresh). When
every server of the list failed, the next attempt (after the usual backoff) starts
over from a fresh resolution, in DNS's order.
"""

from __future__ import annotations

from typing import Final

from sipprofile.server.transport.flow import Flow, Target
from sipprofile.server.transport.flows import Flows

from .access_point import DEFAULT_PATH, NetworkPath

#: One empty set for every registration with no failed server (CPython makes a new
#: empty frozenset at every ``frozenset()``).
_NONE_FAILED: Final[frozenset[Target]] = frozenset()


class Servers:
    """The resolved servers of one registration and the one it sticks to."""

    __slots__ = ("_failed", "_targets", "current")

    def __init__(self) -> None:
        # Immutable, and empty (shared) until a resolution or a failure: thousands of
        # registrations to a registrar named by its address never need either.
        self._targets: tuple[Target, ...] = ()
        self._failed: frozenset[Target] = _NONE_FAILED
        #: The server in use: the one to stay with while it works.
        self.current: Target | None = None

    def resolved(self, targets: list[Target]) -> list[Target]:
        """A new resolution, in the order to try: the current server first if listed."""
        current = self.current
        if current is not None and current in targets:
            targets = [current, *(t for t in targets if t != current)]
        self._targets = tuple(targets)
        self._failed = frozenset(t for t in self._failed if t in targets and t != current)
        return targets

    @property
    def chosen(self) -> bool:
        """Whether anything was resolved, failed or chosen: worth keeping at rest."""
        return bool(self._targets or self._failed) or self.current is not None

    def failed(self) -> list[Target]:
        """The current server failed: the others not tried since, in order.

        Empty when every one has failed: then the round is over, the failures are
        forgotten and no server is preferred, so the next resolution starts afresh.
        """
        if self.current is not None:
            self._failed = self._failed | {self.current}
        rest = [t for t in self._targets if t not in self._failed]
        if not rest:
            self._failed = _NONE_FAILED
            self.current = None
        return rest

    async def open(
        self, flows: Flows, targets: list[Target], path: NetworkPath = DEFAULT_PATH
    ) -> Flow:
        """A flow to the first of ``targets`` that can be reached, now the current one.

        Through ``path``: bound to its interface's address of the target's family,
        so a target of a family the interface lacks cannot be reached that way.
        ``ConnectionError`` naming the last failure when none can be.
        """
        last: Exception | None = None
        for target in targets:
            try:
                flow = await flows.flow(target, *binding(path, target))
            except ConnectionError as exc:
                last = exc
                continue
            self.current = target
            return flow
        raise ConnectionError(str(last) if last else "no address to connect to")


def binding(path: NetworkPath, target: Target) -> tuple[str, str]:
    """The local address and device for ``target`` through ``path`` ("", "": unbound)."""
    if not path.interface:
        return "", ""
    v6 = ":" in target.address
    local = path.local_address(v6)
    if local is None:
        family = "IPv6" if v6 else "IPv4"
        raise ConnectionError(f"interface {path.interface} has no {family} address")
    return local, path.interface
