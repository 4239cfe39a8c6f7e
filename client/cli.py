"""``sipprofilectl``: manage and watch sipprofiled's profiles from a shell.

Built on the public client library only, so it doubles as its reference user.
Two rules shape it. Passwords never come from argv, where ``ps`` and shell history
would show them: ``--registrar-password-from`` names a *source* (``prompt``, ``-``
for one line of stdin, or a file). And failures are one line on stderr with status
1 (2 for usage), never a traceback, so scripts can rely on the exit status.

A hold (``enable``) belongs to the bus connection that took it, so ``enable`` runs
until it lets go (see :mod:`sipprofile.client.cli_hold`); ``disable`` from another
process can only be told that it holds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Final

from sipprofile.client.cli_format import (
    LIST_HEADERS,
    event_line,
    format_table,
    list_row,
    show_lines,
    to_json,
)
from sipprofile.client.cli_hold import run_enable
from sipprofile.client.cli_settings import (
    CliError,
    add_setting_options,
    merge_collections,
    settings_from_args,
)
from sipprofile.client.cli_transfer import add_transfer_commands, cmd_export, cmd_import
from sipprofile.client.errors import NotEnabled, SipProfileError
from sipprofile.client.registry import Registry
from sipprofile.proto.names import BUS_NAME

PROG: Final = "sipprofilectl"
DEFAULT_TIMEOUT: Final = 30.0

_ENABLE_HELP: Final = (
    "Hold profile ID enabled and print its registration state as it changes. A hold"
    " belongs to the process that takes it and the daemon releases it when that process"
    " exits, so enable keeps running while it holds. Without --wait it holds until the"
    " profile is registered (exit 0) or has failed (exit 1, the error on stderr), then"
    " releases it and exits; with --wait it holds until Ctrl-C or SIGTERM, then"
    " releases it (exit 0)."
)
_DISABLE_HELP: Final = (
    "Release a hold of this process. Holds belong to the process that took them and"
    " end when it exits, so from a new sipprofilectl process this always fails with"
    " NotEnabled: stop the 'sipprofilectl enable' (Ctrl-C) or the application that holds"
    " the profile, or use force-disable to drop every holder."
)
_REFRESH_HELP: Final = (
    "Register profile ID again now. The daemon allows it to a client that holds the"
    " profile or for an always-on profile (--auto-registration), so from sipprofilectl"
    " it works for always-on profiles."
)
_FORCE_HELP: Final = (
    "Drop every holder of profile ID and deregister it, always-on or not; monitors see"
    " a forcibly-disabled event. On the system bus only root may do this."
)


# -- argument parsing ----------------------------------------------------------


def _profile_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a profile id (a positive integer)")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; global options are accepted before or after the command."""
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    where = common.add_argument_group("bus").add_mutually_exclusive_group()
    where.add_argument("--session", dest="bus", action="store_const", const="session",
                       default=argparse.SUPPRESS, help="use the session bus")  # fmt: skip
    where.add_argument("--system", dest="bus", action="store_const", const="system",
                       default=argparse.SUPPRESS, help="use the system bus (default)")  # fmt: skip
    where.add_argument("--address", default=argparse.SUPPRESS, help="use the bus at ADDRESS")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON (JSON lines for monitor and enable)")  # fmt: skip
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        allow_abbrev=False,
        description="Manage the SIP profiles of sipprofiled.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, about: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, parents=[common], allow_abbrev=False, help=help_text,
            description=about or help_text,
        )  # fmt: skip

    command("types", "list the supported profile types")
    listing = command("list", "list profiles")
    listing.add_argument("--type", help="only profiles of this type")
    listing.add_argument("--aor", metavar="URI", help="only profiles with an equivalent AOR")
    command("show", "show every property of a profile").add_argument(
        "id", metavar="ID", type=_profile_id
    )
    add_setting_options(command("create", "create a profile; prints its id"), create=True)
    update = command("update", "change settings of a profile")
    update.add_argument("id", metavar="ID", type=_profile_id)
    add_setting_options(update, create=False)
    command("delete", "delete a profile").add_argument("id", metavar="ID", type=_profile_id)
    command("monitor", "print profile events until interrupted")
    enable = command("enable", "hold a profile enabled while it registers", _ENABLE_HELP)
    enable.add_argument("id", metavar="ID", type=_profile_id)
    how_long = enable.add_mutually_exclusive_group()
    how_long.add_argument(
        "--wait", action="store_true", help="hold until interrupted instead of until settled"
    )
    how_long.add_argument(
        "--timeout", metavar="SECONDS", type=_seconds, default=DEFAULT_TIMEOUT,
        help=f"give up (exit 1) if not settled within SECONDS (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    for name, help_text, about in (
        ("disable", "release a hold of this process (see the help)", _DISABLE_HELP),
        ("refresh", "register a profile again now (always-on profiles)", _REFRESH_HELP),
        ("force-disable", "drop every holder of a profile and deregister it", _FORCE_HELP),
    ):
        command(name, help_text, about).add_argument("id", metavar="ID", type=_profile_id)
    add_transfer_commands(command)
    return parser


