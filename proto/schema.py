"""The shape of a profile on the bus: setting and status names with their D-Bus types.

Shared by the daemon (to validate and to serve) and the client library (to type and
to build ``sipprofilectl`` options), and checked against the introspection XML by the
tests, so the three cannot drift apart.
"""

from __future__ import annotations

from typing import Final

#: Writable settings: the keys of ``CreateProfile`` and ``Update`` and readable
#: properties of the same name. Order is the order of the introspection XML.
SETTINGS: Final[dict[str, str]] = {
    "Type": "s",
    "ProviderName": "s",
    "Aor": "s",
    "AccessPoint": "s",
    "Registrar": "a{sv}",
    "OutboundProxy": "a{sv}",
    "SigComp": "b",
    "SecurityNegotiation": "b",
    "AutoRegistration": "b",
    "Default": "b",
    "PrivateIdentity": "s",
    "Aka": "a{sv}",
    "ContactParams": "a{ss}",
    "Headers": "as",
    "Extensions": "a{sv}",
}

#: Read-only status properties, maintained by the daemon. Writing one is ``ReadOnly``.
STATUS: Final[dict[str, str]] = {
    "Id": "t",
    "TypeClass": "s",
    "State": "s",
    "Holders": "u",
    "RegisteredAors": "as",
    "RegisteredContact": "s",
    "ServiceRoute": "as",
    "NegotiatedSecurity": "s",
    "Expires": "u",
    "LastError": "(ss)",
    "Flow": "(sss)",
}

PROPERTIES: Final[dict[str, str]] = {**SETTINGS, **STATUS}

#: Settings that can be given at creation only.
CREATE_ONLY: Final = frozenset({"Type"})

#: Keys of the ``Registrar`` and ``OutboundProxy`` dictionaries a client may write.
SERVER_WRITABLE_KEYS: Final[dict[str, str]] = {
    "Uri": "s",
    "Username": "s",
    "Realm": "s",
    "Password": "s",
}

#: What the daemon returns for a server: the password itself never, only whether
#: one is stored, so a user can tell "no password" from "password set".
SERVER_READABLE_KEYS: Final[dict[str, str]] = {
    "Uri": "s",
    "Username": "s",
    "Realm": "s",
    "HasPassword": "b",
}

#: Keys of the ``Aka`` dictionary a client may write: the software USIM's keys (hex
#: text) and its highest accepted sequence number. All of them are write-only.
AKA_WRITABLE_KEYS: Final[dict[str, str]] = {
    "K": "s",
    "OP": "s",
    "OPc": "s",
    "AMF": "s",
    "SQN": "t",
}

#: What the daemon returns for ``Aka``: whether keys are stored, never the keys, nor
#: even SQN (a client that provisions a USIM has no use for reading one back).
AKA_READABLE_KEYS: Final[dict[str, str]] = {"HasKeys": "b"}

#: D-Bus types accepted as values in ``Extensions``.
EXTENSION_SIGNATURES: Final = ("s", "b", "i", "u", "x", "t", "as")


class State:
    """Values of the ``State`` property."""

    UNREGISTERED: Final = "unregistered"
    REGISTERING: Final = "registering"
    REGISTERED: Final = "registered"
    DEREGISTERING: Final = "deregistering"
    WAITING_FOR_NETWORK: Final = "waiting-for-network"
    RETRYING: Final = "retrying"
    FAILED: Final = "failed"


ALL_STATES: Final = (
    State.UNREGISTERED,
    State.REGISTERING,
    State.REGISTERED,
    State.DEREGISTERING,
    State.WAITING_FOR_NETWORK,
    State.RETRYING,
    State.FAILED,
)

#: Type classes of ``SupportedTypes`` and ``TypeClass``.
TYPE_CLASS_INTERNET: Final = "internet"
TYPE_CLASS_IMS: Final = "ims"
TYPE_CLASS_OTHER: Final = "other"
