"""One profile as a client sees it: typed, read-only views onto the registry's cache.

Attributes are plain synchronous reads because the registry keeps every
materialised profile current from ``PropertiesChanged``; a round trip per attribute
would make a list of 10,000 profiles unusable. Only changes (``update``,
``delete``) and an explicit ``reload`` go to the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from dbus_fast import Variant

from sipprofile.client.convert import SERVER_SETTINGS, unpack
from sipprofile.proto.names import profile_id_from_path
from sipprofile.proto.schema import PROPERTIES

if TYPE_CHECKING:
    from sipprofile.client.registry import Registry

__all__ = ["ATTRIBUTES", "AkaSettings", "CacheEntry", "Profile", "ServerSettings"]

#: Python attribute for every property on the bus, in the order of the schema.
ATTRIBUTES: Final[dict[str, str]] = {
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
    "Id": "id",
    "TypeClass": "type_class",
    "State": "state",
    "Holders": "holders",
    "RegisteredAors": "registered_aors",
    "RegisteredContact": "registered_contact",
    "ServiceRoute": "service_route",
    "NegotiatedSecurity": "negotiated_security",
    "Expires": "expires",
    "LastError": "last_error",
    "Flow": "flow",
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """A registrar or outbound proxy as the daemon reports it.

    There is no password field on purpose: the daemon never returns one, only
    whether one is stored.
    """

    uri: str = ""
    username: str = ""
    realm: str = ""
    has_password: bool = False

    @classmethod
    def from_bus(cls, value: object) -> ServerSettings:
        """Build from the (unpacked) ``a{sv}``; unknown keys are ignored."""
        if not isinstance(value, Mapping):
            return cls()
        return cls(
            uri=str(value.get("Uri", "")),
            username=str(value.get("Username", "")),
            realm=str(value.get("Realm", "")),
            has_password=bool(value.get("HasPassword", False)),
        )

    def as_dict(self) -> dict[str, object]:
        """The readable keys as on the bus (``HasPassword``, never ``Password``)."""
        return {
            "Uri": self.uri,
            "Username": self.username,
            "Realm": self.realm,
            "HasPassword": self.has_password,
        }


@dataclass(frozen=True, slots=True)
class AkaSettings:
    """A profile's software USIM keys as the daemon reports them: only whether they exist.

    The keys (K, OP or OPc, AMF, SQN) are write-only, like passwords; write them with
    ``update({"Aka": {"K": ..., "OPc": ...}})``.
    """

    has_keys: bool = False

    @classmethod
    def from_bus(cls, value: object) -> AkaSettings:
        """Build from the (unpacked) ``a{sv}``; unknown keys are ignored."""
        if not isinstance(value, Mapping):
            return cls()
        return cls(has_keys=bool(value.get("HasKeys", False)))

    def as_dict(self) -> dict[str, object]:
        """The readable keys as on the bus: ``HasKeys``."""
        return {"HasKeys": self.has_keys}


@dataclass(eq=False, slots=True)
class CacheEntry:
    """The registry's record of one profile; shared by every :class:`Profile` for it.

    ``props`` holds the values as received (variants included) so that the exact
    D-Bus type of ``Extensions`` values survives a read-modify-write.
    """

    path: str
    props: dict[str, Any] = field(default_factory=dict)
    removed: bool = False


class Profile:
    """A SIP profile held by sipprofiled.

    Get instances from :class:`~sipprofile.client.registry.Registry`. Several
    ``Profile`` objects for the same id share one cache entry, so all of them see
    the same, current values. After the profile is deleted, ``deleted`` is true and
    the attributes keep their last values.

    A property the daemon did not report reads as the empty value of its type,
    so a client keeps working against a daemon of another API revision.
    """

    __slots__ = ("_entry", "_registry")

    def __init__(self, registry: Registry, entry: CacheEntry) -> None:
        self._registry = registry
        self._entry = entry

    # -- identity -------------------------------------------------------------

    @property
    def path(self) -> str:
        """The D-Bus object path."""
        return self._entry.path

    @property
    def id(self) -> int:
        """The profile id, taken from the path (ids are never reused)."""
        profile_id = profile_id_from_path(self._entry.path)
        assert profile_id is not None  # the registry only makes entries for profile paths
        return profile_id

    @property
    def deleted(self) -> bool:
        """Whether the daemon announced that this profile was deleted."""
        return self._entry.removed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Profile):
            return NotImplemented
        return self._registry is other._registry and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"<Profile id={self.id} aor={self.aor!r} state={self.state!r}>"

    # -- typed readers --------------------------------------------------------

    def _raw(self, name: str) -> Any:
        value = self._entry.props.get(name)
        return None if value is None else unpack(value)

    def _str(self, name: str) -> str:
        value = self._raw(name)
        return value if isinstance(value, str) else ""

    def _bool(self, name: str) -> bool:
        value = self._raw(name)
        return value if isinstance(value, bool) else False

    def _int(self, name: str) -> int:
        value = self._raw(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def _strs(self, name: str) -> list[str]:
        value = self._raw(name)
        return [str(item) for item in value] if isinstance(value, list) else []

    @property
    def type(self) -> str:
        """Profile type name: ``IETF``, ``ims`` or a plug-in's name."""
        return self._str("Type")

    @property
    def provider_name(self) -> str:
        """A name for people."""
        return self._str("ProviderName")

    @property
    def aor(self) -> str:
        """Address of record (public identity)."""
        return self._str("Aor")

    @property
    def access_point(self) -> str:
        """Network interface or connection to register through; ``""`` = any."""
        return self._str("AccessPoint")

    @property
    def registrar(self) -> ServerSettings:
        """The registrar (an empty URI means the AOR's domain)."""
        return ServerSettings.from_bus(self._raw("Registrar"))

    @property
    def outbound_proxy(self) -> ServerSettings:
        """The outbound proxy (an empty URI means none)."""
        return ServerSettings.from_bus(self._raw("OutboundProxy"))

    @property
    def sigcomp(self) -> bool:
        """Whether signalling compression is requested."""
        return self._bool("SigComp")

    @property
    def security_negotiation(self) -> bool:
        """Whether RFC 3329 security agreement is used."""
        return self._bool("SecurityNegotiation")

    @property
    def auto_registration(self) -> bool:
        """True = always registered; false = registered while held."""
        return self._bool("AutoRegistration")

    @property
    def default(self) -> bool:
        """Whether this is the default profile."""
        return self._bool("Default")

    @property
    def private_identity(self) -> str:
        """IMS private user identity; ``""`` = none."""
        return self._str("PrivateIdentity")

    @property
    def aka(self) -> AkaSettings:
        """Whether software USIM keys are stored (the keys themselves are never readable)."""
        return AkaSettings.from_bus(self._raw("Aka"))

    @property
    def has_aka_keys(self) -> bool:
        """Shorthand for ``aka.has_keys``: whether the profile can answer AKA challenges."""
        return self.aka.has_keys

    @property
    def contact_params(self) -> dict[str, str]:
        """Extra Contact parameters (a copy; change them with :meth:`update`)."""
        value = self._raw("ContactParams")
        if not isinstance(value, dict):
            return {}
        return {str(key): str(item) for key, item in value.items()}

    @property
    def headers(self) -> list[str]:
        """Extra REGISTER header lines (a copy)."""
        return self._strs("Headers")

    @property
    def extensions(self) -> dict[str, object]:
        """Extension values as plain Python values (a copy)."""
        value = self._raw("Extensions")
        return dict(value) if isinstance(value, dict) else {}

    @property
    def extension_variants(self) -> dict[str, Variant]:
        """Extension values with their exact D-Bus types, for read-modify-write."""
        value = self._entry.props.get("Extensions")
        raw = value.value if isinstance(value, Variant) else value
        if not isinstance(raw, dict):
            return {}
        return {key: item for key, item in raw.items() if isinstance(item, Variant)}

    @property
    def type_class(self) -> str:
        """``internet``, ``ims`` or ``other``."""
        return self._str("TypeClass")

    @property
    def state(self) -> str:
        """Registration state, one of :data:`proto.schema.ALL_STATES`."""
        return self._str("State")

    @property
    def holders(self) -> int:
        """How many clients hold the profile enabled."""
        return self._int("Holders")

    @property
    def registered_aors(self) -> list[str]:
        """Identities the registrar registered (while registered)."""
        return self._strs("RegisteredAors")

    @property
    def registered_contact(self) -> str:
        """The Contact the registrar bound (while registered)."""
        return self._str("RegisteredContact")

    @property
    def service_route(self) -> list[str]:
        """Service-Route set returned by the registrar."""
        return self._strs("ServiceRoute")

    @property
    def negotiated_security(self) -> str:
        """Security mechanism agreed with the first hop; ``""`` = none."""
        return self._str("NegotiatedSecurity")

    @property
    def expires(self) -> int:
        """Seconds granted for the current binding; 0 = none."""
        return self._int("Expires")

    @property
    def last_error(self) -> tuple[str, str]:
        """(error name, message) of the last registration failure; ``("", "")`` = none."""
        value = self._raw("LastError")
        if isinstance(value, list) and len(value) == 2:
            return (str(value[0]), str(value[1]))
        return ("", "")

    @property
    def flow(self) -> tuple[str, str, str]:
        """(transport, local host:port, remote host:port) in use; three ``""`` = none."""
        value = self._raw("Flow")
        if isinstance(value, list) and len(value) == 3:
            return (str(value[0]), str(value[1]), str(value[2]))
        return ("", "", "")

    def as_dict(self) -> dict[str, object]:
        """Every property, keys as on the bus, values plain and JSON-able.

        Server dictionaries carry ``HasPassword`` and ``Aka`` only ``HasKeys``;
        ``LastError`` is a two-item list,
        ``Flow`` a three-item one.
        Properties the schema does not know (a newer daemon) are included as sent.
        """
        result: dict[str, object] = {}
        for name, attribute in ATTRIBUTES.items():
            value = getattr(self, attribute)
            if name in SERVER_SETTINGS or name == "Aka":
                value = value.as_dict()
            elif name in ("LastError", "Flow"):
                value = list(value)
            result[name] = value
        for name, raw in self._entry.props.items():
            if name not in PROPERTIES:
                result[name] = unpack(raw)
        return result

    # -- changes --------------------------------------------------------------

    async def update(self, changes: Mapping[str, object]) -> None:
        """Apply ``changes`` (setting name → plain value) in one transaction.

        Returns once the daemon stored them; the attributes show the new values
        at that point. Raises the daemon's ``InvalidArgument``/``ReadOnly``/``NotFound``.
        """
        await self._registry._update(self._entry, changes)

    async def delete(self) -> None:
        """Delete the profile (``InUse`` while a client holds it enabled)."""
        await self._registry._delete(self._entry)

    async def reload(self) -> None:
        """Re-read every property from the daemon (``NotFound`` if deleted)."""
        await self._registry._reload(self._entry)

    # -- sharing (holds belong to this connection) ------------------------------

    async def enable(self) -> None:
        """Hold the profile enabled; the first holder's enable starts its registration.

        The hold belongs to this Registry's bus connection: closing it (or the
        process exiting) releases it. ``AlreadyEnabled`` if held already.
        """
        await self._registry._call_member(self._entry, "Enable")

    async def disable(self) -> None:
        """Release the hold (``NotEnabled`` if this connection holds nothing)."""
        await self._registry._call_member(self._entry, "Disable")

    async def is_enabled(self) -> bool:
        """Whether this connection holds the profile enabled."""
        return bool(await self._registry._call_member(self._entry, "IsEnabled"))

    async def refresh(self) -> None:
        """Ask for a new REGISTER now (the profile must be held or always-on)."""
        await self._registry._call_member(self._entry, "Refresh")

    async def force_disable(self) -> None:
        """Drop every holder and deregister (privileged on the system bus)."""
        await self._registry._call_member(self._entry, "ForceDisable")
