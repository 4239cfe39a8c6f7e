"""From a stored profile to what its registration needs.

The session owns sockets and timers; this module only translates settings (next
hop, extensions, credentials, Contact built from the flow's local address) into the
sans-I/O ``RegistrationConfig``, so that those rules sit in one place.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from typing import Final

from sipprofile.server.registry.model import Profile, UsimSecrets
from sipprofile.server.registry.validation import parse_uri_cached
from sipprofile.server.sip.aka import AkaError, UsimKeys
from sipprofile.server.sip.digest import Credentials
from sipprofile.server.sip.registration import BACKOFF_BASE, RegistrationConfig
from sipprofile.server.sip.uri import SipUri, parse_uri
from sipprofile.server.transport.flow import Flow
from sipprofile.server.transport.resolve import TlsPolicy
from sipprofile.server.types import IETF, RegistrationBehaviour

_log = logging.getLogger(__name__)

USER_AGENT: Final = "sipprofiled/0.1"
#: How a profile of an unknown type (a plug-in since removed) registers.
IETF_BEHAVIOUR: Final = IETF.behaviour


def next_hop_uri(profile: Profile) -> SipUri:
    """Where REGISTERs go first: outbound proxy, registrar, or the AOR's domain.

    The proxy and registrar URIs are parsed through a cache: the profiles of one
    provider share them.
    """
    settings = profile.settings
    if settings.outbound_proxy.uri:
        return parse_uri_cached(settings.outbound_proxy.uri)
    if settings.registrar.uri:
        return parse_uri_cached(settings.registrar.uri)
    aor = parse_uri(settings.aor)  # RFC 3261 §10.2.6: the domain of the AOR
    return SipUri(aor.scheme, None, None, aor.host, aor.port)


def extension_int(profile: Profile, key: str, default: float) -> float:
    """A positive integer extension, or ``default`` (wrong types are ignored)."""
    value = profile.settings.extensions.get(key)
    if value and value[0] in ("u", "i", "x", "t") and int(value[1]) > 0:
        return float(value[1])
    return default


#: Keep-alive intervals without a Flow-Timer (RFC 5626 §4.4.1): TCP/TLS every
#: 95-120 s; UDP often enough for the NATs that forget a mapping after 30 s.
DEFAULT_KEEPALIVE: Final = {True: 120.0, False: 29.0}


def keepalive_interval(profile: Profile, flow_timer: int | None, flow: Flow) -> float:
    """Seconds between keep-alives: Flow-Timer, else ``KeepaliveSeconds``, else a default.

    The default is 120 s on TCP/TLS and 29 s on UDP; the flow pings at a random
    80-100 % of the interval: 96-120 s, and 23-29 s.
    """
    if flow_timer:
        return float(flow_timer)
    return extension_int(profile, "KeepaliveSeconds", DEFAULT_KEEPALIVE[flow.reliable])


def extension_bool(profile: Profile, key: str, default: bool) -> bool:
    """A boolean extension, or ``default`` (wrong types are ignored)."""
    value = profile.settings.extensions.get(key)
    if value and value[0] == "b":
        return bool(value[1])
    return default


#: Names the instance ids of this daemon's profiles (RFC 5626 ``+sip.instance``).
_INSTANCE_NAMESPACE: Final = uuid.UUID("6b4b0f3e-4f2a-5c1d-9a57-2f1d8c0e7a31")
_INSTANCE_PREFIX: Final = _INSTANCE_NAMESPACE.bytes


def instance_id(profile: Profile) -> str:
    """The profile's stable ``urn:uuid:`` (RFC 5626 §4.1, RFC 4122 version 5).

    Derived from the Contact user part, which is random per profile and stored, so
    it survives restarts without a column of its own and differs between profiles
    and between devices. Written by hand: ``uuid.uuid5`` costs several times more,
    and every registration's configuration names it.
    """
    h = hashlib.sha1(_INSTANCE_PREFIX + profile.contact_user.encode()).hexdigest()
    # the version nibble is 5; the variant's two top bits are 10 (RFC 4122 §4.1.1, 4.3)
    variant = "89ab"[int(h[16], 16) & 3]
    return f"urn:uuid:{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


#: The TLS choices of a profile that sets neither extension (nearly all), made once:
#: ``tls_policy`` runs for every profile.
_DEFAULT_TLS_POLICY: Final = TlsPolicy(ca_file=None, verify=True)


def tls_policy(profile: Profile) -> TlsPolicy:
    """The profile's TLS choices: ``TlsCaFile`` and ``TlsVerify`` (verify by default)."""
    ext = profile.settings.extensions
    ca = ext.get("TlsCaFile")
    verify = ext.get("TlsVerify")
    if ca is None and verify is None:
        return _DEFAULT_TLS_POLICY
    return TlsPolicy(
        ca_file=str(ca[1]) if ca and ca[0] == "s" and ca[1] else None,
        verify=not (verify and verify[0] == "b" and verify[1] is False),
    )