# -- commands ----------------------------------------------------------------------

Handler = Callable[[Registry, argparse.Namespace, dict[str, object]], Coroutine[Any, Any, int]]


def _out(text: str) -> None:
    print(text, flush=True)


async def cmd_types(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    types = await registry.supported_types()
    if args.json:
        _out(to_json([{"class": cls, "name": name} for cls, name in types]))
    else:
        _out(format_table(("CLASS", "NAME"), [list(item) for item in types]))
    return 0


async def cmd_list(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    if args.type is not None:
        profiles = await registry.list_by_type(args.type)
        if args.aor is not None:
            wanted = {profile.id for profile in await registry.list_by_aor(args.aor)}
            profiles = [profile for profile in profiles if profile.id in wanted]
    elif args.aor is not None:
        profiles = await registry.list_by_aor(args.aor)
    else:
        profiles = await registry.list()
    dicts = [profile.as_dict() for profile in profiles]
    if args.json:
        _out(to_json(dicts))
    else:
        _out(format_table(LIST_HEADERS, [list_row(item) for item in dicts]))
    return 0


async def cmd_show(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    profile = (await registry.get(args.id)).as_dict()
    _out(to_json(profile) if args.json else "\n".join(show_lines(profile)))
    return 0


async def cmd_create(
    registry: Registry, args: argparse.Namespace, settings: dict[str, object]
) -> int:
    profile = await registry.create(settings)
    _out(to_json(profile.as_dict()) if args.json else str(profile.id))
    return 0


async def cmd_update(
    registry: Registry, args: argparse.Namespace, settings: dict[str, object]
) -> int:
    profile = await registry.get(args.id)
    merge_collections(settings, args, profile)
    await profile.update(settings)
    if args.json:
        _out(to_json(profile.as_dict()))
    return 0


async def cmd_delete(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    await (await registry.get(args.id)).delete()
    return 0


async def cmd_monitor(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    """Print events until SIGINT/SIGTERM, which end it normally (status 0)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stream = registry.events()

    async def consume() -> None:
        async for event in stream:
            _out(event_line(event, datetime.now().astimezone(), as_json=args.json))
        raise CliError("lost the connection to the bus")

    # Announced on stderr once subscribed, so a script can wait for it before acting.
    print(f"Monitoring {BUS_NAME}; press Ctrl-C to stop.", file=sys.stderr, flush=True)
    consumer = asyncio.create_task(consume())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if consumer.done():
            consumer.result()
        return 0
    finally:
        consumer.cancel()
        stopper.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await stream.aclose()


async def cmd_disable(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    try:
        await (await registry.get(args.id)).disable()
    except NotEnabled as exc:
        raise CliError(
            f"{exc} (a hold ends when the process that enabled the profile exits;"
            " force-disable drops every holder)"
        ) from None
    return 0


async def cmd_refresh(registry: Registry, args: argparse.Namespace, _: dict[str, object]) -> int:
    try:
        await (await registry.get(args.id)).refresh()
    except NotEnabled as exc:
        hint = "from sipprofilectl, refresh works for always-on profiles"
        raise CliError(f"{exc} ({hint})") from None
    return 0


async def cmd_force_disable(
    registry: Registry, args: argparse.Namespace, _: dict[str, object]
) -> int:
    await (await registry.get(args.id)).force_disable()
    return 0


COMMANDS: Final[dict[str, Handler]] = {
    "types": cmd_types,
    "list": cmd_list,
    "show": cmd_show,
    "create": cmd_create,
    "update": cmd_update,
    "delete": cmd_delete,
    "monitor": cmd_monitor,
    "disable": cmd_disable,
    "refresh": cmd_refresh,
    "force-disable": cmd_force_disable,
    "export": cmd_export,
    "import": cmd_import,
}


async def run(args: argparse.Namespace, settings: dict[str, object]) -> int:
    """Connect, run one command, disconnect."""
    if args.command == "enable":
        return await run_enable(args)  # hooks into the connection before it starts
    # on a terminal, polkit may ask for a password (as busctl lets it)
    interactive = sys.stdin.isatty()
    registry = await Registry.connect(bus=args.bus, address=args.address, interactive=interactive)
    async with registry:
        return await COMMANDS[args.command](registry, args, settings)


def _fail(message: str) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr, flush=True)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for usage errors, via argparse)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("bus", "system"), ("address", None), ("json", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        settings: dict[str, object] = {}
        if args.command in ("create", "update"):
            settings = settings_from_args(args)
            if (
                args.command == "update"
                and not settings
                and not any((args.clear_contact_params, args.clear_headers, args.clear_extensions))
            ):
                parser.error("update: give at least one setting to change")
        return asyncio.run(run(args, settings))
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        _fail(str(exc))
        return exc.status
    except SipProfileError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (``| head``); silence the final flush of stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        return _fail(f"unexpected error: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
