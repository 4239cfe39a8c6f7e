"""Profiles in SQLite: rows to ``Profile`` values and back, secrets kept apart.

Readable settings and passwords live in separate tables; the only query that reads
a password is ``password()``, used by the registration engine, never by the bus.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from sipprofile.server.registry.model import (
    PROXY,
    REGISTRAR,
    Profile,
    ProfileSettings,
    ServerSettings,
)

from .database import Database

#: Column order of ``Row``; ``row_to_profile`` and the bus's fast marshaller read it.
SELECT: Final = """
    SELECT p.id, p.type, p.provider_name, p.aor, p.access_point,
           p.registrar_uri, p.registrar_username, p.registrar_realm,
           p.proxy_uri, p.proxy_username, p.proxy_realm,
           p.sigcomp, p.security_negotiation, p.auto_registration, p.is_default,
           p.private_identity, p.contact_params, p.headers, p.extensions, p.contact_user,
           EXISTS (SELECT 1 FROM secrets s WHERE s.profile_id = p.id AND s.server = 'registrar'),
           EXISTS (SELECT 1 FROM secrets s WHERE s.profile_id = p.id AND s.server = 'proxy')
    FROM profiles p
"""

Row = tuple[Any, ...]


def row_to_profile(row: Row) -> Profile:
    """Build the domain value from a ``SELECT`` row."""
    extensions = {k: (sig, value) for k, (sig, value) in json.loads(row[18]).items()}
    settings = ProfileSettings(
        type=row[1],
        provider_name=row[2],
        aor=row[3],
        access_point=row[4],
        registrar=ServerSettings(row[5], row[6], row[7], bool(row[20])),
        outbound_proxy=ServerSettings(row[8], row[9], row[10], bool(row[21])),
        sigcomp=bool(row[11]),
        security_negotiation=bool(row[12]),
        auto_registration=bool(row[13]),
        default=bool(row[14]),
        private_identity=row[15],
        contact_params=json.loads(row[16]),
        headers=tuple(json.loads(row[17])),
        extensions=extensions,
    )
    return Profile(id=row[0], settings=settings, contact_user=row[19])


def _columns(s: ProfileSettings, aor_key: str) -> dict[str, Any]:
    return {
        "type": s.type,
        "provider_name": s.provider_name,
        "aor": s.aor,
        "aor_key": aor_key,
        "access_point": s.access_point,
        "registrar_uri": s.registrar.uri,
        "registrar_username": s.registrar.username,
        "registrar_realm": s.registrar.realm,
        "proxy_uri": s.outbound_proxy.uri,
        "proxy_username": s.outbound_proxy.username,
        "proxy_realm": s.outbound_proxy.realm,
        "sigcomp": int(s.sigcomp),
        "security_negotiation": int(s.security_negotiation),
        "auto_registration": int(s.auto_registration),
        "is_default": int(s.default),
        "private_identity": s.private_identity,
        "contact_params": json.dumps(dict(s.contact_params), sort_keys=True),
        "headers": json.dumps(list(s.headers)),
        "extensions": json.dumps({k: list(v) for k, v in s.extensions.items()}, sort_keys=True),
    }


class ProfileRepository:
    """Reads and transactional writes of profiles.

    Write methods expect to run inside ``Database.transaction()`` so the registry can
    group several of them (insert + move the default) into one atomic change.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, profile_id: int) -> Profile | None:
        """One profile, or None."""
        rows = await self.db.rows(SELECT + " WHERE p.id = ?", (profile_id,))
        return row_to_profile(rows[0]) if rows else None

    async def exists(self, profile_id: int) -> bool:
        """Whether a profile has this id; cheap, for routing bus calls."""
        if not 0 < profile_id < 2**63:  # outside SQLite's integer range
            return False
        return bool(await self.db.scalar("SELECT 1 FROM profiles WHERE id = ?", (profile_id,)))

    async def all_rows(self) -> list[Row]:
        """Every profile as raw rows, in id order (for bulk replies)."""
        return await self.db.rows(SELECT + " ORDER BY p.id")

    async def ids(self, where: str = "", params: tuple[Any, ...] = ()) -> list[int]:
        """Ids of profiles matching a fixed WHERE clause, in id order."""
        sql = "SELECT id FROM profiles" + (f" WHERE {where}" if where else "") + " ORDER BY id"
        return [r[0] for r in await self.db.rows(sql, params)]

    async def aor_candidates(self, aor_key: str) -> list[tuple[int, str]]:
        """(id, aor) of profiles whose coarse AOR key matches."""
        rows = await self.db.rows(
            "SELECT id, aor FROM profiles WHERE aor_key = ? ORDER BY id", (aor_key,)
        )
        return [(r[0], r[1]) for r in rows]

    async def default_id(self) -> int | None:
        """The default profile's id, or None when there are no profiles."""
        value = await self.db.scalar("SELECT id FROM profiles WHERE is_default = 1")
        return int(value) if value is not None else None

    async def count(self) -> int:
        """How many profiles are stored."""
        return int(await self.db.scalar("SELECT count(*) FROM profiles"))

    async def insert(self, settings: ProfileSettings, aor_key: str, contact_user: str) -> int:
        """Store a new profile; returns its id (AUTOINCREMENT: never reused)."""
        cols = _columns(settings, aor_key)
        cols["contact_user"] = contact_user
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        cursor = await self.db.conn.execute(
            f"INSERT INTO profiles ({names}) VALUES ({marks})", tuple(cols.values())
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def update(self, profile_id: int, settings: ProfileSettings, aor_key: str) -> None:
        """Overwrite a profile's readable settings."""
        cols = _columns(settings, aor_key)
        assignments = ", ".join(f"{name} = ?" for name in cols)
        await self.db.conn.execute(
            f"UPDATE profiles SET {assignments} WHERE id = ?", (*cols.values(), profile_id)
        )

    async def set_passwords(self, profile_id: int, passwords: Mapping[str, str]) -> None:
        """Store or (for "") remove passwords by server."""
        for server, password in passwords.items():
            assert server in (REGISTRAR, PROXY)
            if password:
                await self.db.conn.execute(
                    "INSERT INTO secrets (profile_id, server, password) VALUES (?, ?, ?) "
                    "ON CONFLICT (profile_id, server) DO UPDATE SET password = excluded.password",
                    (profile_id, server, password),
                )
            else:
                await self.db.conn.execute(
                    "DELETE FROM secrets WHERE profile_id = ? AND server = ?", (profile_id, server)
                )

    async def password(self, profile_id: int, server: str) -> str | None:
        """The stored password of one server: for the registration engine only."""
        value = await self.db.scalar(
            "SELECT password FROM secrets WHERE profile_id = ? AND server = ?",
            (profile_id, server),
        )
        return str(value) if value is not None else None

    async def passwords_equal(self, profile_id: int, passwords: Mapping[str, str]) -> bool:
        """Whether writing ``passwords`` would change nothing (for "updated" events)."""
        for server, password in passwords.items():
            if (await self.password(profile_id, server) or "") != password:
                return False
        return True

    async def set_default(self, profile_id: int | None) -> None:
        """Make ``profile_id`` the only default (None: no default at all)."""
        await self.db.conn.execute("UPDATE profiles SET is_default = 0 WHERE is_default = 1")
        if profile_id is not None:
            await self.db.conn.execute(
                "UPDATE profiles SET is_default = 1 WHERE id = ?", (profile_id,)
            )

    async def delete(self, profile_id: int) -> None:
        """Remove a profile and (by cascade) its secrets."""
        await self.db.conn.execute("DELETE FROM profiles WHERE id = ?", (profile_id,))
