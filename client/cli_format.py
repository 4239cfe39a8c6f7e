"""How ``sipprofilectl`` prints things, kept apart from argument handling.

Pure functions of plain data (``Profile.as_dict()`` dictionaries, events), so the
output format can be unit-tested without a bus. Text output is for people and
``grep``: ``Name: value`` lines split on the first ``": "``; ``--json`` is for
programs and carries exactly what ``as_dict`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sipprofile.client.events import ProfileEventOccurred, RegistryEvent

__all__ = [
    "LIST_HEADERS",
    "event_line",
    "format_table",
    "hold_line",
    "list_row",
    "show_lines",
    "text_value",
    "to_json",
]

LIST_HEADERS = ("ID", "DEFAULT", "TYPE", "STATE", "AOR", "PROVIDER")


def to_json(value: object) -> str:
    """One JSON document; non-ASCII kept readable."""
    return json.dumps(value, ensure_ascii=False)


def text_value(value: object) -> str:
    """A scalar as shown in text output: booleans as ``true``/``false`` like JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(text_value(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={text_value(item)}" for key, item in value.items())
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, no trailing blanks."""
    all_rows = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(headers))]
    lines = []
    for row in all_rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def list_row(profile: Mapping[str, object]) -> list[str]:
    """One ``list`` row from ``Profile.as_dict()``: the default profile is marked ``*``."""
    return [
        str(profile.get("Id", "")),
        "*" if profile.get("Default") is True else "",
        str(profile.get("Type", "")),
        str(profile.get("State", "")),
        str(profile.get("Aor", "")),
        str(profile.get("ProviderName", "")),
    ]


def show_lines(profile: Mapping[str, object]) -> list[str]:
    """Every property as ``Name: value`` lines.

    Dictionaries get one line per key (``Registrar.Uri: ...``, and
    ``Registrar.HasPassword`` since the password itself is never readable); ``Aka`` is
    one line, ``keys set`` or ``none``, as the keys are never readable either;
    ``LastError`` reads ``name: message``, ``Flow`` ``transport local -> remote``;
    an empty dictionary or list prints the
    bare name so every property appears.
    """
    lines: list[str] = []
    for name, value in profile.items():
        if name in ("Registrar", "OutboundProxy") and isinstance(value, Mapping):
            lines.extend(
                f"{name}.{key}: {text_value(item)}"
                for key, item in value.items()
                if key != "Password"
            )
        elif name == "Aka":
            has_keys = isinstance(value, Mapping) and value.get("HasKeys") is True
            lines.append(f"{name}: {'keys set' if has_keys else 'none'}")
        elif name == "LastError" and isinstance(value, list | tuple):
            lines.append(f"{name}: {error_text(*value)}" if len(value) == 2 else f"{name}:")
        elif name == "Flow" and isinstance(value, list | tuple):
            lines.append(f"{name}: {flow_text(*value)}" if len(value) == 3 else f"{name}:")
        elif isinstance(value, Mapping) and value:
            lines.extend(f"{name}.{key}: {text_value(item)}" for key, item in value.items())
        else:
            lines.append(f"{name}: {text_value(value)}")
    return [line.rstrip() for line in lines]


def flow_text(transport: object, local: object, remote: object) -> str:
    """``Flow`` for people: ``udp 192.0.2.10:5062 -> 198.51.100.1:5060``, or ``""``."""
    return f"{transport} {local} -> {remote}" if transport else ""


def error_text(name: object, message: object) -> str:
    """``LastError`` or a ``ProfileError`` for people: ``name: message``, or ``""`` if none."""
    return ": ".join(" ".join(str(part).split()) for part in (name, message) if part)


def event_line(event: RegistryEvent, when: datetime, *, as_json: bool) -> str:
    """One ``monitor`` line: a timestamp and the signal's arguments."""
    stamp = when.isoformat(timespec="milliseconds")
    if isinstance(event, ProfileEventOccurred):
        if as_json:
            return to_json(
                {
                    "time": stamp,
                    "signal": "ProfileEvent",
                    "id": event.profile_id,
                    "event": event.event,
                }
            )
        return f"{stamp} profile {event.profile_id} {event.event}"
    if as_json:
        return to_json(
            {
                "time": stamp,
                "signal": "ProfileError",
                "id": event.profile_id,
                "error": event.error,
                "message": event.message,
            }
        )
    return f"{stamp} profile {event.profile_id} error {event.error}: {event.message}"


def hold_line(
    when: datetime,
    profile_id: int,
    *,
    state: str | None = None,
    event: str | None = None,
    details: Mapping[str, object] | None = None,
    as_json: bool,
) -> str:
    """One ``enable`` line: a state the profile reached, or an event of the hold.

    ``details`` are ``expires`` and ``contact`` (registered), ``error`` and
    ``message`` (failed, retrying) or ``holders`` (enabled). Text reads e.g.
    ``... profile 3 registered (expires 3600 s, contact sip:...)`` or
    ``... profile 3 failed: <error name>: <message>``.
    """
    stamp = when.isoformat(timespec="milliseconds")
    extra = dict(details or {})
    if as_json:
        head: dict[str, object] = {"time": stamp, "id": profile_id}
        head.update({"state": state} if state is not None else {"event": event})
        return to_json(head | extra)
    what = state if state is not None else str(event).replace("-", " ")
    if "expires" in extra or "contact" in extra:
        what += f" (expires {extra.get('expires', 0)} s, contact {extra.get('contact', '')})"
    elif "holders" in extra:
        what += f" (holders {extra['holders']})"
    reason = error_text(extra.get("error", ""), extra.get("message", ""))
    if reason:
        what += f": {reason}"
    return f"{stamp} profile {profile_id} {what}"
