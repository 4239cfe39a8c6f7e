"""The links, usable addresses and default routes, folded from rtnetlink changes.

Why a model of its own: the engine asks two questions, "is this interface up, and
with which addresses?" and "which way do packets leave by default?", and must be told
when an answer changes. Keeping the model pure (changes in, answers out) lets it be
tested with hand-made changes, and lets the monitor fill a fresh one from a complete
dump and swap it in whole when events were lost.

Only what the two questions need is kept: every link (a name and whether it is up),
its addresses, and the default routes of the main table; other routes are dropped on
arrival, so a router with a full routing table costs nothing here.

Answers are conservative where the kernel is silent: a default route through a link
that is down is ignored (the kernel keeps IPv4 routes over a link without carrier,
marked "linkdown", and flushes them without notice when the link is set down; the
monitor re-reads the routes then), and a link's addresses and routes go with the link.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Final

from .netlink import AddressChange, Change, LinkChange, RouteChange

__all__ = ["MAIN_TABLE", "DefaultRoute", "Interface", "NetworkState"]

#: RT_TABLE_MAIN: the table ``ip route`` shows, where default routes normally live.
MAIN_TABLE: Final = 254
_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class Interface:
    """A link that is up with at least one usable address (IPv4 first, then IPv6)."""

    name: str
    index: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DefaultRoute:
    """Where packets of ``family`` go when nothing more specific matches."""

    family: int
    interface: str
    gateway: str | None


@dataclass(slots=True)
class _Link:
    name: str
    up: bool


# An address by what the kernel tells addresses apart by on one link.
_AddressKey = tuple[int, str, int]  # family, address, prefix
# A default route by what tells two of them apart in the main table.
_RouteKey = tuple[int, int, int | None, str | None]  # family, priority, oif, gateway


class NetworkState:
    """The network as last reported; ``apply`` says whether an answer changed."""

    def __init__(self) -> None:
        """Empty: nothing is up until a dump or an event says so."""
        self._links: dict[int, _Link] = {}
        self._names: dict[str, int] = {}
        # Per link: every address (usable or not yet), in order of arrival.
        self._addresses: dict[int, dict[_AddressKey, bool]] = {}
        # Default routes of the main table, in order of arrival (ties go to the first).
        self._routes: dict[_RouteKey, None] = {}

    def apply(self, change: Change) -> bool:
        """Fold one change in; True if a query's answer changed.

        The queries are ``interface``, ``interfaces`` and ``default_routes``: news
        that changes none of them (statistics, a route that is not a default one, a
        tentative address) must wake nobody up.
        """
        if isinstance(change, LinkChange):
            return self._apply_link(change)
        if isinstance(change, AddressChange):
            return self._apply_address(change)
        if isinstance(change, RouteChange):
            return self._apply_route(change)
        return False

    def interface(self, name: str) -> Interface | None:
        """The link called ``name`` if it is up with a usable address, else None."""
        index = self._names.get(name)
        return None if index is None else self._view(index)

    def interfaces(self) -> tuple[Interface, ...]:
        """Every link that ``interface`` would answer for, by index."""
        found = (self._view(index) for index in sorted(self._links))
        return tuple(view for view in found if view is not None)

    def default_routes(self) -> tuple[DefaultRoute, ...]:
        """The default route the kernel would use, per family (IPv4 first, then IPv6).

        The main table's default route with the lowest priority (metric) among those
        whose link is up; the first one seen wins a tie, as it does in the kernel.
        """
        best: dict[int, tuple[int, DefaultRoute]] = {}
        for family, priority, oif, gateway in self._routes:
            link = self._links.get(oif) if oif is not None else None
            if link is None or not link.up:
                continue
            current = best.get(family)
            if current is None or priority < current[0]:
                best[family] = (priority, DefaultRoute(family, link.name, gateway))
        return tuple(best[family][1] for family in _FAMILIES if family in best)

    def has_default_route_via(self, index: int) -> bool:
        """Whether a default route (of any priority) goes through link ``index``.

        For the monitor: the kernel drops IPv4 routes without telling anyone when
        their link is set down or loses its last IPv4 address, so a link going down
        that carried a default route calls for re-reading the routes.
        """
        return any(oif == index for _family, _priority, oif, _gateway in self._routes)

    def _view(self, index: int) -> Interface | None:
        link = self._links.get(index)
        if link is None or not link.up or self._names.get(link.name) != index:
            return None
        addresses = self._addresses.get(index)
        if not addresses:
            return None
        usable = [key for key, ok in addresses.items() if ok]
        ordered = [address for family, address, _prefix in usable if family == socket.AF_INET]
        ordered += [address for family, address, _prefix in usable if family != socket.AF_INET]
        if not ordered:
            return None
        # The same address with two prefixes is one address to bind to.
        return Interface(link.name, index, tuple(dict.fromkeys(ordered)))

    def _apply_link(self, change: LinkChange) -> bool:
        index = change.index
        before = (self._view(index), self.interface(change.name), self.default_routes())
        link = self._links.get(index)
        if change.removed:
            if link is not None:
                del self._links[index]
                if self._names.get(link.name) == index:
                    del self._names[link.name]
            self._addresses.pop(index, None)
            self._routes = {key: None for key in self._routes if key[2] != index}
        else:
            # A message without a name keeps the name we know (the kernel always
            # sends one; this only guards against a name becoming "").
            name = change.name or (link.name if link is not None else "")
            if link is None:
                self._links[index] = _Link(name, change.up)
            else:
                if link.name != name and self._names.get(link.name) == index:
                    del self._names[link.name]  # renamed
                link.name = name
                link.up = change.up
            if name:
                # Names are unique in a namespace: a name seen on a new index means
                # the old holder was renamed or removed (its news may still come).
                self._names[name] = index
        after = (self._view(index), self.interface(change.name), self.default_routes())
        return before != after

    def _apply_address(self, change: AddressChange) -> bool:
        index = change.index
        before = self._view(index)
        key = (change.family, change.address, change.prefix)
        addresses = self._addresses.get(index)
        if change.removed:
            if addresses is not None:
                addresses.pop(key, None)
                if not addresses:
                    del self._addresses[index]
        else:
            # Kept even for a link not seen yet: during a dump, or a resync, an
            # address event may arrive before its link's first message.
            self._addresses.setdefault(index, {})[key] = change.usable
        return before != self._view(index)

    def _apply_route(self, change: RouteChange) -> bool:
        if change.destination is not None or change.table != MAIN_TABLE:
            return False
        before = self.default_routes()
        key = (change.family, change.priority, change.oif, change.gateway)
        if change.removed:
            self._routes.pop(key, None)
        else:
            if change.replaces and key not in self._routes:
                # NLM_F_REPLACE: the kernel put this route in the place of the first
                # one with the same family and priority, and sent no RTM_DELROUTE
                # for that one. (The kernel's order can differ from ours after an
                # ``ip route prepend``; the monitor re-reads the routes after a
                # replace to be exact.)
                replaced = next((old for old in self._routes if old[:2] == key[:2]), None)
                if replaced is not None:
                    self._routes = {(key if old == replaced else old): None for old in self._routes}
            self._routes[key] = None
        return before != self.default_routes()
