"""Domain errors to named D-Bus errors: the one place where that mapping lives."""

from __future__ import annotations

from typing import Final

from dbus_fast import Message

from sipprofile.proto.names import Error
from sipprofile.server import errors

ERROR_NAMES: Final[dict[type[errors.DomainError], str]] = {
    errors.InvalidArgument: Error.INVALID_ARGUMENT,
    errors.NotFound: Error.NOT_FOUND,
    errors.InUse: Error.IN_USE,
    errors.AlreadyEnabled: Error.ALREADY_ENABLED,
    errors.NotEnabled: Error.NOT_ENABLED,
    errors.AccessDenied: Error.ACCESS_DENIED,
    errors.ReadOnly: Error.READ_ONLY,
    errors.InternalError: Error.INTERNAL,
}

#: Standard D-Bus errors for calls that do not fit the interfaces at all.
UNKNOWN_METHOD: Final = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_OBJECT: Final = "org.freedesktop.DBus.Error.UnknownObject"
UNKNOWN_INTERFACE: Final = "org.freedesktop.DBus.Error.UnknownInterface"
UNKNOWN_PROPERTY: Final = "org.freedesktop.DBus.Error.UnknownProperty"
INVALID_ARGS: Final = "org.freedesktop.DBus.Error.InvalidArgs"
LIMITS_EXCEEDED: Final = "org.freedesktop.DBus.Error.LimitsExceeded"


def error_reply(call: Message, exc: errors.DomainError) -> Message:
    """The error reply for a domain error, with its person-readable message."""
    name = ERROR_NAMES.get(type(exc), Error.INTERNAL)
    return Message.new_error(call, name, exc.message)
