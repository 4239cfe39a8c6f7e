"""Typed exceptions for everything a sipprofiled call can fail with.

The daemon reports failures as D-Bus error names; callers want to write
``except NotFound`` rather than compare strings, and want one root
(:class:`SipProfileError`) to catch everything the library raises, bus trouble
included. The mapping from names to classes is a single table (``_BY_NAME``) so
that adding an error to :mod:`sipprofile.proto.names` is a one-line change here,
and a test can check that no contract name is left out.
"""

from __future__ import annotations

from typing import ClassVar, Final

from dbus_fast.constants import ErrorType
from dbus_fast.errors import DBusError

from sipprofile.proto.names import BUS_NAME, Error

__all__ = [
    "AccessDenied",
    "AlreadyEnabled",
    "AuthenticationFailed",
    "BusError",
    "DaemonUnavailable",
    "DeregisteredByNetwork",
    "Forbidden",
    "InUse",
    "Internal",
    "InvalidArgument",
    "NetworkUnavailable",
    "NotEnabled",
    "NotFound",
    "ReadOnly",
    "Rejected",
    "ResolveFailed",
    "SecurityAgreementFailed",
    "SipProfileError",
    "Timeout",
    "TransportFailed",
    "daemon_unavailable",
    "error_class",
    "from_dbus_error",
]


class SipProfileError(Exception):
    """Root of every error the client library raises.

    ``name`` is the D-Bus error name (what the bus carried, or the closest standard
    name for failures that never reached the bus) and ``message`` is text for a
    person, as the daemon wrote it.
    """

    #: The D-Bus error name this class stands for; instances may carry a more
    #: specific ``name`` (e.g. the bus's own AccessDenied).
    dbus_name: ClassVar[str] = ErrorType.FAILED.value

    def __init__(self, message: str, *, name: str | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.name: str = name if name is not None else self.dbus_name

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, name={self.name!r})"


class InvalidArgument(SipProfileError):
    """A key, type or value was rejected; the message names which and why."""

    dbus_name = Error.INVALID_ARGUMENT


class NotFound(SipProfileError):
    """The profile (or default profile) does not exist, or was deleted meanwhile."""

    dbus_name = Error.NOT_FOUND


class InUse(SipProfileError):
    """The profile cannot be deleted while a client holds it enabled."""

    dbus_name = Error.IN_USE


class AlreadyEnabled(SipProfileError):
    """The calling client already holds the profile enabled."""

    dbus_name = Error.ALREADY_ENABLED


class NotEnabled(SipProfileError):
    """The calling client does not hold the profile enabled."""

    dbus_name = Error.NOT_ENABLED


class AccessDenied(SipProfileError):
    """The daemon, polkit or the bus policy refused the caller."""

    dbus_name = Error.ACCESS_DENIED


class ReadOnly(SipProfileError):
    """A status property, or ``Type`` after creation, cannot be written."""

    dbus_name = Error.READ_ONLY


class AuthenticationFailed(SipProfileError):
    """The registrar rejected the credentials."""

    dbus_name = Error.AUTHENTICATION_FAILED


class Forbidden(SipProfileError):
    """The registrar answered 403."""

    dbus_name = Error.FORBIDDEN


class Timeout(SipProfileError):
    """The registrar did not answer in time."""

    dbus_name = Error.TIMEOUT


class TransportFailed(SipProfileError):
    """The connection to the next hop failed."""

    dbus_name = Error.TRANSPORT_FAILED


class ResolveFailed(SipProfileError):
    """The registrar's or proxy's name could not be resolved."""

    dbus_name = Error.RESOLVE_FAILED


class Rejected(SipProfileError):
    """The registrar refused the registration for another reason."""

    dbus_name = Error.REJECTED


class NetworkUnavailable(SipProfileError):
    """The access point the profile uses is down."""

    dbus_name = Error.NETWORK_UNAVAILABLE


