"""``sipprofiled`` command line (DESIGN.md §2: the flags are a contract)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .daemon import Options, run


def parse_args(argv: list[str] | None = None) -> tuple[Options, str]:
    """Options and the log level from ``argv``."""
    parser = argparse.ArgumentParser(
        prog="sipprofiled",
        description="SIP profile server: stores SIP accounts and serves them on D-Bus "
        "as org.sipprofile.SipProfile1.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--session",
        action="store_const",
        dest="bus",
        const="session",
        help="serve on the session (user) bus",
    )
    where.add_argument(
        "--system",
        action="store_const",
        dest="bus",
        const="system",
        help="serve on the system bus (the default)",
    )
    where.add_argument(
        "--address", metavar="ADDRESS", help="serve on the bus at this D-Bus address"
    )
    parser.add_argument(
        "--database",
        metavar="PATH",
        type=Path,
        help="profile database (default: $XDG_STATE_HOME/sipprofiled/"
        "profiles.db on the session bus, /var/lib/sipprofiled/profiles.db "
        "on the system bus)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="how much to log to stderr (default: info)",
    )
    args = parser.parse_args(argv)
    bus = "address" if args.address else (args.bus or "system")
    return Options(bus=bus, address=args.address, database=args.database), args.log_level


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sipprofiled`` script."""
    options, level = parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="sipprofiled: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(run(options))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
