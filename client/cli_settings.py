"""The setting options of ``sipprofilectl create``/``update`` and what they send.

The options and their translation to settings live side by side so that adding a
setting to the contract is one edit here. Passwords are read from a *source*,
never taken from argv, where ``ps`` and shell history would show them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Final

from sipprofile.client.profile import Profile

__all__ = [
    "CliError",
    "add_setting_options",
    "merge_collections",
    "read_password",
    "settings_from_args",
]

#: Simple options: argparse dest → setting name.
_SCALARS: Final = {
    "type": "Type",
    "provider_name": "ProviderName",
    "aor": "Aor",
    "access_point": "AccessPoint",
    "sigcomp": "SigComp",
    "security_negotiation": "SecurityNegotiation",
    "auto_registration": "AutoRegistration",
    "default": "Default",
    "private_identity": "PrivateIdentity",
}
#: Option prefix → server setting.
_SERVERS: Final = {"registrar": "Registrar", "proxy": "OutboundProxy"}
_SERVER_LABELS: Final = {"registrar": "registrar", "proxy": "outbound proxy"}
_SERVER_KEYS: Final = {"uri": "Uri", "username": "Username", "realm": "Realm"}


class CliError(Exception):
    """A failure to report as one line; the exit status is 1 unless ``status`` says."""

    def __init__(self, message: str, *, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- options ------------------------------------------------------------------


def _pair(text: str, *, flag_ok: bool = False) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key or (not sep and not flag_ok):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def _contact_param(text: str) -> tuple[str, str]:
    return _pair(text, flag_ok=True)


def _ext_str(text: str) -> tuple[str, object]:
    return _pair(text)


def _ext_bool(text: str) -> tuple[str, object]:
    key, value = _pair(text)
    if value not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected KEY=true or KEY=false, got {text!r}")
    return key, value == "true"


def _ext_int(text: str) -> tuple[str, object]:
    key, value = _pair(text)
    try:
        return key, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected KEY=INTEGER, got {text!r}") from None


def add_setting_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    """One option per setting; defaults are ``None`` so only given ones are sent."""
    group = parser.add_argument_group("settings")
    if create:
        group.add_argument("--type", help="profile type, e.g. IETF or ims (default IETF)")
    group.add_argument("--provider-name", metavar="NAME", help="a name for people")
    group.add_argument("--aor", metavar="URI", help="address of record, sip:user@domain")
    group.add_argument("--access-point", metavar="NAME", help='network to use ("" = any)')
    for prefix, setting in _SERVERS.items():
        group.add_argument(f"--{prefix}-uri", metavar="URI", help=f"{setting} URI (sip: or sips:)")
        group.add_argument(f"--{prefix}-username", metavar="USER", help=f"{setting} user")
        group.add_argument(f"--{prefix}-realm", metavar="REALM", help=f"{setting} realm")
        group.add_argument(
            f"--{prefix}-password-from",
            metavar="SOURCE",
            help=f"read the {setting} password from SOURCE: 'prompt', '-' (one line of"
            " stdin) or a file (its first line); an empty password clears it",
        )
    for name in ("sigcomp", "security-negotiation", "auto-registration"):
        group.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument(
        "--default", action="store_const", const=True, help="make this the default profile"
    )
    group.add_argument("--private-identity", metavar="IMPI", help="IMS private identity")
    group.add_argument(
        "--contact-param",
        metavar="NAME=VALUE",
        action="append",
        type=_contact_param,
        help="extra Contact parameter (NAME alone: a flag); repeatable",
    )
    group.add_argument(
        "--header", metavar="'NAME: VALUE'", action="append", help="extra REGISTER header"
    )
    for option, parse, metavar, kind in (
        ("--extension", _ext_str, "KEY=VALUE", "a string"),
        ("--extension-bool", _ext_bool, "KEY=true|false", "a boolean"),
        ("--extension-int", _ext_int, "KEY=N", "a 64-bit integer"),
    ):
        group.add_argument(
            option,
            metavar=metavar,
            dest="extensions",
            action="append",
            type=parse,
            help=f"extension value, {kind}; repeatable",
        )
    if not create:
        merge = " (otherwise the given ones are added to the current ones)"
        group.add_argument(
            "--clear-contact-params", action="store_true", help="start empty" + merge
        )
        group.add_argument("--clear-headers", action="store_true", help="start empty" + merge)
        group.add_argument("--clear-extensions", action="store_true", help="start empty" + merge)


# -- settings ------------------------------------------------------------------


def read_password(source: str, label: str) -> str:
    """The password from ``source``; see ``--registrar-password-from``."""
    try:
        if source == "prompt":
            password = getpass.getpass(f"{label.capitalize()} password: ")
            again = f"Repeat the {label} password: "
            if sys.stdin.isatty() and getpass.getpass(again) != password:
                raise CliError("the passwords do not match")
            return password
        if source == "-":
            line = sys.stdin.readline()
            if not line:
                raise CliError(f"no {label} password on standard input")
        else:
            with open(source, encoding="utf-8") as file:
                line = file.readline()
    except EOFError:
        raise CliError(f"no {label} password given") from None
    except OSError as exc:
        raise CliError(f"cannot read the {label} password from {source}: {exc.strerror}") from None
    return line.removesuffix("\n").removesuffix("\r")


def settings_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The settings the options ask for, passwords read; collections not merged yet."""
    settings: dict[str, object] = {}
    for dest, name in _SCALARS.items():
        if getattr(args, dest, None) is not None:
            settings[name] = getattr(args, dest)
    for prefix, name in _SERVERS.items():
        server: dict[str, object] = {
            key: getattr(args, f"{prefix}_{option}")
            for option, key in _SERVER_KEYS.items()
            if getattr(args, f"{prefix}_{option}") is not None
        }
        source = getattr(args, f"{prefix}_password_from")
        if source is not None:
            server["Password"] = read_password(source, _SERVER_LABELS[prefix])
        if server:
            settings[name] = server
    if args.contact_param is not None:
        settings["ContactParams"] = dict(args.contact_param)
    if args.header is not None:
        settings["Headers"] = list(args.header)
    if args.extensions is not None:
        settings["Extensions"] = dict(args.extensions)
    return settings


def merge_collections(
    settings: dict[str, object], args: argparse.Namespace, profile: Profile
) -> None:
    """For ``update``: add given contact params, headers and extensions to the current ones.

    ``--clear-...`` starts from empty instead. Extensions keep their exact D-Bus
    types, so an untouched ``u`` value is not rewritten as ``x``.
    """
    if args.contact_param is not None or args.clear_contact_params:
        params = {} if args.clear_contact_params else profile.contact_params
        settings["ContactParams"] = params | dict(args.contact_param or [])
    if args.header is not None or args.clear_headers:
        headers = [] if args.clear_headers else profile.headers
        settings["Headers"] = headers + list(args.header or [])
    if args.extensions is not None or args.clear_extensions:
        extensions: dict[str, object] = {}
        if not args.clear_extensions:
            extensions.update(profile.extension_variants)
        settings["Extensions"] = extensions | dict(args.extensions or [])
