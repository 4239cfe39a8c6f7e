"""From a SIP URI to the addresses to try, in order (RFC 3263 §4).

The rules of which records to ask for live in ``rfc3263``, the lookups and their
TTL cache in ``dns_cache`` (dnspython's asyncio resolver, imported on first use).
Names in /etc/hosts are taken from there first: dnspython does not read it, and
users expect ``localhost`` and local names to work.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sipprofile.server.sip.uri import SipUri

from .flow import Target, TlsSettings
from .rfc3263 import (
    DEFAULT_PORT,
    SRV_FALLBACK,
    DnsError,
    default_transport,
    naptr_choices,
    srv_name,
    srv_order,
)

if TYPE_CHECKING:
    from .dns_cache import DnsCache

HOSTS_FILE = Path("/etc/hosts")
#: Lookups that may fail (time-out, unreadable answer) before a resolution gives up:
#: two different questions unanswered means the name server is not there, and each
#: one more would cost the whole lookup time again.
MAX_FAILED_LOOKUPS: Final = 2
#: Targets handed to a session at most: enough to fail over, bounded against answers
#: listing hundreds of servers.
MAX_TARGETS: Final = 16


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


async def resolve(
    uri: SipUri, policy: TlsPolicy = TlsPolicy(), dns: DnsCache | None = None
) -> list[Target]:
    """Targets for ``uri``, in the order to try them (RFC 3263 §4).

    An IP address is used as it is. A name with a port is looked up as A/AAAA; with
    a transport but no port, as the SRV of that transport, else A/AAAA at the
    default port. A bare name: NAPTR records choose the transports (``sips:`` only
    TLS) and their SRV names; without usable NAPTR records the SRV names of the
    transports we have are asked in our order (UDP, TCP; TLS for ``sips:``); without
    SRV records, A/AAAA with the default transport and port. Names in /etc/hosts are
    taken from there and not asked of DNS. Every SRV target is tried in RFC 2782
    order, each of its addresses in turn, so the caller can fail over along the list.
    """
    target = resolve_literal(uri, policy)
    if target is not None:
        return [target]
    host = uri.host
    cache = dns or default_cache()
    failures: list[str] = []
    targets: list[Target] = []
    local = hosts_file_lookup(host)
    if uri.port is not None or local:
        targets = await _host_targets(cache, uri, transport_of(uri), policy, failures, local)
    elif uri.transport is not None:
        transport = transport_of(uri)
        targets = await _srv_targets(
            cache, uri, transport, srv_name(transport, host), policy, failures
        )
        if not targets:
            targets = await _host_targets(cache, uri, transport, policy, failures)
    else:
        targets = await _naptr_targets(cache, uri, policy, failures)
        if not targets:
            for transport in SRV_FALLBACK[uri.secure]:
                name = srv_name(transport, host)
                targets += await _srv_targets(cache, uri, transport, name, policy, failures)
        if not targets:
            transport = default_transport(uri.secure)
            targets = await _host_targets(cache, uri, transport, policy, failures)
    if targets:
        return _unique(targets)[:MAX_TARGETS]
    if failures:
        raise ResolveError(f"cannot resolve {host}: {'; '.join(failures[:3])}")
    raise ResolveError(f"{host} has no address (no NAPTR, SRV, A or AAAA record)")


async def _host_targets(
    cache: DnsCache,
    uri: SipUri,
    transport: str,
    policy: TlsPolicy,
    failures: list[str],
    local: list[str] | None = None,
) -> list[Target]:
    """The URI's host at its port (or the transport's default), every address of it.

    ``local`` are its addresses from /etc/hosts, when it is there; else DNS is asked.
    """
    port = uri.port or DEFAULT_PORT[transport]
    found = local or await _addresses(cache, uri.host, failures)
    tls = _tls(uri, transport, policy)
    return [Target(transport, address, port, tls) for address in found]


async def _naptr_targets(
    cache: DnsCache, uri: SipUri, policy: TlsPolicy, failures: list[str]
) -> list[Target]:
    if len(failures) >= MAX_FAILED_LOOKUPS:
        return []
    try:
        records = await cache.naptr(uri.host)
    except DnsError as exc:
        failures.append(str(exc))
        return []
    targets: list[Target] = []
    for choice in naptr_choices(records, secure=uri.secure):
        targets += await _srv_targets(
            cache, uri, choice.transport, choice.replacement, policy, failures
        )
    return targets


async def _srv_targets(
    cache: DnsCache,
    uri: SipUri,
    transport: str,
    name: str,
    policy: TlsPolicy,
    failures: list[str],
) -> list[Target]:
    """Every address of every SRV target of ``name``, in RFC 2782 order."""
    if len(failures) >= MAX_FAILED_LOOKUPS:
        return []
    try:
        records = await cache.srv(name)
    except DnsError as exc:
        failures.append(str(exc))
        return []
    tls = _tls(uri, transport, policy)  # checked against the URI's domain (RFC 5922)
    targets: list[Target] = []
    for record in srv_order(records):
        local = _literal(record.target)
        found = [local] if local else hosts_file_lookup(record.target)
        if not found:
            found = await _addresses(cache, record.target, failures)
        targets += [Target(transport, a, record.port, tls) for a in found]
        if len(targets) >= MAX_TARGETS:
            break
    return targets


async def _addresses(cache: DnsCache, name: str, failures: list[str]) -> list[str]:
    if len(failures) >= MAX_FAILED_LOOKUPS:
        return []
    try:
        return await cache.addresses(name)
    except DnsError as exc:
        failures.append(str(exc))
        return []


def _unique(targets: list[Target]) -> list[Target]:
    """The targets without repeats, first place kept (two SRV names, one server)."""
    return list(dict.fromkeys(targets))


_cache: DnsCache | None = None


def default_cache() -> DnsCache:
    """The daemon's one DNS cache, made on first use (dnspython is imported then)."""
    global _cache
    if _cache is None:
        from .dns_cache import DnsCache as _DnsCache  # on first use: start-up stays fast

        _cache = _DnsCache()
    return _cache
