"""A profile type plug-in as a third party would ship it (tests/test_type_plugins.py).

A SIP trunk: registered always, a short expiry, and an extra option tag. It uses the
same ``ProfileType``/``RegistrationBehaviour`` as the built-in IETF and ims types.
"""

from __future__ import annotations

from sipprofile.server.types import ProfileType, RegistrationBehaviour

TRUNK = ProfileType(
    name="test-trunk",
    defaults={"AutoRegistration": True},
    behaviour=RegistrationBehaviour(default_expires=120, option_tags=("timer",)),
)

#: What a careless plug-in might export: skipped with an error in the log.
NOT_A_TYPE = {"name": "dict-type"}
