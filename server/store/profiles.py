"""Profiles in SQLite: rows to ``Profile`` values and back, secrets kept apart.

Functions here are plain synchronous code on a ``sqlite3.Connection``; the registry
runs a whole operation of them as one job on the database thread (``Database.write``).
Readable settings and secrets (passwords, the software USIM's keys) live in separate
tables. The queries that read a secret are ``password()``, ``passwords()``,
``get_many_with_passwords()`` and ``usim_secrets()``, for the registration engine, and
``secrets_equal()``, which a write uses to tell whether it changes anything and which
answers only that; none serves the bus. Whether a profile has AKA keys is a column of
its row (``has_aka_keys``), written in the same transaction as the keys, so reading
settings never touches ``secrets`` for it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from sipprofile.server.registry.model import (
    AKA_AMF,
    AKA_K,
    AKA_OP,
    AKA_OPC,
    AKA_ROWS,
    AKA_SQN,
    NO_AKA,
    NO_SERVER,
    PROXY,
    REGISTRAR,
    AkaSettings,
    Profile,
    ProfileSettings,
    ServerSettings,
    UsimSecrets,
)

#: Column order of ``Row``; ``row_to_profile`` and the bus's fast marshaller read it.
_COLUMNS: Final = """
    SELECT p.id, p.type, p.provider_name, p.aor, p.access_point,
           p.registrar_uri, p.registrar_username, p.registrar_realm,
           p.proxy_uri, p.proxy_username, p.proxy_realm,
           p.sigcomp, p.security_negotiation, p.auto_registration, p.is_default,
           p.private_identity, p.contact_params, p.headers, p.extensions, p.contact_user,
"""
SELECT: Final = f"""{_COLUMNS}
           EXISTS (SELECT 1 FROM secrets s WHERE s.profile_id = p.id AND s.server = 'registrar'),
           EXISTS (SELECT 1 FROM secrets s WHERE s.profile_id = p.id AND s.server = 'proxy'),
           p.has_aka_keys
    FROM profiles p
"""
#: ``SELECT`` with the passwords themselves where it says whether there are any (NULL:
#: none): for the engine, which needs both (``get_many_with_passwords``).
_SELECT_WITH_PASSWORDS: Final = f"""{_COLUMNS}
           (SELECT s.password FROM secrets s WHERE s.profile_id = p.id AND s.server = 'registrar'),
           (SELECT s.password FROM secrets s WHERE s.profile_id = p.id AND s.server = 'proxy'),
           p.has_aka_keys
    FROM profiles p
