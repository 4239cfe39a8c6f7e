"""``sipprofilectl`` without a bus: options, password sources, output, failure handling."""

from __future__ import annotations

import argparse
import io
import json
import signal
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from dbus_fast import Variant

from sipprofile.client import cli, cli_settings
from sipprofile.client.cli_format import (
    event_line,
    format_table,
    hold_line,
    list_row,
    show_lines,
)
from sipprofile.client.cli_hold import FAILURE_GRACE, Line, Lost, Outcome, Snapshot, Stop, Tracker
from sipprofile.client.convert import settings_to_variants
from sipprofile.client.events import ProfileErrorOccurred, ProfileEventOccurred
from sipprofile.proto import names
from sipprofile.proto.schema import PROPERTIES, SETTINGS

from .test_convert import FULL_PROPS, make_profile

# -- CLI parsing ----------------------------------------------------------------------


def all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(all_parsers(sub))
    return found


def test_no_option_takes_a_password_value() -> None:
    for parser in all_parsers(cli.build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if ("password" in option or "secret" in option) and action.nargs != 0:
                    assert option.endswith("-password-from"), option  # flags take no value
                    assert "password" not in action.dest.removesuffix("password_from")


AKA_SECRET_OPTIONS = ("--aka-k-from", "--aka-op-from", "--aka-opc-from")


def test_no_option_takes_an_aka_key_value() -> None:
    """K, OP and OPc come from a source, like passwords; only AMF and SQN (no secrets)
    are taken from argv."""
    found = set()
    for parser in all_parsers(cli.build_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--aka-"):
                    assert option in (*AKA_SECRET_OPTIONS, "--aka-amf", "--aka-sqn"), option
                    found.add(option)
    assert found == {*AKA_SECRET_OPTIONS, "--aka-amf", "--aka-sqn"}


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "--aor", "sip:a@b", "--registrar-password", "secret"],
        ["create", "--aor", "sip:a@b", "--password", "secret"],
        ["show"],
        ["show", "0"],
        ["create", "--extension-bool", "k=maybe"],
        ["create", "--extension-int", "k=x"],
        ["create", "--contact-param", "=x"],
        ["create", "--aor", "sip:a@b", "--aka-k", "00112233445566778899aabbccddeeff"],
        ["create", "--aor", "sip:a@b", "--aka-opc", "00112233445566778899aabbccddeeff"],
        ["create", "--aor", "sip:a@b", "--aka-op-from", "-", "--aka-opc-from", "-"],
        ["create", "--aor", "sip:a@b", "--aka-sqn", "-1"],
        ["create", "--aor", "sip:a@b", "--aka-sqn", "ten"],
        ["create", "--aor", "sip:a@b", "--clear-aka"],  # nothing to clear at creation
        ["update", "3"],  # nothing to update
        ["update", "3", "--type", "ims"],  # Type is fixed at creation
        ["--session", "--system", "list"],
        ["enable"],
        ["enable", "1", "2"],  # one profile per hold
        ["enable", "x"],
        ["enable", "1", "--timeout", "0"],
        ["enable", "1", "--timeout", "-3"],
        ["enable", "1", "--timeout", "soon"],
        ["enable", "1", "--timeout", "nan"],
        ["enable", "1", "--wait", "--timeout", "5"],  # --wait holds until interrupted
        ["disable"],
        ["refresh", "0"],
        ["force-disable", "1", "2"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def parse(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(argv)


def test_enable_options() -> None:
    args = parse("enable", "3")
    assert (args.command, args.id, args.wait, args.timeout) == ("enable", 3, False, 30.0)
    assert parse("enable", "--wait", "3").wait is True
    assert parse("--json", "enable", "3", "--timeout", "2.5").timeout == 2.5
    for command in ("disable", "refresh", "force-disable"):
        args = parse(command, "12", "--session")
        assert (args.command, args.id, args.bus) == (command, 12, "session")


def test_create_options_become_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # every "-" source reads the next line: registrar, proxy, then K and OP/OPc
    monkeypatch.setattr(
        "sys.stdin", io.StringIO("pw-registrar\npw-proxy\n" + "AB" * 16 + " \n" + "cd" * 16 + "\n")
    )
    args = parse(
        "create", "--type", "IETF", "--provider-name", "P", "--aor", "sip:a@b",
        "--access-point", "wlan0", "--registrar-uri", "sip:r", "--registrar-username", "u",
        "--registrar-realm", "R", "--registrar-password-from", "-", "--proxy-uri", "sip:p",
        "--proxy-password-from", "-", "--sigcomp", "--no-security-negotiation",
        "--auto-registration", "--default", "--private-identity", "a@b",
        "--contact-param", "ob", "--contact-param", "reg-id=1", "--header", "X-A: 1",
        "--extension", "s=x", "--extension-bool", "b=true", "--extension-int", "i=-5",
        "--aka-k-from", "-", "--aka-opc-from", "-", "--aka-amf", "8001", "--aka-sqn", "42",
    )  # fmt: skip
    settings = cli_settings.settings_from_args(args)
    assert settings == {
        "Type": "IETF",
        "ProviderName": "P",
        "Aor": "sip:a@b",
        "AccessPoint": "wlan0",
        "Registrar": {"Uri": "sip:r", "Username": "u", "Realm": "R", "Password": "pw-registrar"},
        "OutboundProxy": {"Uri": "sip:p", "Password": "pw-proxy"},
        "SigComp": True,
        "SecurityNegotiation": False,
        "AutoRegistration": True,
        "Default": True,
        "PrivateIdentity": "a@b",
        "Aka": {"K": "AB" * 16, "OPc": "cd" * 16, "AMF": "8001", "SQN": 42},
        "ContactParams": {"ob": "", "reg-id": "1"},
        "Headers": ["X-A: 1"],
        "Extensions": {"s": "x", "b": True, "i": -5},
    }
    assert set(settings) == set(SETTINGS)
    assert settings_to_variants(settings)["Extensions"].value["i"] == Variant("x", -5)
    assert settings_to_variants(settings)["Aka"].value["SQN"] == Variant("t", 42)


def test_only_given_options_are_sent() -> None:
    args = parse("update", "4", "--no-sigcomp", "--registrar-realm", "R")
    assert cli_settings.settings_from_args(args) == {"SigComp": False, "Registrar": {"Realm": "R"}}


def test_aka_options_of_update(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "op"
    key.write_text("00" * 16 + "\n")
    args = parse("update", "4", "--aka-op-from", str(key))
    assert cli_settings.settings_from_args(args) == {"Aka": {"OP": "00" * 16}}
    args = parse("update", "4", "--aka-amf", "0000")
    assert cli_settings.settings_from_args(args) == {"Aka": {"AMF": "0000"}}
    assert cli_settings.settings_from_args(parse("update", "4", "--clear-aka")) == {
        "Aka": {"K": ""}
    }
    args = parse("update", "4", "--clear-aka", "--aka-sqn", "3")
    with pytest.raises(cli_settings.CliError) as info:
        cli_settings.settings_from_args(args)
    assert info.value.status == 2
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(cli_settings.CliError, match="no AKA K on standard input"):
        cli_settings.settings_from_args(parse("update", "4", "--aka-k-from", "-"))


def test_password_from_file_and_prompt(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("first\r\nsecond\n")
    assert cli_settings.read_password(str(secret), "registrar") == "first"
    with pytest.raises(cli_settings.CliError):
        cli_settings.read_password(str(tmp_path / "missing"), "registrar")
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: True))
    with pytest.raises(cli_settings.CliError, match="do not match"):
        cli_settings.read_password("prompt", "registrar")


def test_update_adds_to_collections_unless_cleared() -> None:
    profile = SimpleNamespace(
        contact_params={"ob": ""},
        headers=["X-A: 1"],
        extension_variants={"n": Variant("u", 1)},
    )
    args = parse(
        "update", "1", "--header", "X-B: 2", "--extension", "s=x", "--clear-contact-params"
    )
    settings = cli_settings.settings_from_args(args)
    cli_settings.merge_collections(settings, args, profile)  # type: ignore[arg-type]
    assert settings["Headers"] == ["X-A: 1", "X-B: 2"]
    assert settings["Extensions"] == {"n": Variant("u", 1), "s": "x"}
    assert settings["ContactParams"] == {}


# -- output formatting ----------------------------------------------------------------


def test_table_and_rows() -> None:
    data = make_profile(FULL_PROPS).as_dict()
    assert list_row(data) == ["7", "*", "IETF", "registered", "sip:alice@example.com", "Example"]
    table = format_table(("A", "BB"), [["xxx", "y"]])
    assert table.splitlines() == ["A    BB", "xxx  y"]


def test_show_lines() -> None:
    lines = show_lines(make_profile(FULL_PROPS).as_dict())
    assert "Registrar.HasPassword: true" in lines
    assert "SigComp: true" in lines
    assert "Extensions.l: a, b" in lines
    assert "LastError:" in lines
    assert "Flow: udp 192.0.2.10:5062 -> 198.51.100.1:5060" in lines
    assert not any("Password:" in line and "HasPassword" not in line for line in lines)
    assert "Aka: keys set" in lines
    assert not any(line.startswith("Aka.") for line in lines)
    without = show_lines(make_profile(FULL_PROPS | {"Aka": Variant("a{sv}", {})}).as_dict())
    assert "Aka: none" in without
    for name in PROPERTIES:
        assert any(line.startswith(name) for line in lines), name


def test_show_lines_last_error() -> None:
    props = FULL_PROPS | {
        "LastError": Variant("(ss)", [names.Error.AUTHENTICATION_FAILED, "the registrar did not"])
    }
    lines = show_lines(make_profile(props).as_dict())
    assert f"LastError: {names.Error.AUTHENTICATION_FAILED}: the registrar did not" in lines


def test_hold_lines() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    stamp = "2025-01-02T03:04:05.000+00:00"
    registered = {"expires": 3600, "contact": "sip:x@192.0.2.1:5060"}
    assert hold_line(when, 3, state="registered", details=registered, as_json=False) == (
        f"{stamp} profile 3 registered (expires 3600 s, contact sip:x@192.0.2.1:5060)"
    )
    failed = {"error": names.Error.TIMEOUT, "message": "no\nanswer"}
    assert hold_line(when, 3, state="failed", details=failed, as_json=False) == (
        f"{stamp} profile 3 failed: {names.Error.TIMEOUT}: no answer"
    )
    assert hold_line(when, 3, event="enabled", details={"holders": 2}, as_json=False) == (
        f"{stamp} profile 3 enabled (holders 2)"
    )
    assert hold_line(when, 3, event="forcibly-disabled", as_json=False).endswith(
        "profile 3 forcibly disabled"
    )
    assert json.loads(hold_line(when, 3, state="failed", details=failed, as_json=True)) == {
        "time": stamp, "id": 3, "state": "failed", **failed,
    }  # fmt: skip
    assert json.loads(hold_line(when, 3, event="released", as_json=True)) == {
        "time": stamp, "id": 3, "event": "released",
    }  # fmt: skip


def test_event_lines() -> None:
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    text = event_line(ProfileEventOccurred(3, "created"), when, as_json=False)
    assert text == "2025-01-02T03:04:05.000+00:00 profile 3 created"
    error = ProfileErrorOccurred(3, names.Error.TIMEOUT, "no answer")
    assert json.loads(event_line(error, when, as_json=True)) == {
        "time": "2025-01-02T03:04:05.000+00:00",
        "signal": "ProfileError",
        "id": 3,
        "error": names.Error.TIMEOUT,
        "message": "no answer",
    }


# -- CLI failure handling -------------------------------------------------------------


def test_unreachable_bus_is_one_line_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--address", "unix:path=/nonexistent/bus.sock", "list"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("sipprofilectl: cannot connect to the bus at ")
    assert captured.err.count("\n") == 1


def test_interrupt_is_status_130(monkeypatch: pytest.MonkeyPatch) -> None:
    async def interrupted(*_: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run", interrupted)
    assert cli.main(["list"]) == 130


def test_unexpected_exception_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def broken(*_: object) -> int:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "run", broken)
    assert cli.main(["list"]) == 1
    assert capsys.readouterr().err == (
        "sipprofilectl: unexpected error: RuntimeError: boom second line\n"
    )


# -- enable: what is printed and when it ends, for signals in the daemon's order --------

AUTH = names.Error.AUTHENTICATION_FAILED
BAD = "the registrar did not accept the credentials"


def run_tracker(tracker: Tracker, *items: Any, now: float = 0.0) -> tuple[list[Line], Any]:
    lines: list[Line] = []
    outcome = None
    for item in items:
        more, outcome = tracker.feed(item, now)
        lines.extend(more)
        if outcome is not None:
            break  # as the command does: it stops at the first outcome
    return lines, outcome


def test_tracker_registers_once_details_are_in() -> None:
    tracker = Tracker(3, wait=False, timeout=30)
    lines, outcome = run_tracker(
        tracker,
        Snapshot("unregistered"),  # the state before Enable: not worth a line
        Snapshot("registering"),
        Snapshot("registered"),  # Expires and RegisteredContact come next
    )
    assert lines == [Line(state="registering")]
    assert outcome is None
    lines, outcome = run_tracker(
        tracker,
        Snapshot("registered", 3600, "sip:c@h"),
        ProfileEventOccurred(3, "registered"),
    )
    assert lines == [Line(state="registered", details={"expires": 3600, "contact": "sip:c@h"})]
    assert outcome == Outcome(0)


def test_tracker_reports_a_failure_with_its_profile_error() -> None:
    tracker = Tracker(3, wait=False, timeout=30)
    lines, outcome = run_tracker(
        tracker,
        Snapshot("registering"),
        Snapshot("failed"),
        Snapshot("failed", last_error=(AUTH, BAD)),
    )
    assert lines == [Line(state="registering")]
    assert outcome is None
    assert tracker.grace_due == FAILURE_GRACE
    lines, outcome = run_tracker(tracker, ProfileErrorOccurred(3, AUTH, BAD))
    assert lines == [Line(state="failed", details={"error": AUTH, "message": BAD})]
    assert outcome == Outcome(1, f"profile 3 failed to register: {AUTH}: {BAD}")
    assert tracker.grace_due is None


def test_tracker_keeps_waiting_through_retries() -> None:
    tracker = Tracker(3, wait=False, timeout=7)
    timeout = ProfileErrorOccurred(3, names.Error.TIMEOUT, "no answer")
    lines, outcome = run_tracker(
        tracker, Snapshot("registering"), Snapshot("retrying"), timeout, Snapshot("registering")
    )
    assert [line.state for line in lines] == ["registering", "retrying", "registering"]
    assert outcome is None
    assert tracker.timed_out() == Outcome(
        1,
        "profile 3 did not register within 7 s: it is still registering "
        f"(last error: {names.Error.TIMEOUT}: no answer)",
    )


def test_tracker_already_failed_reports_last_error_after_the_grace() -> None:
    tracker = Tracker(3, wait=False, timeout=30)
    lines, outcome = run_tracker(tracker, Snapshot("failed", last_error=(AUTH, BAD)), now=10.0)
    assert (lines, outcome) == ([], None)
    assert tracker.tick(10.0 + FAILURE_GRACE / 2) == ([], None)
    lines, outcome = tracker.tick(10.0 + FAILURE_GRACE)
    assert lines == [Line(state="failed", details={"error": AUTH, "message": BAD})]
    assert outcome == Outcome(
        1,
        f"profile 3 failed to register: {AUTH}: {BAD}"
        " (an earlier attempt; the daemon made no new one)",
    )


def test_tracker_already_registered_settles_at_once() -> None:
    tracker = Tracker(3, wait=False, timeout=30)
    lines, outcome = run_tracker(tracker, Snapshot("registered", 600, "sip:c@h"))
    assert len(lines) == 1
    assert outcome == Outcome(0)


def test_tracker_wait_reports_changes_until_stopped() -> None:
    tracker = Tracker(3, wait=True, timeout=30)
    lines, outcome = run_tracker(
        tracker,
        Snapshot("registering"),
        Snapshot("registered", 3600, "sip:c@h"),
        Snapshot("registered", 3600, "sip:c@h"),  # e.g. Holders changed: no line
        Snapshot("registered", 1800, "sip:c@h"),
    )
    assert [line.details.get("expires") for line in lines] == [None, 3600, 1800]
    assert outcome is None
    assert run_tracker(tracker, Stop(signal.SIGTERM))[1] == Outcome(0)
    assert not tracker.hold_lost


def test_tracker_interrupted_or_lost() -> None:
    tracker = Tracker(3, wait=False, timeout=30)
    _, outcome = run_tracker(tracker, Snapshot("registering"), Stop(signal.SIGINT))
    assert outcome == Outcome(130, "interrupted while profile 3 was registering")
    assert not tracker.hold_lost
    for item, message in (
        (ProfileEventOccurred(3, "forcibly-disabled"), "profile 3 was forcibly disabled"),
        (Lost("sipprofiled left the bus"), "sipprofiled left the bus; the hold on profile 3"),
    ):
        tracker = Tracker(3, wait=True, timeout=30)
        _, outcome = run_tracker(tracker, item)
        assert outcome is not None and outcome.status == 1
        assert outcome.message is not None and outcome.message.startswith(message)
        assert tracker.hold_lost


def test_cli_error_status_is_the_exit_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def interrupted(*_: object) -> int:
        raise cli_settings.CliError("interrupted while profile 1 was registering", status=130)

    monkeypatch.setattr(cli, "run", interrupted)
    assert cli.main(["enable", "1"]) == 130
    assert capsys.readouterr().err == (
        "sipprofilectl: interrupted while profile 1 was registering\n"
    )


def test_tracker_shows_waiting_for_the_network_with_its_reason_and_keeps_holding() -> None:
    unavailable = names.Error.NETWORK_UNAVAILABLE
    why = "interface wlan0 is down or has no address"
    tracker = Tracker(3, wait=True, timeout=30)
    lines, outcome = run_tracker(
        tracker,
        Snapshot("registered", 3600, "sip:c@h"),
        Snapshot("waiting-for-network", last_error=(unavailable, why)),
        ProfileErrorOccurred(3, unavailable, why),
    )
    assert lines[-1] == Line(
        state="waiting-for-network", details={"error": unavailable, "message": why}
    )
    assert outcome is None  # not a failure: the hold goes on until the network is back
    lines, outcome = run_tracker(tracker, Snapshot("registered", 3600, "sip:c@h"))
    assert lines == [Line(state="registered", details={"expires": 3600, "contact": "sip:c@h"})]