class DeregisteredByNetwork(SipProfileError):
    """The network ended the registration, again after the one re-registration."""

    dbus_name = Error.DEREGISTERED_BY_NETWORK


class SecurityAgreementFailed(SipProfileError):
    """No RFC 3329 security mechanism could be agreed with the first hop."""

    dbus_name = Error.SECURITY_AGREEMENT_FAILED


class Internal(SipProfileError):
    """The daemon failed at its own work (e.g. database unwritable); nothing changed."""

    dbus_name = Error.INTERNAL


class DaemonUnavailable(SipProfileError):
    """sipprofiled is not on the bus, or the bus itself cannot be reached.

    Separate from :class:`BusError` because the remedy is different and simple:
    start the daemon, or talk to the bus it actually runs on.
    """

    dbus_name = ErrorType.SERVICE_UNKNOWN.value


class BusError(SipProfileError):
    """Any other D-Bus failure (no reply, disconnected, malformed reply, ...)."""

    dbus_name = ErrorType.FAILED.value


_CONTRACT_CLASSES: Final[tuple[type[SipProfileError], ...]] = (
    InvalidArgument,
    NotFound,
    InUse,
    AlreadyEnabled,
    NotEnabled,
    AccessDenied,
    ReadOnly,
    AuthenticationFailed,
    Forbidden,
    Timeout,
    TransportFailed,
    ResolveFailed,
    Rejected,
    NetworkUnavailable,
    DeregisteredByNetwork,
    SecurityAgreementFailed,
    Internal,
)

#: The one table from D-Bus error names to classes. The bus's own refusals map to
#: the class a caller would catch for the same situation: a policy or polkit denial
#: is an AccessDenied whatever component said it.
_BY_NAME: Final[dict[str, type[SipProfileError]]] = {
    **{cls.dbus_name: cls for cls in _CONTRACT_CLASSES},
    ErrorType.SERVICE_UNKNOWN.value: DaemonUnavailable,
    ErrorType.NAME_HAS_NO_OWNER.value: DaemonUnavailable,
    ErrorType.ACCESS_DENIED.value: AccessDenied,
    ErrorType.INTERACTIVE_AUTHORIZATION_REQUIRED.value: AccessDenied,
}


def error_class(name: str) -> type[SipProfileError]:
    """The exception class for a D-Bus error name; :class:`BusError` for unknown names.

    Also useful for the ``error`` argument of the ``ProfileError`` signal.
    """
    return _BY_NAME.get(name, BusError)


def daemon_unavailable(
    where: str, detail: str = "", *, name: str | None = None, bus_unreachable: bool = False
) -> DaemonUnavailable:
    """A :class:`DaemonUnavailable` whose message says what to do about it.

    ``where`` describes the bus ("the system bus", "the bus at unix:path=...") so
    a person can tell whether they simply picked the wrong one; ``bus_unreachable``
    says the bus itself, not the daemon, could not be reached.
    """
    detail = f" ({detail})" if detail else ""
    if bus_unreachable:
        problem = f"cannot connect to {where}{detail}"
    else:
        problem = f"sipprofiled ({BUS_NAME}) is not running on {where}{detail}"
    return DaemonUnavailable(
        f"{problem}: start sipprofiled, or use the bus it runs on"
        " (sipprofilectl --session, --system or --address)",
        name=name,
    )


def from_dbus_error(exc: DBusError, *, where: str = "the bus") -> SipProfileError:
    """Translate a dbus-fast error into the matching typed exception.

    The daemon's message is kept as it is (it is written for a person); only
    "service not there" gets a message of ours, because the bus's own text
    ("The name is not activatable") does not tell the user what to do.
    """
    name = str(exc.type)
    text = exc.text if isinstance(exc.text, str) else str(exc.text)
    cls = error_class(name)
    if cls is DaemonUnavailable:
        return daemon_unavailable(where, name=name)
    if not text:
        text = name
    return cls(text, name=name)
