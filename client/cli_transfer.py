"""``sipprofilectl export`` and ``import``: the commands around ``client/transfer.py``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from sipprofile.proto.paths import default_database

from .errors import InvalidArgument
from .registry import Registry
from .transfer import add_secrets, document, dumps, profile_document, read_document

_EXPORT_HELP: Final = (
    "Write every profile as a JSON document (to stdout, or to --output). Passwords and AKA"
    " keys are write-only on D-Bus, so they are left out unless --with-secrets is given:"
    " they are then read from the daemon's database file, which needs its owner's rights"
    " (root for the system service), and the document holds them in clear text."
)
_IMPORT_HELP: Final = (
    "Create the profiles of an export (FILE, or - for stdin). Each is checked as"
    " CreateProfile checks it, and they are created all together or not at all."
)
_SECRETS_WARNING: Final = (
    "warning: this export holds passwords and AKA keys in clear text; keep it private"
    " and delete it when done"
)


def add_transfer_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``export`` and ``import`` through the CLI's own ``command`` factory."""
    export = command("export", "write every profile as JSON", _EXPORT_HELP)
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE (mode 0600)")
    export.add_argument(
        "--with-secrets", action="store_true", help="include passwords and AKA keys (see help)"
    )
    export.add_argument(
        "--database", metavar="PATH", type=Path,
        help="the daemon's database, for --with-secrets (default: the bus's default path)",
    )  # fmt: skip
    command("import", "create the profiles of an export", _IMPORT_HELP).add_argument(
        "file", metavar="FILE", help="the export to read, or - for stdin"
    )


async def cmd_export(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    """Print or write the export; secrets only when asked, with a warning."""
    profiles = await registry.list()
    entries = [profile_document(p.as_dict(), p.extension_variants) for p in profiles]
    if args.with_secrets:
        if args.address and not args.database:
            raise InvalidArgument("--with-secrets on a bus given by --address needs --database")
        database = args.database or default_database(args.bus)
        entries = add_secrets(
            [(p.id, p.aor, entry) for p, entry in zip(profiles, entries, strict=True)], database
        )
        print(f"sipprofilectl: {_SECRETS_WARNING}", file=sys.stderr, flush=True)
    text = dumps(document(entries, secrets=args.with_secrets))
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


async def cmd_import(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    """Create them all, or none; print the new ids."""
    text = _read(args.file)  # small and local: read before talking to the daemon
    created = await registry.import_profiles(read_document(text))
    for profile in created:
        print(profile.id, flush=True)
    return 0


def _read(name: str) -> str:
    try:
        return sys.stdin.read() if name == "-" else Path(name).read_text("utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read {name}: {exc.strerror}") from None
