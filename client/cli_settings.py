"""The setting options of ``sipprofilectl create``/``update`` and what they send.

The options and their translation to settings live side by side so that adding a
setting to the contract is one edit here. Passwords and the AKA keys K, OP and OPc
are read from a *source*, never taken from argv, where ``ps`` and shell history would
show them.
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
    "aka_from_args",
    "merge_collections",
    "read_password",
    "read_secret",
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
#: AKA keys read from a source (argparse dest prefix → Aka key, what it is called).
_AKA_SECRETS: Final = {
    "aka_k": ("K", "AKA K"),
    "aka_op": ("OP", "AKA OP"),
    "aka_opc": ("OPc", "AKA OPc"),
}


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


def _sqn(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a sequence number (0 or more), got {text!r}")
    return int(text)


def _add_aka_options(group: argparse._ArgumentGroup, *, create: bool) -> None:
    """The USIM's keys: K, OP and OPc from sources like passwords, AMF and SQN as text."""
    source = "'prompt', '-' (one line of stdin) or a file (its first line)"
    group.add_argument(
        "--aka-k-from",
        metavar="SOURCE",
        help=f"read the AKA key K (32 hex digits) from SOURCE: {source}; an empty K"
        " removes every AKA key",
    )
    op = group.add_mutually_exclusive_group()
    op.add_argument("--aka-op-from", metavar="SOURCE", help="read the AKA OP (32 hex) from SOURCE")
    op.add_argument(
        "--aka-opc-from", metavar="SOURCE", help="read the AKA OPc (32 hex) from SOURCE"
    )
    group.add_argument("--aka-amf", metavar="HEX", help="AKA AMF, 4 hex digits (default 8000)")
    group.add_argument(
        "--aka-sqn", metavar="N", type=_sqn, help="the USIM's highest accepted SQN (default 0)"
    )
    if not create:
        group.add_argument("--clear-aka", action="store_true", help="remove every AKA key")


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
    _add_aka_options(group, create=create)
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


def read_secret(source: str, what: str) -> str:
    """One secret from ``source`` (see ``--registrar-password-from``); ``what`` names it."""
    try:
        if source == "prompt":
            secret = getpass.getpass(f"{what[:1].upper()}{what[1:]}: ")
            if sys.stdin.isatty() and getpass.getpass(f"Repeat the {what}: ") != secret:
                raise CliError(f"the two entries of the {what} do not match")
            return secret
        if source == "-":
            line = sys.stdin.readline()
            if not line:
                raise CliError(f"no {what} on standard input")
        else:
            with open(source, encoding="utf-8") as file:
                line = file.readline()
    except EOFError:
        raise CliError(f"no {what} given") from None
    except OSError as exc:
        raise CliError(f"cannot read the {what} from {source}: {exc.strerror}") from None
    return line.removesuffix("\n").removesuffix("\r")


def read_password(source: str, label: str) -> str:
    """The password from ``source``; see ``--registrar-password-from``."""
    return read_secret(source, f"{label} password")


def aka_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The ``Aka`` keys the options ask for, secrets read (in the order K, OP, OPc)."""
    aka: dict[str, object] = {}
    for dest, (key, what) in _AKA_SECRETS.items():
        source = getattr(args, f"{dest}_from", None)
        if source is not None:
            aka[key] = read_secret(source, what).strip()  # hex: no blank is part of it
    if getattr(args, "aka_amf", None) is not None:
        aka["AMF"] = args.aka_amf
    if getattr(args, "aka_sqn", None) is not None:
        aka["SQN"] = args.aka_sqn
    if getattr(args, "clear_aka", False):
        if aka:
            raise CliError("--clear-aka cannot be given with other --aka options", status=2)
        aka["K"] = ""
    return aka


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
    aka = aka_from_args(args)
    if aka:
        settings["Aka"] = aka
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
