"""AKA keys in the store: schema 4 (secrets rows and the has_aka_keys column), migrated
from a database the schema-3 daemon wrote, and the engine's reads and SQN writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sipprofile.server.bus.managed_objects import WIRE_FORMAT, encode_settings
from sipprofile.server.errors import StoreError
from sipprofile.server.registry.model import (
    AKA_AMF,
    AKA_K,
    AKA_OP,
    AKA_OPC,
    AKA_SQN,
    AkaSettings,
    ProfileSettings,
    UsimSecrets,
)
from sipprofile.server.store import profiles as store
from sipprofile.server.store.database import Database
from sipprofile.server.store.migrations import APPLICATION_ID, SCHEMA_VERSION

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
KEYS = {AKA_K: K, AKA_OPC: OPC, AKA_OP: "", AKA_AMF: "8000", AKA_SQN: "0"}

DUMP = Path(__file__).with_name("schema3.sql")


def schema3_file(path: Path) -> Path:
    """The database the schema-3 daemon wrote (tests/store/schema3.sql), as a file."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(DUMP.read_text())
    conn.execute("PRAGMA user_version=3")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.close()
    return path


def test_the_migration_is_from_schema_3() -> None:
    assert SCHEMA_VERSION == 4  # one step from the dump's schema; update both together


async def test_migration_from_schema_3_keeps_profiles_and_passwords(tmp_path: Path) -> None:
    path = schema3_file(tmp_path / "v3.db")
    db = await Database.open(path)
    assert await db.scalar("PRAGMA user_version") == SCHEMA_VERSION
    profiles = list((await db.run(lambda c: store.get_many(c, store.ids(c)))).values())
    assert [(p.id, p.settings.aor) for p in profiles] == [
        (1, "sip:alice@example.com"),
        (2, "sip:bob@ims.example.com"),
        (4, "sip:dave@example.com"),
    ]
    alice, bob, dave = profiles
    assert alice.settings.registrar.has_password and alice.settings.outbound_proxy.has_password
    assert bob.settings.type == "ims"
    assert bob.settings.extensions == {"Tos": ("u", 46)}
    assert dave.settings.default and not alice.settings.default
    assert all(p.settings.aka == AkaSettings(has_keys=False) for p in profiles)
    assert await db.run(lambda c: store.passwords(c, [1, 2, 4])) == {
        1: {"registrar": "alice-registrar-pw", "proxy": "alice-proxy-pw"},
        2: {"registrar": "bob-pw"},
    }
    # ids are still never reused: the AUTOINCREMENT sequence came along
    new_id = await db.write(
        lambda c: store.insert(c, ProfileSettings(type="IETF", aor="sip:e@x.org"), "k", "cu")
    )
    assert new_id == 5
    # the widened secrets table takes AKA rows and still refuses anything else
    await db.write(lambda c: store.set_aka(c, 2, KEYS))
    assert await db.run(lambda c: store.usim_secrets(c, 2)) == UsimSecrets(K, None, OPC, "8000", 0)
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(lambda c: c.execute("INSERT INTO secrets VALUES (1, 'something-else', 'x')"))
    # and still cascades
    await db.write(lambda c: store.delete(c, 2))
    assert await db.scalar("SELECT count(*) FROM secrets WHERE profile_id = 2") == 0
    # the old wire fragments (format 1, no Aka) are all re-encoded: profiles 1, 4 and 5
    assert await db.write(lambda c: store.rebuild_wire(c, encode_settings, str(WIRE_FORMAT))) == 3
    assert await db.scalar("PRAGMA foreign_key_check") is None
    await db.close()


async def test_a_failed_migration_leaves_schema_3_untouched(tmp_path: Path) -> None:
    path = schema3_file(tmp_path / "v3.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE secrets_v4 (x)")  # makes the upgrade's first statement fail
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="cannot be used"):
        await Database.open(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM secrets").fetchone() == (3,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(profiles)")]
        assert "has_aka_keys" not in columns
    finally:
        conn.close()


async def test_keys_are_secrets_rows_and_the_flag_a_column(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "p.db")
    settings = ProfileSettings(type="ims", aor="sip:a@x.org", aka=AkaSettings(has_keys=True))

    def create(conn: sqlite3.Connection) -> int:
        pid = store.insert(conn, settings, "k", "cu1")
        store.set_aka(conn, pid, KEYS)
        store.set_passwords(conn, pid, {"registrar": "pw"})
        return pid

    pid = await db.write(create)
    profile = await db.run(lambda c: store.get(c, pid))
    assert profile is not None and profile.settings.aka.has_keys
    assert await db.scalar("SELECT has_aka_keys FROM profiles WHERE id = ?", (pid,)) == 1
    rows = await db.rows("SELECT server, password FROM secrets ORDER BY server")
    assert rows == [
        (AKA_AMF, "8000"),
        (AKA_K, K),
        (AKA_OPC, OPC),
        (AKA_SQN, "0"),
        ("registrar", "pw"),
    ]
    readable = repr(await db.rows("SELECT * FROM profiles")) + repr(profile)
    assert K not in readable and OPC not in readable
    # the engine's password reads do not carry AKA keys along
    assert await db.run(lambda c: store.passwords(c, [pid])) == {pid: {"registrar": "pw"}}
    assert await db.run(lambda c: store.secrets_equal(c, pid, {AKA_K: K, "registrar": "pw"}))
    assert not await db.run(lambda c: store.secrets_equal(c, pid, {AKA_AMF: "8001"}))
    assert await db.run(lambda c: store.usim_secrets(c, 0)) is None
    assert await db.run(lambda c: store.usim_secrets(c, 2**64)) is None
    await db.close()


async def test_save_sqn_only_raises_it_and_is_synced(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = await Database.open(path)

    def create(conn: sqlite3.Connection) -> int:
        settings = ProfileSettings(type="ims", aor="sip:a@x.org", aka=AkaSettings(True))
        pid = store.insert(conn, settings, "k", "cu1")
        store.set_aka(conn, pid, KEYS | {AKA_SQN: "1000"})
        return pid

    pid = await db.write(create)

    async def save(sqn: int) -> bool:
        return await db.write(lambda c: store.save_sqn(c, pid, sqn), synced=True)

    assert await save(999) is False
    assert await save(1000) is False
    assert await save(2**48 - 1) is True  # compared as numbers, not as text
    assert await save(2**47) is False
    assert await db.run(lambda c: store.usim_secrets(c, pid)) == UsimSecrets(
        K, None, OPC, "8000", 2**48 - 1
    )
    assert await db.write(lambda c: store.save_sqn(c, pid + 1, 5)) is False  # no keys
    # the synced commit leaves the connection as it was: NORMAL for every other write
    assert await db.scalar("PRAGMA synchronous") == 1
    with pytest.raises(sqlite3.IntegrityError):
        await db.write(lambda c: c.execute("INSERT INTO profiles (type) VALUES ('x')"), synced=True)
    assert await db.scalar("PRAGMA synchronous") == 1
    await db.close()
    conn = sqlite3.connect(path)
    try:
        sqn = conn.execute("SELECT password FROM secrets WHERE server = ?", (AKA_SQN,)).fetchone()
        assert sqn == (str(2**48 - 1),)
    finally:
        conn.close()
