"""The two built-in profile types, IETF and 3GPP IMS, with Symbian's defaults."""

from __future__ import annotations

from sipprofile.proto.schema import TYPE_CLASS_IMS, TYPE_CLASS_INTERNET

from .base import ProfileType, RegistrationBehaviour

IETF = ProfileType(
    name="IETF",
    type_class=TYPE_CLASS_INTERNET,
    defaults={"SigComp": False, "SecurityNegotiation": False},
    behaviour=RegistrationBehaviour(default_expires=3600),
)

#: The IMS agent turns security negotiation and compression on by default
#: (reference/symbian-sip-profile.md, "IMS agent") and registers as 3GPP TS 24.229
#: §5.1.1 asks: 600000 s, the private identity as the digest user name, an initial
#: Authorization with an empty response, ``Supported: path``, one retry of a
#: temporary failure, and the ``reg`` event package once registered.
IMS = ProfileType(
    name="ims",
    type_class=TYPE_CLASS_IMS,
    defaults={"SigComp": True, "SecurityNegotiation": True},
    behaviour=RegistrationBehaviour(
        default_expires=600000,
        temporary_retries=1,
        initial_authorization=True,
        private_identity_username=True,
        option_tags=("path",),
        reg_event=True,
        security_agreement=True,
    ),
)

BUILTIN_TYPES = (IETF, IMS)
