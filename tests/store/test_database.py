"""The SQLite store on real files: modes, migrations, refusals, crash safety."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from sipprofile.server.errors import StoreError
from sipprofile.server.registry.model import NO_SERVER, ProfileSettings, ServerSettings
from sipprofile.server.store import profiles as store
from sipprofile.server.store.database import Database
from sipprofile.server.store.migrations import APPLICATION_ID, SCHEMA_VERSION


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_new_database_is_private_and_current(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a permissive umask must not leak the file
    try:
        path = tmp_path / "deep" / "state" / "profiles.db"
        db = await Database.open(path)
        await db.write(
            lambda c: store.insert(c, ProfileSettings(type="IETF", aor="sip:a@x.org"), "k", "cu1")
        )
        assert mode(path.parent) == 0o700
        for name in ("profiles.db", "profiles.db-wal", "profiles.db-shm"):
            if (path.parent / name).exists():
                assert mode(path.parent / name) == 0o600, name
        assert await db.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert await db.scalar("PRAGMA journal_mode") == "wal"
        assert await db.scalar("PRAGMA foreign_keys") == 1
        await db.close()
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600


async def test_secrets_live_in_their_own_table(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "p.db")
    settings = ProfileSettings(
        type="IETF", aor="sip:a@x.org", registrar=ServerSettings("sip:x.org", "a", "", True)
    )

    def create(conn):
        pid = store.insert(conn, settings, "k", "cu1")
        store.set_passwords(conn, pid, {"registrar": "hunter2"})
        return pid

    pid = await db.write(create)
    profile = await db.run(lambda c: store.get(c, pid))
    assert profile is not None
    assert profile.settings.registrar.has_password
    assert "hunter2" not in repr(profile)
    assert await db.run(lambda c: store.password(c, pid, "registrar")) == "hunter2"
    row_text = repr(await db.rows("SELECT * FROM profiles"))
    assert "hunter2" not in row_text
    await db.write(lambda c: store.delete(c, pid))
    assert await db.rows("SELECT * FROM secrets") == []  # cascade
    await db.close()


async def test_bulk_reads_for_the_engine(tmp_path: Path) -> None:
    """Always-on ids, and many profiles and their passwords, each come back in one job."""
    db = await Database.open(tmp_path / "p.db")
    server = ServerSettings("sip:x.org", "a", "", True)

    def create(conn: sqlite3.Connection) -> list[int]:
        made = []
        for n in range(1203):  # more than two chunks of the IN (...) list
            settings = ProfileSettings(
                type="IETF",
                aor=f"sip:u{n}@x.org",
                registrar=server,
                auto_registration=n % 3 == 0,
            )
            pid = store.insert(conn, settings, f"k{n}", f"cu{n}")
            secrets = {"registrar": f"pw{n}"}
            if n % 2:
                secrets["proxy"] = f"px{n}"
            store.set_passwords(conn, pid, secrets)
            made.append(pid)
        return made

    made = await db.write(create)
    always_on = await db.run(lambda c: store.ids(c, "auto_registration = 1"))
    assert always_on == made[::3]
    read = await db.run(lambda c: store.get_many(c, always_on))
    assert all(p.settings.auto_registration for p in read.values())
    assert read[always_on[1]].settings.aor == "sip:u3@x.org"
    found = await db.run(lambda c: store.passwords(c, [*made, 0, 2**64]))
    assert len(found) == len(made)
    assert found[made[0]] == {"registrar": "pw0"}
    assert found[made[1201]] == {"registrar": "pw1201", "proxy": "px1201"}
    assert await db.run(lambda c: store.passwords(c, [])) == {}
    # profiles by id (the engine's wake-ups and start-up batches): the ones that exist
    wanted = [*made[::2], 0, -1, 2**64, made[-1] + 1000]
    profiles = await db.run(lambda c: store.get_many(c, wanted))
    assert sorted(profiles) == made[::2]
    assert profiles[made[1202]].settings.aor == "sip:u1202@x.org"
    assert all(profiles[i].id == i for i in profiles)
    await db.close()


async def test_migration_from_schema_1_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = await Database.open(path, migrate_to=1)
    assert await db.scalar("PRAGMA user_version") == 1
    for n in range(3):
        await db.conn.execute(
            "INSERT INTO profiles (type, aor, aor_key, provider_name) VALUES (?, ?, ?, ?)",
            ("IETF", f"sip:u{n}@x.org", f"k{n}", f"P{n}"),
        )
    await db.conn.execute(
        "INSERT INTO secrets (profile_id, server, password) VALUES (1, 'registrar', 'pw')"
    )
    await db.close()

    db = await Database.open(path)
    assert await db.scalar("PRAGMA user_version") == SCHEMA_VERSION
    profiles = [await db.run(lambda c, i=i: store.get(c, i)) for i in (1, 2, 3)]
    assert [p.settings.provider_name for p in profiles if p] == ["P0", "P1", "P2"]
    users = {p.contact_user for p in profiles if p}
    assert len(users) == 3
    assert all(len(u) == 16 for u in users)
    assert await db.run(lambda c: store.password(c, 1, "registrar")) == "pw"
    await db.close()


async def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE whatever (x)")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer sipprofiled"):
        await Database.open(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


async def test_foreign_and_garbage_files_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("PRAGMA application_id=1234")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another program"):
        await Database.open(foreign)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        await Database.open(garbage)
    assert garbage.read_bytes() == b"this is not a database" * 100


async def test_damaged_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "damaged.db"
    db = await Database.open(path)

    def fill(conn):
        for n in range(400):
            store.insert(
                conn,
                ProfileSettings(type="IETF", aor=f"sip:u{n}@x.org", provider_name="x" * 200),
                f"k{n}",
                f"c{n}",
            )

    await db.write(fill)
    await db.close()
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    # break the b-tree page headers of pages 3-6 (cell counts and pointers)
    for page in range(2, 6):
        for offset in range(page_size * page + 3, page_size * page + 12):
            data[offset] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="integrity check"):
        await Database.open(path)


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from sipprofile.server.registry.model import ProfileSettings
    from sipprofile.server.store.database import Database
    from sipprofile.server.store import profiles as store

    def batch(conn, first):
        for n in range(first, first + 50):
            settings = ProfileSettings(type="IETF", aor=f"sip:u{n}@x.org")
            store.insert(conn, settings, f"k{n}", f"c{n}")

    async def main():
        db = await Database.open(Path(sys.argv[1]))
        n = 1
        while True:
            await db.write(lambda conn: batch(conn, n))
            n += 50
            print(n - 1, flush=True)  # everything up to n - 1 is committed

    asyncio.run(main())
    """
)


