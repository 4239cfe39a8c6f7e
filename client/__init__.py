"""asyncio client library for sipprofiled, the SIP profile server.

Typical use::

    from sipprofile.client import Registry, NotFound

    async with await Registry.connect(bus="session") as registry:
        profile = await registry.create({"Aor": "sip:alice@example.com"})
        async for event in registry.events():
            ...

Depends on :mod:`sipprofile.proto` and dbus-fast only, so applications can use it
without pulling in the daemon.
"""

from __future__ import annotations

from sipprofile.client.errors import (
    AccessDenied,
    AlreadyEnabled,
    AuthenticationFailed,
    BusError,
    DaemonUnavailable,
    Forbidden,
    Internal,
    InUse,
    InvalidArgument,
    NetworkUnavailable,
    NotEnabled,
    NotFound,
    ReadOnly,
    Rejected,
    ResolveFailed,
    SipProfileError,
    Timeout,
    TransportFailed,
    error_class,
    from_dbus_error,
)
from sipprofile.client.events import (
    EventStream,
    ProfileErrorOccurred,
    ProfileEventOccurred,
    RegistryEvent,
    RegistryObserver,
)
from sipprofile.client.profile import AkaSettings, Profile, ServerSettings
from sipprofile.client.registry import Registry

__all__ = [
    "AccessDenied",
    "AkaSettings",
    "AlreadyEnabled",
    "AuthenticationFailed",
    "BusError",
    "DaemonUnavailable",
    "EventStream",
    "Forbidden",
    "InUse",
    "Internal",
    "InvalidArgument",
    "NetworkUnavailable",
    "NotEnabled",
    "NotFound",
    "Profile",
    "ProfileErrorOccurred",
    "ProfileEventOccurred",
    "ReadOnly",
    "Registry",
    "RegistryEvent",
    "RegistryObserver",
    "Rejected",
    "ResolveFailed",
    "ServerSettings",
    "SipProfileError",
    "Timeout",
    "TransportFailed",
    "error_class",
    "from_dbus_error",
]