_CONTROLS: Final = re.compile("[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """``text`` with control characters shown as ``?``.

    Error messages quote what a registrar sent (reason phrases, addresses); they end
    up in LastError, signals and logs, where a NUL would make dbus-daemon drop the
    daemon's connection and other controls would garble a terminal.
    """
    return _CONTROLS.sub("?", text)


def sent_by(host: str, port: int) -> str:
    """``host:port`` as SIP writes it (Via sent-by, Contact): IPv6 in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def registration_config(
    profile: Profile,
    flow: Flow,
    uri: SipUri,
    *,
    call_id: str,
    from_tag: str,
    password: str | None,
    proxy_password: str | None,
    contact_address: str | None = None,
    behaviour: RegistrationBehaviour = IETF_BEHAVIOUR,
    usim: UsimKeys | None = None,
) -> RegistrationConfig:
    """The REGISTER settings of ``profile`` on ``flow`` towards ``uri``.

    The Contact names the flow's local address (or ``contact_address``, the
    ``host:port`` a NAT maps us to) and the profile's own random user part; the
    digest user name defaults to the AOR's user (what users type).
    """
    s = profile.settings
    local = sent_by(*flow.local)
    scheme = "sips" if flow.transport == "tls" and uri.secure else "sip"
    contact = f"{scheme}:{profile.contact_user}@{contact_address or local}"
    if flow.transport != "udp":
        contact += f";transport={flow.transport}"
    registrar = s.registrar.uri
    username = s.registrar.username
    proxy_username = s.outbound_proxy.username
    if not registrar or not username or (proxy_password is not None and not proxy_username):
        # the AOR's parts are the defaults: it is read only when one is needed
        aor = parse_uri(s.aor)
        registrar = registrar or f"{aor.scheme}:{aor.host_port()}"
        username = username or aor.user or ""
        proxy_username = proxy_username or aor.user or ""
    agreement = behaviour.security_agreement and s.security_negotiation
    if behaviour.private_identity_username and s.private_identity:
        username = s.private_identity  # TS 24.229: the private user identity
    creds = None
    if password is not None or usim is not None:  # AKA needs no password
        creds = Credentials(username, password or "", s.registrar.realm or None, usim=usim)
    proxy_creds = None
    if proxy_password is not None:
        proxy_creds = Credentials(proxy_username, proxy_password, s.outbound_proxy.realm or None)
    route: tuple[str, ...] = ()
    if s.outbound_proxy.uri:
        proxy = s.outbound_proxy.uri
        route = (proxy if ";lr" in proxy else proxy + ";lr",)
    return RegistrationConfig(
        aor=s.aor,
        registrar=registrar,
        contact=contact,
        call_id=call_id,
        from_tag=from_tag,
        via_transport=flow.transport.upper(),
        via_sent_by=local,
        reliable=flow.reliable,
        expires=int(extension_int(profile, "RegisterExpires", behaviour.default_expires)),
        temporary_retries=behaviour.temporary_retries,
        initial_authorization=behaviour.initial_authorization,
        option_tags=behaviour.option_tags + (("sec-agree",) if agreement else ()),
        security_agreement=agreement,
        retry_base=extension_int(profile, "RetryBaseSeconds", BACKOFF_BASE),
        contact_params=tuple(s.contact_params.items()),
        instance_id=instance_id(profile),
        outbound=extension_bool(profile, "Outbound", True),
        route=route,
        extra_headers=s.headers,
        user_agent=USER_AGENT,
        credentials=creds,
        proxy_credentials=proxy_creds,
    )


def usim_keys(secrets: UsimSecrets | None) -> UsimKeys | None:
    """The software USIM of stored AKA keys; None without keys (or with unusable ones).

    The registry validated them when written, so ``AkaError`` here means a database
    edited by hand: the profile then answers no AKA challenge, which fails it with
    AuthenticationFailed, and the log says why without the keys.
    """
    if secrets is None:
        return None
    try:
        return UsimKeys.from_settings(secrets.k, secrets.op, secrets.opc, secrets.amf, secrets.sqn)
    except AkaError as exc:
        _log.warning("stored AKA keys are unusable: %s", exc)
        return None
