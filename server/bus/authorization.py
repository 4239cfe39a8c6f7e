"""Who may call what: one polkit action per method, checked per call.

On the system bus every method call is checked with polkit before anything else is
looked at, the way systemd's hostnamed does it: the subject is the caller's unique
bus name, so polkit judges the very process that sent the call (its user, session,
seat), and an administrator changes the outcome with a rules file, not with us.

The table below is the whole policy of the daemon. It names every method the
handler serves, including the standard interfaces; a method missing from it is
refused (and logged as the bug it is), so a new method cannot slip in unchecked.
Nothing is cached: polkit keeps its own temporary authorizations
(``auth_admin_keep``) and drops them when it should; an answer kept here could
outlive a permission the administrator has just taken away.

Failures close: when polkit is not running, refuses the question or does not answer
in time, the call is denied, and each kind of failure is logged once until polkit
answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NoReturn

from dbus_fast import Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from sipprofile.proto import names
from sipprofile.server.errors import AccessDenied

_log = logging.getLogger(__name__)

ACTION_PREFIX: Final = "org.sipprofile.SipProfile1."

#: Read and list profiles (Symbian: ReadUserData).
READ: Final = ACTION_PREFIX + "read"
#: Create, change and delete profiles (WriteDeviceData).
MANAGE: Final = ACTION_PREFIX + "manage"
#: Hold profiles enabled, i.e. have them registered (NetworkServices).
USE: Final = ACTION_PREFIX + "use"
#: Drop every holder of a profile (NetworkControl).
FORCE: Final = ACTION_PREFIX + "force"

ACTIONS: Final = (READ, MANAGE, USE, FORCE)

_REG = names.REGISTRY_INTERFACE
_PROF = names.PROFILE_INTERFACE
_PROPS = names.PROPERTIES_INTERFACE

#: The action each method needs; ``None``: none (Symbian's capability "none": the
#: supported types, and introspection, which shows the contract and profile ids only).
#: Properties apply to the object called: the registry has none, a profile's are its
#: settings and status, so Get/GetAll read and Set is an Update.
METHOD_ACTIONS: Final[Mapping[tuple[str, str], str | None]] = MappingProxyType(
    {
        (_REG, "CreateProfile"): MANAGE,
        (_REG, "ImportProfiles"): MANAGE,
        (_REG, "ListProfiles"): READ,
        (_REG, "ListProfilesByType"): READ,
        (_REG, "ListProfilesByAor"): READ,
        (_REG, "GetProfile"): READ,
        (_REG, "GetDefaultProfile"): READ,
        (_REG, "SupportedTypes"): None,
        (names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"): READ,
        (_PROF, "Update"): MANAGE,
        (_PROF, "Delete"): MANAGE,
        (_PROF, "Enable"): USE,
        (_PROF, "Disable"): USE,
        (_PROF, "IsEnabled"): USE,
        (_PROF, "Refresh"): USE,
        (_PROF, "ForceDisable"): FORCE,
        (_PROPS, "Get"): READ,
        (_PROPS, "GetAll"): READ,
        (_PROPS, "Set"): MANAGE,
        (names.INTROSPECTABLE_INTERFACE, "Introspect"): None,
        # answered by dbus-fast itself, before the daemon's handler sees them
        (names.PEER_INTERFACE, "Ping"): None,
        (names.PEER_INTERFACE, "GetMachineId"): None,
    }
)

POLKIT_NAME: Final = "org.freedesktop.PolicyKit1"
POLKIT_PATH: Final = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_INTERFACE: Final = "org.freedesktop.PolicyKit1.Authority"

#: CheckAuthorization flag: polkit may ask the caller's authentication agent.
ALLOW_USER_INTERACTION: Final = 1

#: How long polkit may take to answer. Without interaction it decides at once, so 25 s
#: (libdbus's default call timeout) only guards against a hung polkitd; with
#: interaction a person is typing a password into an agent and is given 5 minutes.
TIMEOUT: Final = 25.0
INTERACTIVE_TIMEOUT: Final = 300.0


class PolkitAuthorizer:
    """Asks the polkit authority on ``bus`` about each call, never remembering the answer.

    polkit is asked on the daemon's own bus: it resolves the caller's unique name on
    the bus it is connected to, so asking any other would judge a stranger.
    """

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self._failing: set[str] = set()  # kinds of failure logged since the last answer

    async def check(self, call: Message, method: tuple[str, str]) -> None:
        """Return if the caller of ``call`` may call ``method``; raise AccessDenied if not."""
        if method not in METHOD_ACTIONS:
            _log.error("no polkit action is assigned to %s.%s: refusing it", *method)
            raise AccessDenied(f"{method[0]}.{method[1]} is not open to anyone")
        action = METHOD_ACTIONS[method]
        if action is None:
            return
        if not call.sender:
            raise AccessDenied(f"{action} is needed, and a caller without a bus name has none")
        interactive = bool(call.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        authorized, challenge = await self._ask(call.sender, action, interactive)
        if authorized:
            return
        if challenge and not interactive:
            raise AccessDenied(
                f"{method[1]} needs {action}, which requires authentication: call again "
                "allowing interactive authorization (busctl does by default)"
            )
        raise AccessDenied(f"{method[1]} needs {action}, which polkit did not grant")

    async def _ask(self, sender: str, action: str, interactive: bool) -> tuple[bool, bool]:
        """The (authorized, challenge) polkit answers for ``sender``; AccessDenied if none."""
        question = Message(
            destination=POLKIT_NAME,
            path=POLKIT_PATH,
            interface=POLKIT_INTERFACE,
            member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[
                ["system-bus-name", {"name": Variant("s", sender)}],
                action,
                {},
                ALLOW_USER_INTERACTION if interactive else 0,
                "",
            ],
        )
        try:
            reply = await asyncio.wait_for(
                self.bus.call(question), INTERACTIVE_TIMEOUT if interactive else TIMEOUT
            )
        except TimeoutError:
            self._failed("timeout", action, "polkit did not answer in time")
        except Exception as exc:  # the bus connection itself failed
            self._failed(type(exc).__name__, action, str(exc) or type(exc).__name__)
        if reply is None:
            self._failed("no reply", action, "the bus closed the call")
        if reply.message_type is MessageType.ERROR:
            text = str(reply.body[0]) if reply.body else ""
            self._failed(reply.error_name or "error", action, text)
        if reply.signature != "(bba{ss})":
            self._failed("malformed", action, f"an answer of type {reply.signature!r}")
        authorized, challenge, _details = reply.body[0]
        if self._failing:
            _log.info("polkit answers again")
            self._failing.clear()
        return bool(authorized), bool(challenge)

    def _failed(self, kind: str, action: str, text: str) -> NoReturn:
        """Log the first failure of each kind, then deny (fail closed)."""
        if kind not in self._failing:
            self._failing.add(kind)
            hint = (
                "; is org.sipprofile.SipProfile1.policy installed in /usr/share/polkit-1/actions?"
                if "not registered" in text
                else ""
            )
            _log.warning(
                "cannot check %s with polkit (%s: %s)%s; denying the calls that need it "
                "until polkit answers",
                action,
                kind,
                text,
                hint,
            )
        raise AccessDenied(f"{action} is needed and polkit cannot be asked now; try again later")
