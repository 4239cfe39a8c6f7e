"""``sipprofiled`` command line (DESIGN.md §2: the flags are a contract)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from . import logs
from .daemon import Options, run
from .engine.pacing import (
    DEFAULT_BURST,
    DEFAULT_RATE,
    DEFAULT_WINDOW,
    PacingError,
    PacingSettings,
)


def parse_args(argv: list[str] | None = None) -> tuple[Options, str, bool]:
    """Options, the log level and whether to trace SIP, from ``argv``."""
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
        "--polkit",
        action="store_true",
        default=None,
        help="authorize every call with polkit on the --address bus "
        "(always on for the system bus, not possible on the session bus)",
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
    parser.add_argument(
        "--trace-sip",
        action="store_true",
        default=logs.trace_sip_from_environment(),
        help="log every SIP message sent and received, credentials masked "
        f"(also {logs.TRACE_ENVIRONMENT}=1)",
    )
    pacing = parser.add_argument_group(
        "pacing",
        "how fast registrations start (always-on ones at start-up, and all of "
        "them again after a shared connection or the network failed)",
    )
    pacing.add_argument(
        "--start-rate",
        metavar="PER_SECOND",
        type=float,
        default=DEFAULT_RATE,
        help=f"registrations started per second at most (default: {DEFAULT_RATE:g})",
    )
    pacing.add_argument(
        "--start-burst",
        metavar="COUNT",
        type=int,
        default=DEFAULT_BURST,
        help=f"registrations started back to back at most (default: {DEFAULT_BURST})",
    )
    pacing.add_argument(
        "--start-window",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_WINDOW,
        help="spread the always-on registrations at random over this many seconds "
        f"after start-up (default: {DEFAULT_WINDOW:g}: as fast as the rate allows)",
    )
    args = parser.parse_args(argv)
    bus = "address" if args.address else (args.bus or "system")
    if args.polkit and bus == "session":
        parser.error("--polkit needs the system bus or --address: the session bus has no polkit")
    try:
        settings = PacingSettings(args.start_rate, args.start_burst, args.start_window)
    except PacingError as exc:
        parser.error(str(exc))
    options = Options(
        bus=bus, address=args.address, database=args.database, polkit=args.polkit, pacing=settings
    )
    return options, args.log_level, args.trace_sip


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sipprofiled`` script."""
    options, level, trace_sip = parse_args(argv)
    logs.setup(level, trace_sip=trace_sip)
    try:
        return asyncio.run(run(options))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
