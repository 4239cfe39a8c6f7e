"""Profile types: the built-ins plus plug-ins from the ``sipprofile.types`` group."""

from __future__ import annotations

import logging
from dataclasses import replace
from importlib.metadata import entry_points

from sipprofile.proto.schema import TYPE_CLASS_OTHER

from .base import ProfileType, RegistrationBehaviour
from .builtin import BUILTIN_TYPES, IETF, IMS

__all__ = ["IETF", "IMS", "ProfileType", "RegistrationBehaviour", "TypeTable", "load_types"]

_log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sipprofile.types"


class TypeTable:
    """The supported types by name, in the order ``SupportedTypes`` lists them."""

    def __init__(self, types: tuple[ProfileType, ...]) -> None:
        self._by_name = {t.name: t for t in types}

    def get(self, name: str) -> ProfileType | None:
        """The type called ``name`` (exact, case-sensitive, as Symbian did)."""
        return self._by_name.get(name)

    def names(self) -> list[str]:
        """Type names, for error messages that list what is supported."""
        return list(self._by_name)

    def supported(self) -> list[tuple[str, str]]:
        """``(class, name)`` pairs for ``SupportedTypes``."""
        return [(t.type_class, t.name) for t in self._by_name.values()]


def load_types(*, plugins: bool = True) -> TypeTable:
    """Built-in types, then each plug-in entry point that loads cleanly.

    A broken plug-in is logged and skipped rather than stopping the daemon: the
    profiles of the built-in types must stay available. A plug-in may not replace a
    built-in type, and its class is forced to "other".
    """
    types: list[ProfileType] = list(BUILTIN_TYPES)
    if plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = ep.load()
            except Exception:
                _log.exception("profile type plug-in %s failed to load; skipped", ep.name)
                continue
            if not isinstance(loaded, ProfileType):
                _log.error("plug-in %s is not a ProfileType; skipped", ep.name)
                continue
            if any(t.name == loaded.name for t in types):
                _log.error("plug-in %s reuses the type name %r; skipped", ep.name, loaded.name)
                continue
            types.append(replace(loaded, type_class=TYPE_CLASS_OTHER))
    return TypeTable(tuple(types))
