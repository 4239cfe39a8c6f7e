"""``sipprofilectl export`` and ``import`` as a user runs them, against a live daemon.

An export carries every setting in the form CreateProfile takes (Extensions with their
D-Bus types), no secret unless asked; with ``--with-secrets`` it reads them from the
daemon's own database file and warns. An import creates all profiles or none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

from dbus_fast import Variant

from client.test_cli_live import assert_ok, ctl
from sipprofile.client import Registry

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"


async def fill(registry: Registry) -> None:
    await registry.create(
        {
            "Aor": "sip:alice@example.com",
            "ProviderName": "Example",
            "Registrar": {"Uri": "sip:example.com", "Username": "alice", "Password": "s3cret-A"},
            "ContactParams": {"+sip.device": "phone"},
            "Headers": ["X-Trace: 1"],
            "Extensions": {"RetryBaseSeconds": Variant("u", 60), "Outbound": False},
        }
    )
    await registry.create(
        {
            "Type": "ims",
            "Aor": "sip:bob@ims.example.com",
            "PrivateIdentity": "bob@ims.example.com",
            "Aka": {"K": K, "OPc": OPC},
            "AutoRegistration": False,
        }
    )


def secrets_in(text: str) -> list[str]:
    return [s for s in ("s3cret-A", K, OPC) if s in text]


async def test_export_without_secrets_then_import_recreates_the_profiles(
    daemon, registry: Registry, tmp_path: Path
) -> None:
    await fill(registry)
    exported = await ctl(daemon.address, "export")
    assert_ok(exported)
    assert secrets_in(exported.out) == []
    doc = json.loads(exported.out)
    assert doc["format"] == "sipprofiled-profiles" and doc["secrets"] is False
    alice, bob = doc["profiles"]
    assert alice["Registrar"] == {"Uri": "sip:example.com", "Username": "alice", "Realm": ""}
    assert alice["Extensions"]["RetryBaseSeconds"] == {"type": "u", "value": 60}
    assert "Aka" not in bob  # nothing to write back without the keys
    # into an empty daemon: delete them, import the file, compare
    for profile in await registry.list():
        await profile.delete()
    path = tmp_path / "profiles.json"
    path.write_text(exported.out)
    imported = await ctl(daemon.address, "import", str(path))
    assert_ok(imported)
    ids = [int(line) for line in imported.out.split()]
    assert len(ids) == 2
    again = await ctl(daemon.address, "export")
    assert json.loads(again.out)["profiles"] == doc["profiles"]
    typed = (await registry.get(ids[0])).extension_variants["RetryBaseSeconds"]
    assert typed.signature == "u"  # the D-Bus type came back too


async def test_an_invalid_import_creates_nothing_and_says_which(
    daemon, registry: Registry, tmp_path: Path
) -> None:
    doc = {
        "format": "sipprofiled-profiles",
        "version": 1,
        "secrets": False,
        "profiles": [{"Aor": "sip:a@example.com"}, {"Aor": "tel:+15551234"}],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = await ctl(daemon.address, "import", str(path))
    assert result.status == 1
    assert "profile 2" in result.err and "Traceback" not in result.err
    assert await registry.list() == []
    for text, words in (("{", "not JSON"), ('{"format": "x"}', "not a sipprofiled-profiles")):
        path.write_text(text)
        result = await ctl(daemon.address, "import", str(path))
        assert result.status == 1 and words in result.err


async def test_export_with_secrets_reads_the_database_and_warns(
    daemon, registry: Registry, tmp_path: Path
) -> None:
    await fill(registry)
    out = tmp_path / "with-secrets.json"
    result = await ctl(
        daemon.address, "export", "--with-secrets", "--database", str(daemon.db_path),
        "--output", str(out),
    )  # fmt: skip
    assert_ok(result)
    assert "clear text" in result.err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    doc = json.loads(out.read_text())
    assert doc["secrets"] is True
    alice, bob = doc["profiles"]
    assert alice["Registrar"]["Password"] == "s3cret-A"
    assert bob["Aka"] == {"K": K, "OPc": OPC, "AMF": "8000", "SQN": 0}
    # and it imports into an empty daemon with its secrets
    for profile in await registry.list():
        await profile.delete()
    assert_ok(await ctl(daemon.address, "import", str(out)))
    with sqlite3.connect(daemon.db_path) as conn:
        stored = {server for (server,) in conn.execute("SELECT server FROM secrets")}
    assert {"registrar", "aka-k", "aka-opc"} <= stored


async def test_export_with_secrets_refuses_a_database_that_is_not_the_daemons(
    daemon, registry: Registry, tmp_path: Path
) -> None:
    await fill(registry)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE profiles (id INTEGER PRIMARY KEY, aor TEXT)")
        conn.execute("INSERT INTO profiles VALUES (1, 'sip:mallory@example.com')")
    result = await ctl(daemon.address, "export", "--with-secrets", "--database", str(other))
    assert result.status == 1 and "is not the daemon's database" in result.err
    assert secrets_in(result.out) == []
