"""Schema versions, one entry per ``PRAGMA user_version``.

Entry N upgrades a version N database to N+1. Each upgrade runs inside the single
transaction that also bumps ``user_version``, so a crash mid-upgrade leaves the old
version intact (the zigpy appdb pattern). Never edit a released entry: add one.
"""

from __future__ import annotations

from typing import Final

#: ``PRAGMA application_id`` of our files ('SIPP'), so that we never "migrate" a
#: database that belongs to something else.
APPLICATION_ID: Final = 0x53495050

MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1: profiles and their secrets, kept in separate tables so that no query
    # that serves readable settings can ever pick up a password by accident.
    """
    CREATE TABLE profiles (
        id                   INTEGER PRIMARY KEY AUTOINCREMENT,
        type                 TEXT NOT NULL,
        provider_name        TEXT NOT NULL DEFAULT '',
        aor                  TEXT NOT NULL,
        aor_key              TEXT NOT NULL,
        access_point         TEXT NOT NULL DEFAULT '',
        registrar_uri        TEXT NOT NULL DEFAULT '',
        registrar_username   TEXT NOT NULL DEFAULT '',
        registrar_realm      TEXT NOT NULL DEFAULT '',
        proxy_uri            TEXT NOT NULL DEFAULT '',
        proxy_username       TEXT NOT NULL DEFAULT '',
        proxy_realm          TEXT NOT NULL DEFAULT '',
        sigcomp              INTEGER NOT NULL DEFAULT 0 CHECK (sigcomp IN (0, 1)),
        security_negotiation INTEGER NOT NULL DEFAULT 0 CHECK (security_negotiation IN (0, 1)),
        auto_registration    INTEGER NOT NULL DEFAULT 0 CHECK (auto_registration IN (0, 1)),
        is_default           INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
        private_identity     TEXT NOT NULL DEFAULT '',
        contact_params       TEXT NOT NULL DEFAULT '{}',
        headers              TEXT NOT NULL DEFAULT '[]',
        extensions           TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX profiles_one_default ON profiles (is_default) WHERE is_default = 1;
    CREATE INDEX profiles_by_type ON profiles (type);
    CREATE INDEX profiles_by_aor_key ON profiles (aor_key);
    CREATE TABLE secrets (
        profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
        server     TEXT NOT NULL CHECK (server IN ('registrar', 'proxy')),
        password   TEXT NOT NULL,
        PRIMARY KEY (profile_id, server)
    ) WITHOUT ROWID;
    """,
    # 1 -> 2: a random Contact user part per profile, kept across restarts so the
    # daemon refreshes its own binding instead of leaving a stale one behind.
    """
    ALTER TABLE profiles ADD COLUMN contact_user TEXT NOT NULL DEFAULT '';
    UPDATE profiles SET contact_user = lower(hex(randomblob(8)));
    CREATE UNIQUE INDEX profiles_by_contact_user ON profiles (contact_user);
    """,
    # 2 -> 3: each profile's settings kept also in D-Bus wire form (NULL = to be
    # encoded), so GetManagedObjects over thousands of profiles is a splice of stored
    # fragments; ``meta`` records which encoding the fragments use.
    """
    ALTER TABLE profiles ADD COLUMN wire BLOB;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    """,
    # 3 -> 4: the software USIM's keys (the Aka setting) as secrets rows, one per key
    # ("password" holds each row's text), and whether a profile has them as a column
    # of its row, written with them, so reading settings never touches ``secrets``.
    # SQLite cannot widen a CHECK in place: the table is rebuilt and its rows copied.
    """
    CREATE TABLE secrets_v4 (
        profile_id INTEGER NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
        server     TEXT NOT NULL CHECK (server IN ('registrar', 'proxy',
                       'aka-k', 'aka-op', 'aka-opc', 'aka-amf', 'aka-sqn')),
        password   TEXT NOT NULL,
        PRIMARY KEY (profile_id, server)
    ) WITHOUT ROWID;
    INSERT INTO secrets_v4 (profile_id, server, password)
        SELECT profile_id, server, password FROM secrets;
    DROP TABLE secrets;
    ALTER TABLE secrets_v4 RENAME TO secrets;
    ALTER TABLE profiles ADD COLUMN has_aka_keys INTEGER NOT NULL DEFAULT 0
        CHECK (has_aka_keys IN (0, 1));
    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)
