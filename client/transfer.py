"""Profiles as a JSON document, out and back in: ``sipprofilectl export`` and ``import``.

Why a format of its own rather than the ``show --json`` output: an export must come
back in exactly as it went out. So every setting is written under its D-Bus name, as
``CreateProfile`` takes it, and ``Extensions`` values keep their D-Bus type
(``{"type": "u", "value": 120}``), which JSON alone would lose. Read-only values
(``HasPassword``, ``HasKeys``, the status) are left out.

Secrets are write-only on D-Bus, so an export has none unless asked for: then they are
read from the daemon's database file itself, which only its owner (root, or the
service user) can read, and the document says ``"secrets": true``. Importing goes
through the daemon's ``ImportProfiles``: the document is taken whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from dbus_fast import Variant

from sipprofile.proto.schema import SETTINGS

from .convert import unpack
from .errors import InvalidArgument

FORMAT: Final = "sipprofiled-profiles"
VERSION: Final = 1
_SERVERS: Final = ("Registrar", "OutboundProxy")
_READ_ONLY_KEYS: Final = frozenset({"HasPassword", "HasKeys"})
#: The secrets table's rows (server column) and where they go in the document.
_PASSWORD_ROWS: Final = {
    "registrar": ("Registrar", "Password"),
    "proxy": ("OutboundProxy", "Password"),
}
_AKA_ROWS: Final = {
    "aka-k": "K", "aka-op": "OP", "aka-opc": "OPc", "aka-amf": "AMF", "aka-sqn": "SQN",
}  # fmt: skip


def profile_document(
    settings: Mapping[str, Any], extensions: Mapping[str, Variant]
) -> dict[str, Any]:
    """One profile for the document: ``Profile.as_dict()`` and ``extension_variants``."""
    out: dict[str, Any] = {}
    for key in SETTINGS:
        if key not in settings:
            continue
        value = settings[key]
        if key == "Extensions":
            out[key] = {
                name: {"type": item.signature, "value": unpack(item.value)}
                for name, item in extensions.items()
            }
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _READ_ONLY_KEYS}
            if key == "Aka" and not value:
                continue  # no keys to write back without secrets
        out[key] = value
    return out


def document(profiles: Sequence[dict[str, Any]], *, secrets: bool) -> dict[str, Any]:
    """The whole export."""
    return {"format": FORMAT, "version": VERSION, "secrets": secrets, "profiles": list(profiles)}


def add_secrets(
    profiles: Sequence[tuple[int, str, dict[str, Any]]], database: Path
) -> list[dict[str, Any]]:
    """Each ``(id, aor, settings)`` with its passwords and AKA keys from ``database``.

    The database is opened read-only; its AOR for each id must be the one the daemon
    reported, so an export never pairs one profile's settings with another's secrets
    (a database that is not the daemon's, or changed meanwhile).
    """
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidArgument(f"cannot open {database}: {exc}") from None
    try:
        out: list[dict[str, Any]] = []
        for profile_id, aor, settings in profiles:
            row = conn.execute("SELECT aor FROM profiles WHERE id = ?", (profile_id,)).fetchone()
            if row is None or row[0] != aor:
                raise InvalidArgument(
                    f"{database} is not the daemon's database (profile {profile_id} differs)"
                )
            result = {k: (dict(v) if isinstance(v, dict) else v) for k, v in settings.items()}
            rows = conn.execute(
                "SELECT server, password FROM secrets WHERE profile_id = ?", (profile_id,)
            ).fetchall()
            for server, secret in rows:
                if server in _PASSWORD_ROWS:
                    setting, key = _PASSWORD_ROWS[server]
                    result.setdefault(setting, {})[key] = secret
                elif server in _AKA_ROWS:
                    key = _AKA_ROWS[server]
                    result.setdefault("Aka", {})[key] = int(secret) if key == "SQN" else secret
            out.append(result)
        return out
    except sqlite3.Error as exc:
        raise InvalidArgument(f"cannot read {database}: {exc}") from None
    finally:
        conn.close()


def read_document(text: str) -> list[dict[str, Any]]:
    """The profiles of an export, as ``CreateProfile`` settings (variants where typed).

    Refuses anything that is not an export of this format and version, naming what is
    wrong; the daemon then checks every profile as ``CreateProfile`` would.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidArgument(f"not a {FORMAT} document")
    if doc.get("version") != VERSION:
        raise InvalidArgument(f"unsupported version {doc.get('version')!r} (this is {VERSION})")
    profiles = doc.get("profiles")
    if not isinstance(profiles, list):
        raise InvalidArgument("'profiles' must be a list")
    out: list[dict[str, Any]] = []
    for number, item in enumerate(profiles, start=1):
        if not isinstance(item, dict):
            raise InvalidArgument(f"profile {number}: not an object")
        settings = dict(item)
        extensions = settings.get("Extensions")
        if extensions is not None:
            settings["Extensions"] = _extensions(extensions, number)
        aka = settings.get("Aka")
        if isinstance(aka, dict) and isinstance(aka.get("SQN"), int):
            settings["Aka"] = {**aka, "SQN": Variant("t", aka["SQN"])}
        out.append(settings)
    return out


def _extensions(value: object, number: int) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"profile {number}: Extensions must be an object")
    out: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(item, dict) or "value" not in item:
            raise InvalidArgument(f"profile {number}: Extensions.{key} needs a value")
        signature = item.get("type")
        if signature is None:
            out[key] = item["value"]
            continue
        try:
            out[key] = Variant(str(signature), item["value"])
        except Exception as exc:  # dbus-fast's own type errors, whatever their class
            raise InvalidArgument(
                f"profile {number}: Extensions.{key} is not a valid {signature!r} value ({exc})"
            ) from None
    return out


def dumps(doc: Mapping[str, Any]) -> str:
    """The document as text: stable key order, readable."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
