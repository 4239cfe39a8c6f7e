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


# The classes here write out their ``__init__`` (``init=False``): mypyc (setup.py)
# compiles a written-out ``__init__``, while the one ``@dataclass`` generates stays
# interpreted, about 10x slower to construct. ``Final`` keeps the fields read-only for
# mypy, as ``frozen=True`` did (but for those that need a ``field()``: mypy takes a
# ``Final`` with a value in the class body for a class constant); ``unsafe_hash`` keeps
# the hash a frozen class had.
@dataclass(slots=True, init=False, unsafe_hash=True)
class ServerSettings:
    """A registrar or outbound proxy; the password lives apart, only its presence here."""

    uri: Final[str]
    username: Final[str]
    realm: Final[str]
    has_password: Final[bool]

    def __init__(
        self, uri: str = "", username: str = "", realm: str = "", has_password: bool = False
    ) -> None:
        self.uri = uri
        self.username = username
        self.realm = realm
        self.has_password = has_password


#: The default registrar and outbound proxy of ``ProfileSettings``: none. One value,
#: shared by every profile without one (the store builds rows with it too).
NO_SERVER: Final = ServerSettings()


@dataclass(slots=True, init=False, unsafe_hash=True)
class AkaSettings:
    """The ``Aka`` setting as stored with the readable settings: only whether keys exist.

    The keys themselves (K, OP or OPc, AMF, SQN) live in the secrets table; this flag is
    a column of the profile's row written in the same transaction, so reading it never
    touches that table.
    """

    has_keys: Final[bool]

    def __init__(self, has_keys: bool = False) -> None:
        self.has_keys = has_keys


#: The default ``aka`` of ``ProfileSettings``: no keys (shared, as ``NO_SERVER``).
NO_AKA: Final = AkaSettings()


@dataclass(slots=True, init=False, unsafe_hash=True)
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
    amf: Final[str]
    sqn: Final[int]

    def __init__(self, k: str, op: str | None, opc: str | None, amf: str, sqn: int) -> None:
        self.k = k
        self.op = op
        self.opc = opc
        self.amf = amf
        self.sqn = sqn


@dataclass(slots=True, init=False, unsafe_hash=True)
class ProfileSettings:
    """Every setting of a profile, as stored."""

    type: Final[str]
    aor: Final[str]
    provider_name: Final[str]
    access_point: Final[str]
    registrar: Final[ServerSettings]
    outbound_proxy: Final[ServerSettings]
    sigcomp: Final[bool]
    security_negotiation: Final[bool]
    auto_registration: Final[bool]
    default: Final[bool]
    private_identity: Final[str]
    aka: Final[AkaSettings]
    contact_params: Final[Mapping[str, str]]
    headers: Final[tuple[str, ...]]
    #: name -> (signature, value), so a value keeps the D-Bus type it was given.
    extensions: Final[Mapping[str, Typed]]

    def __init__(
        self,
        type: str,
        aor: str,
        provider_name: str = "",
        access_point: str = "",
        registrar: ServerSettings = NO_SERVER,
        outbound_proxy: ServerSettings = NO_SERVER,
        sigcomp: bool = False,
        security_negotiation: bool = False,
        auto_registration: bool = False,
        default: bool = False,
        private_identity: str = "",
        aka: AkaSettings = NO_AKA,
        contact_params: Mapping[str, str] | None = None,  # None: a new empty dict
        headers: tuple[str, ...] = (),
        extensions: Mapping[str, Typed] | None = None,  # None: a new empty dict
    ) -> None:
        self.type = type
        self.aor = aor
        self.provider_name = provider_name
        self.access_point = access_point
        self.registrar = registrar
        self.outbound_proxy = outbound_proxy
        self.sigcomp = sigcomp
        self.security_negotiation = security_negotiation
        self.auto_registration = auto_registration
        self.default = default
        self.private_identity = private_identity
        self.aka = aka
        self.contact_params = {} if contact_params is None else contact_params
        self.headers = headers
        self.extensions = {} if extensions is None else extensions


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


@dataclass(slots=True, init=False, unsafe_hash=True)
class Profile:
    """A stored profile: its id, settings and the random Contact user part.

    ``contact_user`` is generated once at creation and kept, so that a restart
    re-registers the same binding instead of leaving a stale one at the registrar.
    """

    id: Final[int]
    settings: Final[ProfileSettings]
    contact_user: Final[str]

    def __init__(self, id: int, settings: ProfileSettings, contact_user: str) -> None:
        self.id = id
        self.settings = settings
        self.contact_user = contact_user


#: The ``Flow`` of a profile with no connection or socket in use.
NO_FLOW: Final[tuple[str, str, str]] = ("", "", "")


@dataclass(slots=True, init=False, unsafe_hash=True)
class ProfileStatus:
    """Live registration status; every profile without a session shares ``IDLE``."""

    state: Final[str]
    holders: Final[int]
    registered_aors: Final[tuple[str, ...]]
    registered_contact: Final[str]
    service_route: Final[tuple[str, ...]]
    negotiated_security: Final[str]
    expires: Final[int]
    last_error: Final[tuple[str, str]]
    #: (transport, local host:port, remote host:port) in use, or ``NO_FLOW``.
    flow: Final[tuple[str, str, str]]

    def __init__(
        self,
        state: str = State.UNREGISTERED,
        holders: int = 0,
        registered_aors: tuple[str, ...] = (),
        registered_contact: str = "",
        service_route: tuple[str, ...] = (),
        negotiated_security: str = "",
        expires: int = 0,
        last_error: tuple[str, str] = ("", ""),
        flow: tuple[str, str, str] = NO_FLOW,
    ) -> None:
        self.state = state
        self.holders = holders
        self.registered_aors = registered_aors
        self.registered_contact = registered_contact
        self.service_route = service_route
        self.negotiated_security = negotiated_security
        self.expires = expires
        self.last_error = last_error
        self.flow = flow

    def changed_by(self, changes: Mapping[str, Any]) -> tuple[str, ...]:
        """The bus names of the fields to which ``changes`` gives a new value.

        Here, compiled with the class, rather than in the registry, which is not:
        ``set_status`` asks it several times per registration.
        """
        return tuple([STATUS_PROPERTY[f] for f, v in changes.items() if getattr(self, f) != v])

    def is_idle(self) -> bool:
        """Equal to ``IDLE``; a status with a state other than IDLE's is told at once."""
        return self.state == State.UNREGISTERED and self.holders == 0 and self == IDLE

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


@dataclass(slots=True, init=False, unsafe_hash=True)
class ValidChanges:
    """What a validated CreateProfile or Update asks for.

    ``settings`` maps field names to new values; ``passwords`` maps a server
    (``REGISTRAR``/``PROXY``) to its new password, ``""`` meaning "remove"; ``aka``
    maps ``AKA_ROWS`` names to their new text the same way.
    """

    settings: Final[Mapping[str, Any]]
    passwords: Final[Mapping[str, str]]
    aka: Final[Mapping[str, str]]

    def __init__(
        self,
        settings: Mapping[str, Any],
        passwords: Mapping[str, str],
        aka: Mapping[str, str] | None = None,  # None: a new empty dict
    ) -> None:
        self.settings = settings
        self.passwords = passwords
        self.aka = {} if aka is None else aka
