"""DNS answers for the RFC 3263 resolver, kept for as long as their TTL allows.

dnspython's asyncio resolver asks; answers are cached here by name and type until
their TTL runs out, and "no such record" for ``NEGATIVE_TTL`` seconds, so a thousand
profiles at one provider cost one NAPTR, a few SRV and a few A lookups, and a record
changed at the provider is seen once its TTL has passed. A lookup that fails (time-
out, server failure, an answer that cannot be read) is not cached: it is retried
with the registration.

The name servers are the system's (/etc/resolv.conf) unless
``SIPPROFILED_NAMESERVERS`` lists others as ``address[:port]`` separated by commas
(IPv6 in brackets), for a device whose SIP provider needs a resolver of its own, and
for the tests' dnsmasq.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver

from .rfc3263 import DnsError, SrvChoice

#: Seconds one query may take, all retries and name servers included.
LIFETIME: Final = 5.0
#: How long "no such name" or "no such record" is believed (RFC 2308 allows the SOA's
#: minimum; a fixed, short value keeps a freshly added record from waiting long).
NEGATIVE_TTL: Final = 30.0
#: Answers kept at most; beyond that the expired ones go, then everything.
MAX_ENTRIES: Final = 4096
NAMESERVERS_ENV: Final = "SIPPROFILED_NAMESERVERS"


@dataclass(frozen=True, slots=True)
class _Entry:
    records: tuple[Any, ...]
    expires: float


def parse_nameservers(text: str) -> list[tuple[str, int]]:
    """``"127.0.0.1:5353, [::1]"`` -> ``[("127.0.0.1", 5353), ("::1", 53)]``; ValueError."""
    servers = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        port = 53
        if item.startswith("["):
            address, _, rest = item[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"name server {item!r} is not [address]:port")
                port = int(rest[1:])
        elif item.count(":") == 1:
            address, _, number = item.partition(":")
            port = int(number)
        else:
            address = item
        if not 0 < port < 65536:
            raise ValueError(f"name server port {port} is out of range")
        servers.append((address, port))
    if not servers:
        raise ValueError("no name server given")
    return servers


def system_resolver() -> dns.asyncresolver.Resolver:
    """The resolver of /etc/resolv.conf, or of ``SIPPROFILED_NAMESERVERS`` when set."""
    configured = os.environ.get(NAMESERVERS_ENV, "").strip()
    if not configured:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [
        dns.nameserver.Do53Nameserver(address, port)
        for address, port in parse_nameservers(configured)
    ]
    return resolver


class DnsCache:
    """NAPTR, SRV and address lookups, each answer kept for its TTL."""

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
        lifetime: float = LIFETIME,
    ) -> None:
        self._resolver = resolver
        self._clock = clock
        self._lifetime = lifetime
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def naptr(self, name: str) -> list[tuple[int, int, str, str, str]]:
        """``(order, preference, flags, service, replacement)`` of each NAPTR record."""
        return [
            (r.order, r.preference, _text(r.flags), _text(r.service), _name(r.replacement))
            for r in await self._query(name, "NAPTR")
        ]

    async def srv(self, name: str) -> list[SrvChoice]:
        """The SRV records of ``name``, as DNS gave them."""
        return [
            SrvChoice(r.priority, r.weight, r.port, _name(r.target))
            for r in await self._query(name, "SRV")
        ]

    async def addresses(self, name: str) -> list[str]:
        """IPv4 then IPv6 addresses of ``name``; empty when it has none.

        ``DnsError`` only when neither could be looked up.
        """
        found: list[str] = []
        failures: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                found += [r.to_text() for r in await self._query(name, rdtype)]
            except DnsError as exc:
                failures.append(str(exc))
        if not found and len(failures) == 2:
            raise DnsError("; ".join(failures))
        return found

    async def _query(self, name: str, rdtype: str) -> Sequence[Any]:
        key = (name.lower().rstrip("."), rdtype)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires > now:
            return entry.records
        if self._resolver is None:
            self._resolver = system_resolver()
        try:
            answer = await self._resolver.resolve(
                name, rdtype, lifetime=self._lifetime, search=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            records: tuple[Any, ...] = ()
            ttl = NEGATIVE_TTL
        except dns.exception.DNSException as exc:  # timeout, SERVFAIL, unreadable answers
            raise DnsError(f"{rdtype} lookup of {name}: {exc or type(exc).__name__}") from None
        else:
            records = tuple(answer)
            ttl = float(answer.rrset.ttl) if answer.rrset is not None else NEGATIVE_TTL
        self._remember(key, _Entry(records, self._clock() + ttl))
        return records

    def _remember(self, key: tuple[str, str], entry: _Entry) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            now = self._clock()
            self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
        self._entries[key] = entry


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _name(value: Any) -> str:
    """A DNS name as text without the final dot ("." stays "." : no target)."""
    text = str(value.to_text() if hasattr(value, "to_text") else value)
    return text if text == "." else text.rstrip(".")
