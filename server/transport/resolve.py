"""From a SIP URI to the addresses to try (RFC 3263 §4.1-4.2, A/AAAA part).

Transport comes from the URI (``;transport=``, ``sips:`` means TLS); the port from the
URI or the transport's default. Names are looked up in /etc/hosts first (dnspython does
not read it, and users expect ``localhost`` and local names to work), then as A and
AAAA records with dnspython's asyncio resolver. NAPTR/SRV selection comes with the
next issue on top of this.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sipprofile.server.sip.uri import SipUri

from .flow import Target, TlsSettings

HOSTS_FILE = Path("/etc/hosts")


class ResolveError(Exception):
    """The next hop cannot be found; the message says which name and why."""


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """Per-profile TLS choices (Extensions ``TlsCaFile`` and ``TlsVerify``)."""

    ca_file: str | None = None
    verify: bool = True


def transport_of(uri: SipUri) -> str:
    """``udp``, ``tcp`` or ``tls`` for a URI, as RFC 3261 §18 and §26.2 say."""
    transport = uri.transport
    if uri.secure:
        return "tls"
    if transport in ("tcp", "tls"):
        return transport
    return "udp"


@lru_cache(maxsize=1024)
def _literal(host: str) -> str | None:
    """The IP address ``host`` names literally, normalised; None for a name.

    Remembered: every profile of a registrar asks about the same few hosts, and
    ``ipaddress`` takes microseconds to answer.
    """
    text = host[1:-1] if host.startswith("[") else host
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def hosts_file_lookup(name: str, path: Path = HOSTS_FILE) -> list[str]:
    """Addresses for ``name`` in a hosts file, in file order."""
    found: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and name.lower() in (f.lower() for f in fields[1:]):
            found.append(fields[0])
    return found


def _tls(uri: SipUri, transport: str, policy: TlsPolicy) -> TlsSettings | None:
    if transport != "tls":
        return None
    return TlsSettings(uri.host.strip("[]"), policy.ca_file, policy.verify)


def resolve_literal(uri: SipUri, policy: TlsPolicy = TlsPolicy()) -> Target | None:
    """The one target of a URI whose host is an IP address; None for a name.

    Needs no lookup, so a caller can connect at once without waiting on anything:
    what lets the engine start a thousand registrations without a task each.
    """
    literal = _literal(uri.host)
    if literal is None:
        return None
    transport = transport_of(uri)
    port = uri.port or (5061 if transport == "tls" else 5060)
    return Target(transport, literal, port, _tls(uri, transport, policy))


async def resolve(uri: SipUri, policy: TlsPolicy = TlsPolicy()) -> list[Target]:
    """Targets for ``uri``, in the order to try them."""
    target = resolve_literal(uri, policy)
    if target is not None:
        return [target]
    transport = transport_of(uri)
    port = uri.port or (5061 if transport == "tls" else 5060)
    host = uri.host
    tls = _tls(uri, transport, policy)
    addresses = hosts_file_lookup(host)
    if not addresses:
        addresses = await _dns(host)
    if not addresses:
        raise ResolveError(f"{host} has no address (no A or AAAA record)")
    return [Target(transport, address, port, tls) for address in addresses]


async def _dns(host: str) -> list[str]:
    import dns.asyncresolver  # imported on first use: start-up stays fast
    import dns.exception
    import dns.resolver

    found: list[str] = []
    errors: list[str] = []
    for record in ("A", "AAAA"):
        try:
            answer = await dns.asyncresolver.resolve(host, record, lifetime=5.0)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            errors.append(f"{record}: {exc}")
            continue
        found += [rdata.to_text() for rdata in answer]
    if not found and errors:
        raise ResolveError(f"cannot resolve {host}: {'; '.join(errors)}")
    return found
