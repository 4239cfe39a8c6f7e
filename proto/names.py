"""Every name on the D-Bus contract, in one place.

Server, client library and tests import these constants instead of spelling names
again, so a typo cannot silently split the contract (the bleak ``defs.py`` pattern).
Names carry the ``1`` of the first API version: a future incompatible API gets new
names rather than changing these.
"""

from __future__ import annotations

from typing import Final

API_VERSION: Final = 1

BUS_NAME: Final = "org.sipprofile.SipProfile1"

REGISTRY_PATH: Final = "/org/sipprofile/SipProfile1"
PROFILE_PATH_PREFIX: Final = "/org/sipprofile/SipProfile1/Profile/"
PROFILES_PATH: Final = "/org/sipprofile/SipProfile1/Profile"

REGISTRY_INTERFACE: Final = "org.sipprofile.SipProfile1.Registry"
PROFILE_INTERFACE: Final = "org.sipprofile.SipProfile1.Profile"

OBJECT_MANAGER_INTERFACE: Final = "org.freedesktop.DBus.ObjectManager"
PROPERTIES_INTERFACE: Final = "org.freedesktop.DBus.Properties"
INTROSPECTABLE_INTERFACE: Final = "org.freedesktop.DBus.Introspectable"
PEER_INTERFACE: Final = "org.freedesktop.DBus.Peer"

ERROR_PREFIX: Final = "org.sipprofile.SipProfile1.Error."


class Error:
    """Error names, one attribute each; the full names are what the bus carries."""

    INVALID_ARGUMENT: Final = ERROR_PREFIX + "InvalidArgument"
    NOT_FOUND: Final = ERROR_PREFIX + "NotFound"
    IN_USE: Final = ERROR_PREFIX + "InUse"
    ALREADY_ENABLED: Final = ERROR_PREFIX + "AlreadyEnabled"
    NOT_ENABLED: Final = ERROR_PREFIX + "NotEnabled"
    ACCESS_DENIED: Final = ERROR_PREFIX + "AccessDenied"
    READ_ONLY: Final = ERROR_PREFIX + "ReadOnly"
    AUTHENTICATION_FAILED: Final = ERROR_PREFIX + "AuthenticationFailed"
    FORBIDDEN: Final = ERROR_PREFIX + "Forbidden"
    TIMEOUT: Final = ERROR_PREFIX + "Timeout"
    TRANSPORT_FAILED: Final = ERROR_PREFIX + "TransportFailed"
    RESOLVE_FAILED: Final = ERROR_PREFIX + "ResolveFailed"
    REJECTED: Final = ERROR_PREFIX + "Rejected"
    NETWORK_UNAVAILABLE: Final = ERROR_PREFIX + "NetworkUnavailable"
    #: The registrar (IMS: the S-CSCF, by a reg-event NOTIFY) ended our registration,
    #: again after the one re-registration that answers the first time.
    DEREGISTERED_BY_NETWORK: Final = ERROR_PREFIX + "DeregisteredByNetwork"
    #: A security agreement (RFC 3329) could not be reached with the first hop.
    SECURITY_AGREEMENT_FAILED: Final = ERROR_PREFIX + "SecurityAgreementFailed"
    #: Not in DESIGN.md's list: the daemon's own failure (database unwritable, a bug).
    #: Clients need a name for it rather than a bare org.freedesktop.DBus.Error.Failed.
    INTERNAL: Final = ERROR_PREFIX + "Internal"


ALL_ERRORS: Final = tuple(
    value for key, value in vars(Error).items() if key.isupper() and isinstance(value, str)
)


class Event:
    """The ``event`` argument of ``ProfileEvent``."""

    CREATED: Final = "created"
    UPDATED: Final = "updated"
    REGISTERED: Final = "registered"
    DEREGISTERED: Final = "deregistered"
    DESTROYED: Final = "destroyed"
    FORCIBLY_DISABLED: Final = "forcibly-disabled"


ALL_EVENTS: Final = (
    Event.CREATED,
    Event.UPDATED,
    Event.REGISTERED,
    Event.DEREGISTERED,
    Event.DESTROYED,
    Event.FORCIBLY_DISABLED,
)


def profile_path(profile_id: int) -> str:
    """Object path of a profile; ids are positive and never reused."""
    return f"{PROFILE_PATH_PREFIX}{profile_id}"


def profile_id_from_path(path: str) -> int | None:
    """The id in a profile object path, or ``None`` when the path is not one.

    Strict on purpose: ``.../Profile/007`` is not profile 7, so every profile has
    exactly one path and clients can compare paths as strings.
    """
    if not path.startswith(PROFILE_PATH_PREFIX):
        return None
    tail = path[len(PROFILE_PATH_PREFIX) :]
    if not tail.isascii() or not tail.isdigit() or tail.startswith("0"):
        return None
    return int(tail)
