"""Secrets never leak (issue 6): the daemon as a process, at its most talkative.

sipprofiled runs with ``--log-level debug --trace-sip`` on the private bus, with two
profiles that really register: one with a password, over TCP, at Kamailio, carrying
AKA keys it does not need; one ``ims`` profile whose software USIM answers the
scripted IMS core's AKA challenges, after a resynchronisation (an ``auts`` on the
wire). Then everything a user or another program can read is searched for the
password, the keys and what is derived from them: the daemon's whole log, every
readable table of its database, the file modes, every signal and reply on the bus,
and ``sipprofilectl``'s output. The in-process tests (tests/bus/test_aka_api.py,
tests/bus/test_registry_api.py, tests/client/test_cli_live.py) check the same before
any registration; this one runs the engine, the transports and the tracing too.
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import sqlite3
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from busutil import Raw, raw_bus
from conftest import daemon_command, wait_for_name
from dbus_fast import Message, MessageType, Variant
from interop.ims_core import IMPI, IMPU, OPC, ImsCore, K
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    scripted_registrar,
    scripted_registrar_factory,
)
from interop.waiting import wait_for, wait_state

from sipprofile.proto import names
from sipprofile.server.sip.milenage import Milenage

PASSWORD = "Leak-probe-pa55word-7f3a"
# the Kamailio profile's keys (TS 35.208 test set 2), unused by a digest registration
K2 = "0396eb317b6d1c36f19c1c84cd6ffd16"
OPC2 = "53c15671c60a4b731c55b4a441c0bde2"


def hex_forms(value: bytes | str) -> list[str]:
    text = value.hex() if isinstance(value, bytes) else value
    return [text.lower(), text.upper()]


def leaks(data: bytes | str, secrets: list[str]) -> list[str]:
    text = data if isinstance(data, str) else data.decode("latin-1")
    return [s for s in secrets if s in text]


def wire(msg: Message) -> bytes:
    return bytes(msg._marshall(False))


async def reply_of(raw: Raw, path: str, interface: str, member: str, *args: str) -> Message:
    reply = await raw.bus.call(
        Message(
            destination=names.BUS_NAME,
            path=path,
            interface=interface,
            member=member,
            signature="s" * len(args),
            body=list(args),
        )
    )
    assert reply is not None and reply.message_type is MessageType.METHOD_RETURN, reply
    return reply


async def ctl(address: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sipprofile.client.cli", "--address", address, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err.decode()
    return out.decode() + err.decode()


def digest_params(value: str) -> dict[str, str]:
    found = re.findall(r'(\w+)=("[^"]*"|[^\s,]+)', value)
    return {name: text.strip('"') for name, text in found}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def core(scripted_registrar: ScriptedRegistrar) -> ImsCore:
    return ImsCore(scripted_registrar)


async def test_no_secret_in_the_log_the_database_the_bus_or_the_cli(
    dbus_address: str, tmp_path: Path, kamailio_factory, core: ImsCore
) -> None:
    kamailio = kamailio_factory(users={"alice": PASSWORD})
    db_path = tmp_path / "state" / "profiles.db"
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *daemon_command(dbus_address, db_path, "--log-level", "debug", "--trace-sip"),
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        await wait_for_name(dbus_address)
        async with raw_bus(dbus_address) as raw:
            digest = await raw.create(
                Aor=f"sip:alice@{kamailio.domain}",
                Registrar={
                    "Uri": f"sip:{kamailio.host}:{kamailio.port};transport=tcp",
                    "Username": "alice",
                    "Password": PASSWORD,
                },
                Aka={"K": K2, "OPc": OPC2},
            )
            ims = await raw.create(
                Type="ims",
                Aor=IMPU,
                PrivateIdentity=IMPI,
                Registrar={"Uri": core.registrar.uri},
                # the USIM is ahead of the network: it must resynchronise (auts)
                Aka={"K": K.hex().upper(), "OPc": OPC.hex(), "SQN": Variant("t", 5000)},
            )
            for path in (digest, ims):
                await raw.profile(path, "Enable")
            await wait_state(raw, digest, "registered")
            await wait_state(raw, ims, "registered")
            assert core.resyncs == 1
            # the password written again (an update), and a second challenge answered
            await raw.profile(
                digest,
                "Update",
                "a{sv}",
                {"Registrar": Variant("a{sv}", {"Password": Variant("s", PASSWORD)})},
            )
            await raw.profile(digest, "Refresh")
            await wait_for(lambda: core.registrar.responses != [])  # reg event: NOTIFY answered

            # the files are the daemon's user's alone, WAL companions included
            assert mode(db_path.parent) == 0o700
            for name in ("profiles.db", "profiles.db-wal", "profiles.db-shm"):
                assert mode(db_path.parent / name) == 0o600, name

            replies = [
                await reply_of(
                    raw, names.REGISTRY_PATH, names.OBJECT_MANAGER_INTERFACE, "GetManagedObjects"
                ),
                *[
                    await reply_of(
                        raw, p, names.PROPERTIES_INTERFACE, "GetAll", names.PROFILE_INTERFACE
                    )
                    for p in (digest, ims)
                ],
            ]
            cli = [
                await ctl(dbus_address, *args)
                for args in (
                    ["show", "1"],
                    ["show", "2"],
                    ["list"],
                    ["--json", "show", "1"],
                    ["--json", "show", "2"],
                    ["--json", "list"],
                )
            ]
            assert "Aka: keys set" in cli[0]
            assert process.returncode is None, "sipprofiled died"
            # stopped while held: it deregisters both (challenged again): more to trace
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 15) == 0
            signals = list(raw.signals)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # what the IMS core saw and answered: the AKA answers and what the USIM derived
    answered = [
        digest_params(r.request.headers.get("Authorization") or "")
        for r in core.registrar.registers
    ]
    wire_values = [
        p[name] for p in answered for name in ("response", "auts") if p.get(name, "") != ""
    ]
    assert any("auts" in p for p in answered) and len(wire_values) >= 3
    derived: list[str] = []
    for response, _, _ in core.registrar.sent:
        challenge = response.headers.get("WWW-Authenticate") or ""
        nonce = digest_params(challenge).get("nonce")
        if nonce:
            rand = base64.b64decode(nonce)[:16]
            res, ck, ik, ak = Milenage(K, OPC).f2345(rand)
            derived += [v for value in (res, ck, ik, ak) for v in hex_forms(value)]
    assert derived
    keys = [*hex_forms(K), *hex_forms(OPC), *hex_forms(K2), *hex_forms(OPC2)]
    secrets = [PASSWORD, PASSWORD.lower(), *keys]

    log = log_path.read_text(errors="backslashreplace")
    # the log really holds the traces and the state lines the secrets could hide in
    assert re.search(r"sent tcp \S+ -> \S+, \d+ bytes\nREGISTER ", log), log[-3000:]
    assert re.search(r"received udp \S+ <- \S+, \d+ bytes\nSIP/2.0 401 ", log)
    assert 'response="***"' in log and 'auts="***"' in log
    assert "profile 1: unregistered -> registering" in log
    assert "profile 1: registering -> registered (expires 3600 s)" in log
    assert "profile 2: registering -> registered (expires 600000 s)" in log
    assert "profile 2: deregistering -> unregistered" in log
    assert "Traceback" not in log
    # ...and none of them
    assert leaks(log, secrets + wire_values + derived) == []
    assert not re.search(r'(?<![\w-])(response|auts)="(?!\*\*\*")[^"]', log)

    # every readable table: the keys and the password are in ``secrets`` and nowhere else
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"profiles", "secrets"} <= set(tables)
        for table in tables:
            values: list[Any] = [v for row in conn.execute(f"SELECT * FROM {table}") for v in row]
            text = "\n".join(
                v.decode("latin-1") + v.hex() if isinstance(v, bytes) else str(v) for v in values
            )
            if table == "secrets":
                assert PASSWORD in text and K.hex() in text.lower()  # where they belong
            else:
                assert leaks(text, secrets) == [], table
                assert not any(bytes.fromhex(k) in text.encode("latin-1") for k in keys[::2])
    finally:
        conn.close()

    # the bus: every signal seen and every reply read, as bytes on the wire
    members = {m.member for m in signals}
    assert {"PropertiesChanged", "ProfileEvent", "InterfacesAdded"} <= members
    for msg in (*signals, *replies):
        assert leaks(wire(msg), secrets) == [], msg.member
    # the command line
    for output in cli:
        assert leaks(output, secrets) == []
