"""Which network a profile registers through: its ``AccessPoint``, read against the links.

``AccessPoint`` is empty (follow the default route: the kernel picks the way, and the
engine re-registers when the default route changes) or a comma-separated list of
network interface names in order of preference (the reference's SNAP list). A profile
with names registers through the first of them that is up and has an address, bound
to that address (and to the device where the kernel lets us); with none of them up it
waits for the network. Pure functions over the network state, so the rules are tested
without netlink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from sipprofile.server.registry.access_point import interface_names

__all__ = [
    "DEFAULT_PATH",
    "Interface",
    "NetworkPath",
    "NetworkView",
    "choose",
    "interface_names",
    "unavailable_reason",
]


class Interface(Protocol):
    """What the engine needs of an interface that is up (``network.state.Interface``)."""

    @property
    def name(self) -> str: ...
    @property
    def addresses(self) -> tuple[str, ...]: ...


class NetworkView(Protocol):
    """What the engine reads of the network (``network.state.NetworkState``)."""

    def interface(self, name: str) -> Interface | None: ...


@dataclass(frozen=True, slots=True)
class NetworkPath:
    """The way a registration goes out: an interface and its usable addresses.

    ``interface`` "" is the default route: sockets bound to no address, the kernel
    choosing per packet. Equal paths need no move; a path whose addresses changed does.
    """

    interface: str = ""
    addresses: tuple[str, ...] = ()

    def local_address(self, family_v6: bool) -> str | None:
        """The address to bind for a remote of that family; None if it has none."""
        for address in self.addresses:
            if (":" in address) is family_v6:
                return address
        return None

    def describe(self) -> str:
        """For logs and errors: ``wlan0`` or "the default route"."""
        return self.interface or "the default route"


#: Follow the default route: what an empty ``AccessPoint`` means.
DEFAULT_PATH: Final = NetworkPath()


def choose(names: tuple[str, ...], network: NetworkView | None) -> NetworkPath | None:
    """The path to register through now; None when the profile must wait for one.

    No names: the default route, always (the kernel decides whether the registrar is
    reachable; a failure is retried like any other). Names without a network view
    (netlink unavailable): never, since whether they are up cannot be known.
    """
    if not names:
        return DEFAULT_PATH
    if network is None:
        return None
    for name in names:
        interface = network.interface(name)
        if interface is not None and interface.addresses:
            return NetworkPath(name, interface.addresses)
    return None


def unavailable_reason(names: tuple[str, ...], watching: bool) -> str:
    """Why a profile waits, for ``LastError`` and the log."""
    listed = ", ".join(names)
    if not watching:
        return f"cannot watch network interfaces (netlink unavailable), so {listed} cannot be used"
    if len(names) == 1:
        return f"interface {listed} is down or has no address"
    return f"none of the interfaces {listed} is up with an address"
