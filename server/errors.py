"""Domain errors of the daemon.

The registry and the store raise these; the bus layer maps each class to its D-Bus
error name in one table (``sipprofile.server.bus.errors``). Keeping D-Bus out of the
domain lets the registry be tested, and later reused, without a bus.
"""

from __future__ import annotations


class DomainError(Exception):
    """Root of the errors a client can cause or be told about.

    ``message`` is written for a person: it says what was wrong and, where it helps,
    what would be right.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """A key, type or value the caller sent is not acceptable."""


class NotFound(DomainError):
    """The profile (or default profile) does not exist."""


class InUse(DomainError):
    """The profile is held enabled by a client and cannot be deleted."""


class AlreadyEnabled(DomainError):
    """The calling client already holds the profile."""


class NotEnabled(DomainError):
    """The calling client does not hold the profile."""


class AccessDenied(DomainError):
    """The caller is not allowed to do this."""


class ReadOnly(DomainError):
    """The caller tried to write a status property or a create-only setting."""


class InternalError(DomainError):
    """The daemon could not do its own work; nothing was changed."""


class StoreError(Exception):
    """The database cannot be used: refused at start-up with this message.

    Not a DomainError: it stops the daemon rather than failing one call.
    """
