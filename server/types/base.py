"""What a profile type is: a name, a class, defaults, and its own checks.

Symbian called these agent plug-ins; here the type decides defaults and extra
validation now, and (in later work) how the profile registers. Third-party types are
found through the ``sipprofile.types`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sipprofile.proto.schema import TYPE_CLASS_INTERNET


@dataclass(frozen=True, slots=True)
class ProfileType:
    """A profile type: ``name`` is what ``Type`` holds, ``type_class`` its class.

    ``defaults`` maps setting names to the values a new profile of this type gets
    for keys the creator leaves out. ``default_expires`` is the REGISTER expiry asked
    for (3600 s for IETF, 600000 s for IMS, as Symbian's agents used).
    """

    name: str
    type_class: str = TYPE_CLASS_INTERNET
    defaults: Mapping[str, Any] = field(default_factory=dict)
    default_expires: int = 3600

    def check(self, settings: Mapping[str, Any]) -> str | None:
        """Type-specific validation of complete settings; a message when invalid.

        The base type has no extra rules; subclasses may add some.
        """
        del settings
        return None
