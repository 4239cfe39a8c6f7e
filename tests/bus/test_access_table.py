"""The authorization table and the polkit policy file: complete, consistent, as documented.

These need no polkit: they read the table, the served introspection XML and the
policy file. tests/bus/test_polkit.py runs the same policy in the real polkitd.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import cast

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from polkitbus import POLICY

from sipprofile.proto import names
from sipprofile.server.__main__ import parse_args
from sipprofile.server.bus import authorization
from sipprofile.server.bus.authorization import (
    ACTIONS,
    FORCE,
    MANAGE,
    METHOD_ACTIONS,
    READ,
    USE,
    PolkitAuthorizer,
)
from sipprofile.server.bus.introspection import profile_node, registry_node
from sipprofile.server.bus.service import BusService
from sipprofile.server.daemon import Options
from sipprofile.server.errors import AccessDenied

#: The defaults the README documents: (allow_any, allow_inactive, allow_active).
DEFAULTS = {
    READ: ("no", "no", "yes"),
    USE: ("no", "no", "yes"),
    MANAGE: ("auth_admin_keep", "auth_admin_keep", "auth_admin_keep"),
    FORCE: ("auth_admin", "auth_admin", "auth_admin"),
}


def served_methods() -> set[tuple[str, str]]:
    """Every (interface, method) the daemon's introspection shows, on both kinds of object."""
    found = set()
    for xml in (registry_node([]), profile_node()):
        for interface in ET.fromstring(xml).findall("interface"):
            for method in interface.findall("method"):
                found.add((interface.get("name", ""), method.get("name", "")))
    return found


def test_every_introspected_method_has_an_action_and_nothing_else_does() -> None:
    assert served_methods() == set(METHOD_ACTIONS)


async def test_every_handled_method_has_an_action(daemon) -> None:
    """The dispatch tables are what runs: each key is in the table."""
    service = daemon.daemon.service
    assert isinstance(service, BusService)
    handled = set(service._registry_methods) | set(service._profile_methods)
    assert handled <= set(METHOD_ACTIONS)


def test_only_the_documented_methods_are_free() -> None:
    free = {key for key, action in METHOD_ACTIONS.items() if action is None}
    assert free == {
        (names.REGISTRY_INTERFACE, "SupportedTypes"),
        (names.INTROSPECTABLE_INTERFACE, "Introspect"),
        (names.PEER_INTERFACE, "Ping"),
        (names.PEER_INTERFACE, "GetMachineId"),
    }
    assert {a for a in METHOD_ACTIONS.values() if a} == set(ACTIONS)


def readme_section() -> str:
    readme = (POLICY.parents[1] / "README.md").read_text()
    return readme.split("\n## Access control\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_table_says_what_the_code_and_policy_do() -> None:
    rows = [r for r in readme_section().splitlines() if r.startswith("| ")]
    for (interface, member), action in METHOD_ACTIONS.items():
        short_interface = interface.rsplit(".", 1)[1]
        pattern = re.compile(rf"`(?:{short_interface}\.)?{member}`")
        found = [r for r in rows if pattern.search(r)]
        assert len(found) == 1, f"{member} should be in one row of the README's table"
        short = action.rsplit(".", 1)[1] if action else "none"
        assert found[0].startswith(f"| {short} |"), (member, found[0])
        if action:
            assert found[0].endswith(f"| {' / '.join(DEFAULTS[action])} |"), found[0]


def readme_rules_example() -> str:
    return readme_section().split("```js\n", 1)[1].split("```", 1)[0]


def policy_actions() -> dict[str, ET.Element]:
    root = ET.parse(POLICY).getroot()
    return {a.get("id", ""): a for a in root.findall("action")}


def test_policy_file_defines_exactly_the_actions_with_the_documented_defaults() -> None:
    actions = policy_actions()
    assert set(actions) == set(ACTIONS)
    for action_id, element in actions.items():
        defaults = element.find("defaults")
        assert defaults is not None
        got = tuple(defaults.findtext(k) for k in ("allow_any", "allow_inactive", "allow_active"))
        assert got == DEFAULTS[action_id], action_id
        assert element.findtext("description")
        assert element.findtext("message")


def test_policy_lets_the_service_user_ask_and_manage_implies_read() -> None:
    for action_id, element in policy_actions().items():
        notes = {a.get("key"): a.text for a in element.findall("annotate")}
        # the daemon runs as sipprofiled (sipprofiled.service): without this, polkit
        # answers its questions about other users' calls with an error
        assert notes["org.freedesktop.policykit.owner"] == "unix-user:sipprofiled", action_id
        implied = notes.get("org.freedesktop.policykit.imply")
        assert implied == (READ if action_id == MANAGE else None), action_id


def test_polkit_is_on_for_the_system_bus_and_opt_in_elsewhere() -> None:
    def uses(*argv: str) -> bool:
        return parse_args(list(argv))[0].uses_polkit

    assert uses() is True  # the system bus is the default
    assert uses("--system") is True
    assert uses("--session") is False
    assert uses("--address", "unix:path=/x") is False
    assert uses("--address", "unix:path=/x", "--polkit") is True
    assert Options(bus="address", address="unix:path=/x").uses_polkit is False
    with pytest.raises(SystemExit):
        parse_args(["--session", "--polkit"])


async def test_without_polkit_the_service_checks_nothing(daemon) -> None:
    assert daemon.daemon.service.authorizer is None


async def test_a_method_missing_from_the_table_is_refused(caplog) -> None:
    checker = PolkitAuthorizer(cast(MessageBus, None))  # refused before polkit is asked
    call = Message(path=names.REGISTRY_PATH, member="Frobnicate", sender=":1.7")
    with pytest.raises(AccessDenied):
        await checker.check(call, (names.REGISTRY_INTERFACE, "Frobnicate"))
    assert "no polkit action is assigned" in caplog.text


async def test_free_methods_do_not_ask_polkit() -> None:
    checker = PolkitAuthorizer(cast(MessageBus, None))  # asking would fail on None
    call = Message(path=names.REGISTRY_PATH, member="SupportedTypes", sender=":1.7")
    await checker.check(call, (names.REGISTRY_INTERFACE, "SupportedTypes"))
    assert authorization.ALLOW_USER_INTERACTION == 1
