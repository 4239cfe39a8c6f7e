"""What a profile type is: a name, a class, defaults, its own checks, how it registers.

Symbian called these agent plug-ins. Here a type decides the defaults of a new
profile, extra validation, and its registration behaviour (``RegistrationBehaviour``:
expiry, retries, the IMS extras); IETF and ims are two instances of the same class,
and third-party types are found through the ``sipprofile.types`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sipprofile.proto.schema import TYPE_CLASS_INTERNET


@dataclass(frozen=True, slots=True)
class RegistrationBehaviour:
    """How the profiles of a type register: the part of an agent that is policy.

    The engine reads it for every registration it starts, so a plug-in type can be an
    IETF-like type with other defaults or an IMS variant, without engine code of its own.
    """

    #: REGISTER expiry asked for (the ``RegisterExpires`` extension overrides it).
    default_expires: int = 3600
    #: Temporary failures (408, 480, 500, 503, 504, timeouts) retried before the
    #: profile fails; None: retried for ever with backoff (RFC 3261 practice).
    temporary_retries: int | None = None
    #: TS 24.229 §5.1.1.2.1: the first REGISTER carries an Authorization with the
    #: private identity and an empty response, before any challenge.
    initial_authorization: bool = False
    #: The digest user name is ``PrivateIdentity`` when set (IMS), else the
    #: registrar's user name, else the AOR's user part.
    private_identity_username: bool = False
    #: Option tags for ``Supported`` (``path`` for IMS; RFC 5626 adds its own).
    option_tags: tuple[str, ...] = ()
    #: After registering, subscribe to the RFC 3680 ``reg`` event package.
    reg_event: bool = False
    #: Honour ``SecurityNegotiation``: RFC 3329 Security-Client / 494 / Security-Verify.
    security_agreement: bool = False


@dataclass(frozen=True, slots=True)
class ProfileType:
    """A profile type: ``name`` is what ``Type`` holds, ``type_class`` its class.

    ``defaults`` maps setting names to the values a new profile of this type gets
    for keys the creator leaves out; ``behaviour`` is how its profiles register
    (3600 s for IETF, 600000 s and the IMS extras for ims, as Symbian's agents did).
    """

    name: str
    type_class: str = TYPE_CLASS_INTERNET
    defaults: Mapping[str, Any] = field(default_factory=dict)
    behaviour: RegistrationBehaviour = field(default_factory=RegistrationBehaviour)

    def check(self, settings: Mapping[str, Any]) -> str | None:
        """Type-specific validation of complete settings; a message when invalid.

        The base type has no extra rules; subclasses may add some.
        """
        del settings
        return None

    def registration_behaviour(self, settings: Mapping[str, Any]) -> RegistrationBehaviour:
        """How a profile with ``settings`` registers; the type's ``behaviour`` here.

        A plug-in may subclass and decide per profile (an extension switching a
        feature on, say).
        """
        del settings
        return self.behaviour
