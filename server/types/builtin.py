"""The two built-in profile types, IETF and 3GPP IMS, with Symbian's defaults."""

from __future__ import annotations

from sipprofile.proto.schema import TYPE_CLASS_IMS, TYPE_CLASS_INTERNET

from .base import ProfileType

IETF = ProfileType(
    name="IETF",
    type_class=TYPE_CLASS_INTERNET,
    defaults={"SigComp": False, "SecurityNegotiation": False},
    default_expires=3600,
)

#: The IMS agent turns security negotiation and compression on by default
#: (reference/symbian-sip-profile.md, "IMS agent").
IMS = ProfileType(
    name="ims",
    type_class=TYPE_CLASS_IMS,
    defaults={"SigComp": True, "SecurityNegotiation": True},
    default_expires=600000,
)

BUILTIN_TYPES = (IETF, IMS)
