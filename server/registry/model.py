"""The profile as the domain sees it: settings, stored secrets, live status.

Settings are immutable values; an update makes a new one. Property names on the bus
(``ProviderName``) map to field names here (``provider_name``) through ``FIELDS``, so
there is one place to change when a setting is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sipprofile.proto.schema import State

#: A value as it came off the bus: (D-Bus signature, Python value). Dictionaries of
#: variants (``a{sv}``) hold ``Typed`` values again.
Typed = tuple[str, Any]

#: Which server a secret belongs to; also the prefix of its columns in the store.
REGISTRAR: Final = "registrar"
PROXY: Final = "proxy"
SERVERS: Final = (REGISTRAR, PROXY)
SERVER_OF_SETTING: Final = {"Registrar": REGISTRAR, "OutboundProxy": PROXY}

#: The secrets rows of the software USIM's keys, one per key (see ``AkaSettings``), so
#: that writing one key is an upsert of one row, as a password is, and merging a write
#: never needs the stored values.
AKA_K: Final = "aka-k"
AKA_OP: Final = "aka-op"
AKA_OPC: Final = "aka-opc"
AKA_AMF: Final = "aka-amf"
AKA_SQN: Final = "aka-sqn"
AKA_ROWS: Final = (AKA_K, AKA_OP, AKA_OPC, AKA_AMF, AKA_SQN)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """A registrar or outbound proxy; the password lives apart, only its presence here."""

    uri: str = ""
    username: str = ""
    realm: str = ""
    has_password: bool = False


@dataclass(frozen=True, slots=True)
class AkaSettings:
    """The ``Aka`` setting as stored with the readable settings: only whether keys exist.

    The keys themselves (K, OP or OPc, AMF, SQN) live in the secrets table; this flag is
    a column of the profile's row written in the same transaction, so reading it never
    touches that table.
    """

    has_keys: bool = False


@dataclass(frozen=True, slots=True)
class UsimSecrets:
    """A profile's software USIM keys as stored, for the registration engine only.

    Hex text in lower case (``k`` and ``op`` or ``opc`` 32 digits, ``amf`` 4), exactly one
    of ``op`` and ``opc`` set; ``sqn`` is the highest sequence number accepted so far
    (0 <= sqn < 2**48). The keys are left out of the repr so a log line or a traceback
    that shows the value cannot leak them.
    """

    k: str = field(repr=False)
    op: str | None = field(repr=False)
    opc: str | None = field(repr=False)
    amf: str
    sqn: int


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """Every setting of a profile, as stored."""

    type: str
    aor: str
    provider_name: str = ""
    access_point: str = ""
    registrar: ServerSettings = ServerSettings()
    outbound_proxy: ServerSettings = ServerSettings()
    sigcomp: bool = False
    security_negotiation: bool = False
    auto_registration: bool = False
    default: bool = False
    private_identity: str = ""
    aka: AkaSettings = AkaSettings()
    contact_params: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[str, ...] = ()
    #: name -> (signature, value), so a value keeps the D-Bus type it was given.
    extensions: Mapping[str, Typed] = field(default_factory=dict)


#: Bus property name -> ProfileSettings field name.
FIELDS: Final[dict[str, str]] = {
    "Type": "type",
    "ProviderName": "provider_name",
    "Aor": "aor",
    "AccessPoint": "access_point",
    "Registrar": "registrar",
    "OutboundProxy": "outbound_proxy",
    "SigComp": "sigcomp",
    "SecurityNegotiation": "security_negotiation",
    "AutoRegistration": "auto_registration",
    "Default": "default",
    "PrivateIdentity": "private_identity",
    "Aka": "aka",
    "ContactParams": "contact_params",
    "Headers": "headers",
    "Extensions": "extensions",
}


@dataclass(frozen=True, slots=True)
class Profile:
    """A stored profile: its id, settings and the random Contact user part.

    ``contact_user`` is generated once at creation and kept, so that a restart
    re-registers the same binding instead of leaving a stale one at the registrar.
    """

    id: int
    settings: ProfileSettings
    contact_user: str


#: The ``Flow`` of a profile with no connection or socket in use.
NO_FLOW: Final[tuple[str, str, str]] = ("", "", "")


@dataclass(frozen=True, slots=True)
class ProfileStatus:
    """Live registration status; every profile without a session shares ``IDLE``."""

    state: str = State.UNREGISTERED
    holders: int = 0
    registered_aors: tuple[str, ...] = ()
    registered_contact: str = ""
    service_route: tuple[str, ...] = ()
    negotiated_security: str = ""
    expires: int = 0
    last_error: tuple[str, str] = ("", "")
    #: (transport, local host:port, remote host:port) in use, or ``NO_FLOW``.
    flow: tuple[str, str, str] = NO_FLOW

    def but(self, changes: Mapping[str, Any]) -> ProfileStatus:
        """A copy with ``changes`` (field -> value) applied.

        ``dataclasses.replace`` by hand: it runs several times per registration, and
        the generic one costs several times more.
        """
        get = changes.get
        return ProfileStatus(
            get("state", self.state),
            get("holders", self.holders),
            get("registered_aors", self.registered_aors),
            get("registered_contact", self.registered_contact),
            get("service_route", self.service_route),
            get("negotiated_security", self.negotiated_security),
            get("expires", self.expires),
            get("last_error", self.last_error),
            get("flow", self.flow),
        )


IDLE: Final = ProfileStatus()

#: ProfileStatus field name -> bus property name.
STATUS_PROPERTY: Final[dict[str, str]] = {
    "state": "State",
    "holders": "Holders",
    "registered_aors": "RegisteredAors",
    "registered_contact": "RegisteredContact",
    "service_route": "ServiceRoute",
    "negotiated_security": "NegotiatedSecurity",
    "expires": "Expires",
    "last_error": "LastError",
    "flow": "Flow",
}


@dataclass(frozen=True, slots=True)
class ValidChanges:
    """What a validated CreateProfile or Update asks for.

    ``settings`` maps field names to new values; ``passwords`` maps a server
    (``REGISTRAR``/``PROXY``) to its new password, ``""`` meaning "remove"; ``aka``
    maps ``AKA_ROWS`` names to their new text the same way.
    """

    settings: Mapping[str, Any]
    passwords: Mapping[str, str]
    aka: Mapping[str, str] = field(default_factory=dict)
