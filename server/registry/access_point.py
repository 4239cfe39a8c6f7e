"""What an ``AccessPoint`` value means: '' or network interface names, in order.

A domain rule, so that ``CreateProfile`` and ``Update`` refuse a value the engine
could never use; the engine (``engine/access_point.py``) picks among the names.
"""

from __future__ import annotations

from typing import Final

#: Linux interface names: 1-15 bytes (IFNAMSIZ 16 with the NUL), not "." or "..",
#: no "/", ":" or whitespace (the kernel's dev_valid_name); "," separates them here.
MAX_NAME: Final = 15
#: Interfaces one profile may list (a phone has two or three; more is a mistake).
MAX_NAMES: Final = 8


class AccessPointError(ValueError):
    """An ``AccessPoint`` that names no valid list of interfaces."""


def interface_names(access_point: str) -> tuple[str, ...]:
    """The interface names of ``access_point``, in order; () for the default route.

    Raises ``AccessPointError`` naming what is wrong, so that ``CreateProfile`` and
    ``Update`` refuse a value the engine could never use.
    """
    if not access_point.strip():
        if access_point:
            raise AccessPointError("AccessPoint is blank; use '' for the default route")
        return ()
    names = tuple(part.strip() for part in access_point.split(","))
    if len(names) > MAX_NAMES:
        raise AccessPointError(f"AccessPoint lists {len(names)} interfaces; at most {MAX_NAMES}")
    for name in names:
        _check_name(name)
    if len(set(names)) != len(names):
        raise AccessPointError("AccessPoint names an interface twice")
    return names


def _check_name(name: str) -> None:
    if not name:
        raise AccessPointError("AccessPoint has an empty interface name (a stray ',')")
    if len(name.encode("utf-8")) > MAX_NAME:
        raise AccessPointError(f"interface name {name!r} is longer than {MAX_NAME} bytes")
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        raise AccessPointError(
            f"{name!r} is not a network interface name (no '/', ':' or spaces; not . or ..)"
        )
