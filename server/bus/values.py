"""Between D-Bus variants and domain values, in both directions.

Incoming variants become ``Typed`` pairs (signature, value) so the domain can check
types without knowing dbus-fast; outgoing profiles become property dictionaries.
The password never has a way out: server dictionaries are built from
``ServerSettings``, which does not hold one; nor do AKA keys: ``Aka`` is built from
``AkaSettings``, which holds only whether they exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from dbus_fast import Variant

from sipprofile.proto.schema import STATUS
from sipprofile.server.registry.model import (
    STATUS_PROPERTY,
    AkaSettings,
    Profile,
    ProfileStatus,
    ServerSettings,
    Typed,
)


def unwrap(variant: Variant) -> Typed:
    """A variant as (signature, value); ``a{sv}`` contents are unwrapped too."""
    signature = variant.signature
    value = variant.value
    if signature == "a{sv}":
        value = {key: unwrap(inner) for key, inner in value.items()}
    return signature, value


def unwrap_dict(values: dict[str, Variant]) -> dict[str, Typed]:
    """An ``a{sv}`` argument as a dict of ``Typed``."""
    return {key: unwrap(v) for key, v in values.items()}


def server_dict(server: ServerSettings) -> dict[str, Variant]:
    """What a client may read of a registrar or proxy: no password, only whether one is set."""
    return {
        "Uri": Variant("s", server.uri),
        "Username": Variant("s", server.username),
        "Realm": Variant("s", server.realm),
        "HasPassword": Variant("b", server.has_password),
    }


def aka_dict(aka: AkaSettings) -> dict[str, Variant]:
    """What a client may read of the USIM's keys: whether they are stored, nothing else."""
    return {"HasKeys": Variant("b", aka.has_keys)}


def profile_properties(
    profile: Profile, status: ProfileStatus, type_class: str
) -> dict[str, Variant]:
    """Every property of a profile object, settings then status, as the XML lists them."""
    s = profile.settings
    extensions: dict[str, Any] = {k: Variant(sig, v) for k, (sig, v) in s.extensions.items()}
    return {
        "Type": Variant("s", s.type),
        "ProviderName": Variant("s", s.provider_name),
        "Aor": Variant("s", s.aor),
        "AccessPoint": Variant("s", s.access_point),
        "Registrar": Variant("a{sv}", server_dict(s.registrar)),
        "OutboundProxy": Variant("a{sv}", server_dict(s.outbound_proxy)),
        "SigComp": Variant("b", s.sigcomp),
        "SecurityNegotiation": Variant("b", s.security_negotiation),
        "AutoRegistration": Variant("b", s.auto_registration),
        "Default": Variant("b", s.default),
        "PrivateIdentity": Variant("s", s.private_identity),
        "Aka": Variant("a{sv}", aka_dict(s.aka)),
        "ContactParams": Variant("a{ss}", dict(s.contact_params)),
        "Headers": Variant("as", list(s.headers)),
        "Extensions": Variant("a{sv}", extensions),
        "Id": Variant("t", profile.id),
        "TypeClass": Variant("s", type_class),
        **status_properties(status),
    }


def status_properties(status: ProfileStatus) -> dict[str, Variant]:
    """The live status properties, State to LastError."""
    return {
        "State": Variant("s", status.state),
        "Holders": Variant("u", status.holders),
        "RegisteredAors": Variant("as", list(status.registered_aors)),
        "RegisteredContact": Variant("s", status.registered_contact),
        "ServiceRoute": Variant("as", list(status.service_route)),
        "NegotiatedSecurity": Variant("s", status.negotiated_security),
        "Expires": Variant("u", status.expires),
        "LastError": Variant("(ss)", list(status.last_error)),
        "Flow": Variant("(sss)", list(status.flow)),
    }


#: Status property name -> (ProfileStatus field, D-Bus signature).
STATUS_FIELDS: Final = {name: (field, STATUS[name]) for field, name in STATUS_PROPERTY.items()}


def status_changes(
    before: ProfileStatus, after: ProfileStatus, names: Iterable[str]
) -> list[tuple[str, str, Any]]:
    """(name, signature, value) of each of ``names`` whose value differs.

    For ``PropertiesChanged`` written by ``wire.properties_changed_body``: only what
    changed is encoded, with no ``Variant`` objects in between. ``names`` are those
    the merged events reported; a value that changed and changed back within one
    merged announcement is not listed, as the contract says PropertiesChanged lists
    exactly the properties whose value changed.
    """
    out = []
    for name in names:
        field, sig = STATUS_FIELDS[name]
        value = getattr(after, field)
        if value != getattr(before, field):
            out.append((name, sig, value))
    return out


def status_values(status: ProfileStatus, names: Iterable[str]) -> list[tuple[str, str, Any]]:
    """(name, signature, value) of each of ``names`` in ``status``.

    For one ``StatusChanged``, whose properties are exactly those that changed: no
    comparison needed (``status_changes`` is for merged ones).
    """
    out = []
    for name in names:
        field, sig = STATUS_FIELDS[name]
        out.append((name, sig, getattr(status, field)))
    return out