"""

Row = tuple[Any, ...]

#: SQLite integers are signed 64-bit; a larger D-Bus ``t`` cannot name a profile.
MAX_ID: Final = 2**63 - 1


#: The values most rows hold, made once: the daemon reads every always-on profile at
#: start (thousands on a gateway), and each one kept alive by a registration would
#: otherwise carry copies of its own (issue 7).
_AKA: Final = {False: NO_AKA, True: AkaSettings(True)}
_EMPTY_OBJECT: Final = "{}"
_EMPTY_ARRAY: Final = "[]"


def row_to_profile(row: Row) -> Profile:
    """Build the domain value from a ``SELECT`` row."""
    text = row[18]
    extensions = (
        {}
        if text == _EMPTY_OBJECT
        else {k: (sig, value) for k, (sig, value) in json.loads(text).items()}
    )
    proxy = (row[8], row[9], row[10], bool(row[21]))
    settings = ProfileSettings(
        type=row[1],
        provider_name=row[2],
        aor=row[3],
        access_point=row[4],
        registrar=ServerSettings(row[5], row[6], row[7], bool(row[20])),
        outbound_proxy=NO_SERVER if proxy == ("", "", "", False) else ServerSettings(*proxy),
        sigcomp=bool(row[11]),
        security_negotiation=bool(row[12]),
        auto_registration=bool(row[13]),
        default=bool(row[14]),
        private_identity=row[15],
        aka=_AKA[bool(row[22])],
        contact_params={} if row[16] == _EMPTY_OBJECT else json.loads(row[16]),
        headers=() if row[17] == _EMPTY_ARRAY else tuple(json.loads(row[17])),
        extensions=extensions,
    )
    return Profile(id=row[0], settings=settings, contact_user=row[19])


def settings_row(settings: ProfileSettings, profile_id: int = 0, contact_user: str = "") -> Row:
    """The ``SELECT``-shaped row of settings not read back from the database."""
    c = _columns(settings, "")
    return (
        profile_id, c["type"], c["provider_name"], c["aor"], c["access_point"],
        c["registrar_uri"], c["registrar_username"], c["registrar_realm"],
        c["proxy_uri"], c["proxy_username"], c["proxy_realm"],
        c["sigcomp"], c["security_negotiation"], c["auto_registration"], c["is_default"],
        c["private_identity"], c["contact_params"], c["headers"], c["extensions"], contact_user,
        int(settings.registrar.has_password), int(settings.outbound_proxy.has_password),
        int(settings.aka.has_keys),
    )  # fmt: skip


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
        "has_aka_keys": int(s.aka.has_keys),
        # most profiles have none of these: skip the encoder for the empty ones
        "contact_params": (
            json.dumps(dict(s.contact_params), sort_keys=True) if s.contact_params else "{}"
        ),
        "headers": json.dumps(list(s.headers)) if s.headers else "[]",
        "extensions": (
            json.dumps({k: list(v) for k, v in s.extensions.items()}, sort_keys=True)
            if s.extensions
            else "{}"
        ),
    }


def _first(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Row | None:
    """The first row of a query, read to the end.

    Leaving a cursor half-read keeps its statement active, and SQLite then refuses
    to COMMIT ("SQL statements in progress"): every query here is drained.
    """
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def get(conn: sqlite3.Connection, profile_id: int) -> Profile | None:
    """One profile, or None (also for ids SQLite cannot hold)."""
    if not 0 < profile_id <= MAX_ID:
        return None
    row = _first(conn, SELECT + " WHERE p.id = ?", (profile_id,))
    return row_to_profile(row) if row else None


def get_many(conn: sqlite3.Connection, profile_ids: Iterable[int]) -> dict[int, Profile]:
    """The profiles of these ids that exist, in one job (the engine's wake-ups)."""
    found: dict[int, Profile] = {}
    for chunk, marks in _id_chunks(profile_ids):
        for row in conn.execute(
            f"{SELECT} WHERE p.id IN ({marks}) ORDER BY p.id", chunk
        ).fetchall():
            profile = row_to_profile(row)
            found[profile.id] = profile
    return found


def get_many_with_passwords(
    conn: sqlite3.Connection, profile_ids: Iterable[int]
) -> tuple[dict[int, Profile], dict[int, dict[str, str]]]:
    """``get_many`` and ``passwords`` of these ids, in one query (the engine's start-up).

    The start reads both for every always-on profile, thousands on a gateway: one
    statement that reads each password where ``SELECT`` asks whether there is one
    costs a third less than the two.
    """
    found: dict[int, Profile] = {}
    secrets: dict[int, dict[str, str]] = {}
    for chunk, marks in _id_chunks(profile_ids):
        for row in conn.execute(
            f"{_SELECT_WITH_PASSWORDS} WHERE p.id IN ({marks}) ORDER BY p.id", chunk
        ).fetchall():
            registrar, proxy = row[20], row[21]
            profile = row_to_profile((*row[:20], registrar is not None, proxy is not None, row[22]))
            found[profile.id] = profile
            if registrar is not None or proxy is not None:
                passwords = secrets[profile.id] = {}
                if registrar is not None:
                    passwords[REGISTRAR] = str(registrar)
                if proxy is not None:
                    passwords[PROXY] = str(proxy)
    return found, secrets


def exists(conn: sqlite3.Connection, profile_id: int) -> bool:
    """Whether a profile has this id; cheap, for routing bus calls."""
    if not 0 < profile_id <= MAX_ID:
        return False
    return _first(conn, "SELECT 1 FROM profiles WHERE id = ?", (profile_id,)) is not None


def ids(conn: sqlite3.Connection, where: str = "", params: tuple[Any, ...] = ()) -> list[int]:
    """Ids of profiles matching a fixed WHERE clause, in id order."""
    sql = "SELECT id FROM profiles" + (f" WHERE {where}" if where else "") + " ORDER BY id"
    return [r[0] for r in conn.execute(sql, params).fetchall()]


def aor_candidates(conn: sqlite3.Connection, aor_key: str) -> list[tuple[int, str]]:
    """(id, aor) of profiles whose coarse AOR key matches."""
    sql = "SELECT id, aor FROM profiles WHERE aor_key = ? ORDER BY id"
    return [(r[0], r[1]) for r in conn.execute(sql, (aor_key,)).fetchall()]


def default_id(conn: sqlite3.Connection) -> int | None:
    """The default profile's id, or None when there are no profiles."""
    row = _first(conn, "SELECT id FROM profiles WHERE is_default = 1", ())
    return int(row[0]) if row else None


def insert(
    conn: sqlite3.Connection,
    settings: ProfileSettings,
    aor_key: str,
    contact_user: str,
    wire: bytes | None = None,
) -> int:
    """Store a new profile; returns its id (AUTOINCREMENT: never reused)."""
    cols = _columns(settings, aor_key)
    cols["contact_user"] = contact_user
    cols["wire"] = wire
    names = ", ".join(cols)
    marks = ", ".join("?" for _ in cols)
    cursor = conn.execute(f"INSERT INTO profiles ({names}) VALUES ({marks})", tuple(cols.values()))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def update(
    conn: sqlite3.Connection,
    profile_id: int,
    settings: ProfileSettings,
    aor_key: str,
    wire: bytes | None = None,
) -> None:
    """Overwrite a profile's readable settings (and their wire fragment)."""
    cols = _columns(settings, aor_key)
    cols["wire"] = wire
    assignments = ", ".join(f"{name} = ?" for name in cols)
    conn.execute(f"UPDATE profiles SET {assignments} WHERE id = ?", (*cols.values(), profile_id))


def _set_secrets(conn: sqlite3.Connection, profile_id: int, rows: Mapping[str, str]) -> None:
    """Store or (for "") remove secrets rows by name."""
    for server, secret in rows.items():
        if secret:
            conn.execute(
                "INSERT INTO secrets (profile_id, server, password) VALUES (?, ?, ?) "
                "ON CONFLICT (profile_id, server) DO UPDATE SET password = excluded.password",
                (profile_id, server, secret),
            )
        else:
            conn.execute(
                "DELETE FROM secrets WHERE profile_id = ? AND server = ?", (profile_id, server)
            )


def set_passwords(conn: sqlite3.Connection, profile_id: int, passwords: Mapping[str, str]) -> None:
    """Store or (for "") remove passwords by server."""
    assert all(server in (REGISTRAR, PROXY) for server in passwords)
    _set_secrets(conn, profile_id, passwords)


def set_aka(conn: sqlite3.Connection, profile_id: int, rows: Mapping[str, str]) -> None:
    """Store or (for "") remove AKA key rows (``AKA_ROWS`` names, as validation made them).

    The readable ``has_aka_keys`` column is written by ``insert``/``update`` from the
    settings, in the same transaction.
    """
    assert all(row in AKA_ROWS for row in rows)
    _set_secrets(conn, profile_id, rows)


def password(conn: sqlite3.Connection, profile_id: int, server: str) -> str | None:
    """The stored password of one server: for the registration engine only."""
    row = _first(
        conn,
        "SELECT password FROM secrets WHERE profile_id = ? AND server = ?",
        (profile_id, server),
    )
    return str(row[0]) if row else None


#: Ids per ``IN (...)`` list: far below SQLite's limit on bound parameters.
_CHUNK: Final = 500


def _id_chunks(profile_ids: Iterable[int]) -> Iterator[tuple[tuple[int, ...], str]]:
    """The valid ids in ``IN (...)``-sized chunks, each with its ``?,?,...`` marks."""
    wanted = [i for i in profile_ids if 0 < i <= MAX_ID]
    for start in range(0, len(wanted), _CHUNK):
        chunk = tuple(wanted[start : start + _CHUNK])
        yield chunk, ",".join("?" * len(chunk))


def passwords(conn: sqlite3.Connection, profile_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Every stored password of these profiles, by profile and server, in one job.

    The engine starts many sessions at once (always-on profiles at start); reading
    their secrets together costs one round trip instead of two per profile.
    """
    found: dict[int, dict[str, str]] = {}
    for chunk, marks in _id_chunks(profile_ids):
        rows = conn.execute(
            "SELECT profile_id, server, password FROM secrets "
            f"WHERE server IN ('{REGISTRAR}', '{PROXY}') AND profile_id IN ({marks})",
            chunk,
        ).fetchall()
        for profile_id, server, secret in rows:
            found.setdefault(profile_id, {})[server] = str(secret)
    return found


def secrets_equal(conn: sqlite3.Connection, profile_id: int, rows: Mapping[str, str]) -> bool:
    """Whether writing ``rows`` (passwords, AKA keys) would change nothing.

    For the "updated" event, which a write that changes nothing must not send.
    """
    return all(
        (password(conn, profile_id, server) or "") == value for server, value in rows.items()
    )


def usim_secrets(conn: sqlite3.Connection, profile_id: int) -> UsimSecrets | None:
    """The stored software USIM keys of a profile, or None: for the registration engine only."""
    if not 0 < profile_id <= MAX_ID:
        return None
    marks = ",".join("?" * len(AKA_ROWS))
    found: dict[str, str] = dict(
        conn.execute(
            f"SELECT server, password FROM secrets WHERE profile_id = ? AND server IN ({marks})",
            (profile_id, *AKA_ROWS),
        ).fetchall()
    )
    k = found.get(AKA_K)
    if not k:
        return None
    return UsimSecrets(
        k=k,
        op=found.get(AKA_OP),
        opc=found.get(AKA_OPC),
        amf=found.get(AKA_AMF, ""),
        sqn=int(found.get(AKA_SQN, "0")),
    )


def save_sqn(conn: sqlite3.Connection, profile_id: int, sqn: int) -> bool:
    """Raise the stored SQN to ``sqn`` if it is higher; returns whether it was.

    Compared in the statement itself, so it holds whatever was written since the
    caller read the keys: a stale value never moves the counter back.
    """
    if not 0 < profile_id <= MAX_ID:
        return False
    cursor = conn.execute(
        "UPDATE secrets SET password = ? "
        "WHERE profile_id = ? AND server = ? AND CAST(password AS INTEGER) < ?",
        (str(sqn), profile_id, AKA_SQN, sqn),
    )
    return cursor.rowcount > 0


def set_default(conn: sqlite3.Connection, profile_id: int | None) -> None:
    """Make ``profile_id`` the only default (None: no default at all)."""
    conn.execute("UPDATE profiles SET is_default = 0 WHERE is_default = 1")
    if profile_id is not None:
        conn.execute("UPDATE profiles SET is_default = 1 WHERE id = ?", (profile_id,))


def wire_items(conn: sqlite3.Connection) -> list[tuple[int, str, bytes | None]]:
    """(id, type, stored wire fragment or None) of every profile, in id order."""
    return conn.execute("SELECT id, type, wire FROM profiles ORDER BY id").fetchall()


def refresh_wire(
    conn: sqlite3.Connection, profile_ids: Iterable[int], encode: Callable[[Row], bytes]
) -> None:
    """Re-encode the stored wire fragment of these profiles after they changed."""
    for profile_id in profile_ids:
        row = _first(conn, SELECT + " WHERE p.id = ?", (profile_id,))
        if row is not None:
            conn.execute("UPDATE profiles SET wire = ? WHERE id = ?", (encode(row), profile_id))


def rebuild_wire(conn: sqlite3.Connection, encode: Callable[[Row], bytes], version: str) -> int:
    """Encode missing fragments, or all of them when the encoding changed; returns how many."""
    stored = _first(conn, "SELECT value FROM meta WHERE key = 'wire_format'", ())
    where = "" if stored is None or stored[0] != version else " WHERE p.wire IS NULL"
    rows = conn.execute(SELECT + where).fetchall()
    conn.executemany(
        "UPDATE profiles SET wire = ? WHERE id = ?", [(encode(row), row[0]) for row in rows]
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('wire_format', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (version,),
    )
    return len(rows)


def rebuild_aor_keys(conn: sqlite3.Connection, key: Callable[[str], str], version: str) -> int:
    """Recompute every ``aor_key`` when the key's definition changed; returns how many."""
    stored = _first(conn, "SELECT value FROM meta WHERE key = 'aor_key_format'", ())
    if stored is not None and stored[0] == version:
        return 0
    rows = conn.execute("SELECT id, aor FROM profiles").fetchall()
    conn.executemany("UPDATE profiles SET aor_key = ? WHERE id = ?", [(key(a), i) for i, a in rows])
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('aor_key_format', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (version,),
    )
    return len(rows)


def delete(conn: sqlite3.Connection, profile_id: int) -> None:
    """Remove a profile and (by cascade) its secrets."""
    conn.execute("DELETE FROM profiles WHERE id = ?", (profile_id,))
