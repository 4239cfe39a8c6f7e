"""A profile type plug-in as a third party would ship it (tests/test_type_plugins.py).

A SIP trunk: registered always, a short expiry, and an extra option tag. It uses the
same ``ProfileType``/``RegistrationBehaviour`` as the built-in IETF and ims types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sipprofile.server.types import ProfileType, RegistrationBehaviour


@dataclass(frozen=True, slots=True)
class TrunkType(ProfileType):
    """A trunk needs its registrar: the type's own validation."""

    def check(self, settings: Mapping[str, Any]) -> str | None:
        if not settings["Registrar"].uri:
            return "a test-trunk profile needs Registrar.Uri"
        return None


TRUNK = TrunkType(
    name="test-trunk",
    defaults={"AutoRegistration": True},
    behaviour=RegistrationBehaviour(default_expires=120, option_tags=("timer",)),
)

#: What a careless plug-in might export: skipped with an error in the log.
NOT_A_TYPE = {"name": "dict-type"}