async def test_writer_killed_mid_transaction_leaves_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(path), stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    committed = 0
    while committed < 2000:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        committed = int(line)
    process.kill()  # SIGKILL: no cleanup, very likely inside the next transaction
    await process.wait()
    db = await Database.open(path)
    assert await db.scalar("PRAGMA integrity_check") == "ok"
    count = await db.scalar("SELECT count(*) FROM profiles")
    assert count >= committed
    assert count % 50 == 0  # whole transactions only
    ids = [r[0] for r in await db.rows("SELECT id FROM profiles ORDER BY id")]
    assert ids == list(range(1, count + 1))
    await db.close()


async def test_writes_keep_working_after_the_background_flush(tmp_path: Path) -> None:
    """The power-safety flush runs a checkpoint between writes; it must leave no
    statement open (an open one makes the next COMMIT fail)."""
    from sipprofile.server.store.database import FLUSH_DELAY

    db = await Database.open(tmp_path / "p.db")
    for n in range(3):
        await db.write(
            lambda c, n=n: store.insert(
                c, ProfileSettings(type="IETF", aor=f"sip:{n}@x"), f"{n}", f"{n}"
            )
        )
        await asyncio.sleep(FLUSH_DELAY * 1.5)
    # the WAL was checkpointed in the background: its frames are in the main file
    assert await db.scalar("SELECT count(*) FROM profiles") == 3
    await db.close()


async def test_concurrent_reads_writes_and_flushes_never_collide(tmp_path: Path) -> None:
    """Reads, writes and background checkpoints interleave freely on the one
    connection; none may leave a statement open under another's COMMIT."""
    from sipprofile.server.store.database import FLUSH_DELAY

    db = await Database.open(tmp_path / "p.db")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FLUSH_DELAY * 3
    written = 0

    async def writer(k: int) -> None:
        nonlocal written
        n = 0
        while loop.time() < deadline:
            n += 1
            await db.write(
                lambda c, n=n: store.insert(
                    c, ProfileSettings(type="IETF", aor=f"sip:{k}-{n}@x"), f"{k}-{n}", f"{k}-{n}"
                )
            )
            written += 1

    async def reader() -> None:
        while loop.time() < deadline:
            await db.scalar("SELECT count(*) FROM profiles")
            await db.rows("PRAGMA wal_checkpoint(PASSIVE)")

    await asyncio.gather(*(writer(k) for k in range(4)), reader(), reader())
    assert await db.scalar("SELECT count(*) FROM profiles") == written > 100
    await db.close()


async def test_another_programs_database_without_application_id_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "contacts.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    os.chmod(path, 0o644)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="tables of another program"):
        await Database.open(path)
    assert path.read_bytes() == before
    assert mode(path) == 0o644  # not even its mode was changed
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


async def test_profiles_with_passwords_read_as_the_two_queries_do(tmp_path: Path) -> None:
    """``get_many_with_passwords`` is ``get_many`` and ``passwords`` in one statement."""
    db = await Database.open(tmp_path / "p.db")
    cases: list[dict[str, str]] = [
        {},
        {"registrar": "pw"},
        {"proxy": "px"},
        {"registrar": "pw", "proxy": "px"},
    ]

    def create(conn: sqlite3.Connection) -> list[int]:
        made = []
        for n in range(601):  # two chunks of the IN (...) list
            settings = ProfileSettings(
                type="IETF",
                aor=f"sip:u{n}@x.org",
                registrar=ServerSettings("sip:x.org", "a", ""),
                outbound_proxy=ServerSettings("sip:p.x.org", "b", "") if n % 2 else NO_SERVER,
            )
            pid = store.insert(conn, settings, f"k{n}", f"cu{n}")
            if cases[n % len(cases)]:
                store.set_passwords(conn, pid, cases[n % len(cases)])
            made.append(pid)
        return made

    made = await db.write(create)
    wanted = [*made, 0, 2**64]
    profiles, passwords = await db.run(lambda c: store.get_many_with_passwords(c, wanted))
    assert profiles == await db.run(lambda c: store.get_many(c, wanted))
    assert passwords == await db.run(lambda c: store.passwords(c, wanted))
    assert made[0] not in passwords
    assert not profiles[made[0]].settings.registrar.has_password
    assert passwords[made[1]] == {"registrar": "pw"}
    assert profiles[made[1]].settings.registrar.has_password
    assert not profiles[made[1]].settings.outbound_proxy.has_password
    assert passwords[made[3]] == {"registrar": "pw", "proxy": "px"}
    assert profiles[made[3]].settings.outbound_proxy.has_password
    await db.close()
