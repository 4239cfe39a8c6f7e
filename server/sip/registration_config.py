"""What one registration is configured with: ``RegistrationConfig`` and its defaults.

Kept apart from the state machine (``registration.py``) so that the REGISTER writer
(``register_request.py``) can depend on the configuration without depending on the
machine that uses both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .digest import Credentials

#: Backoff after the n-th consecutive temporary failure: BASE * 2**n, capped.
BACKOFF_BASE: Final = 30.0
BACKOFF_CAP: Final = 1800.0


# ``__init__`` written out (``init=False``): mypyc (setup.py) compiles it, while the one
# ``@dataclass`` generates stays interpreted, about 10x slower to construct. ``Final``
# keeps the fields read-only for mypy, as ``frozen=True`` did; ``unsafe_hash`` keeps
# the hash a frozen class had. Defaults live in ``__init__``: a ``Final`` with a value
# in the class body would be a class constant.
@dataclass(slots=True, init=False, unsafe_hash=True)
class RegistrationConfig:
    """Everything one REGISTER needs; the session builds it from profile and transport."""

    aor: Final[str]
    registrar: Final[str]
    contact: Final[str]
    call_id: Final[str]
    from_tag: Final[str]
    via_transport: Final[str]
    via_sent_by: Final[str]
    reliable: Final[bool]
    expires: Final[int]
    contact_params: Final[tuple[tuple[str, str | None], ...]]
    route: Final[tuple[str, ...]]
    extra_headers: Final[tuple[str, ...]]
    user_agent: Final[str]
    credentials: Final[Credentials | None]
    proxy_credentials: Final[Credentials | None]
    first_cseq: Final[int]
    retry_base: Final[float]
    #: RFC 5626: the stable ``urn:uuid:`` of this profile on this device, written as
    #: ``+sip.instance`` in the Contact ("" for none).
    instance_id: Final[str]
    #: RFC 5626 outbound: ``reg-id=1`` in the Contact and ``Supported: outbound, path``.
    outbound: Final[bool]
    #: Option tags for ``Supported`` besides outbound's (IMS: ``path``).
    option_tags: Final[tuple[str, ...]]
    #: Temporary failures retried before ``failed`` (None: for ever, with backoff).
    temporary_retries: Final[int | None]
    #: TS 24.229 §5.1.1.2.1: before any challenge, send an Authorization with the
    #: user name (the private identity), the realm and an empty nonce and response.
    initial_authorization: Final[bool]
    #: RFC 3329: offer Security-Client, agree on a mechanism, echo Security-Verify.
    security_agreement: Final[bool]

    def __init__(
        self,
        aor: str,
        registrar: str,
        contact: str,
        call_id: str,
        from_tag: str,
        via_transport: str,
        via_sent_by: str,
        reliable: bool,
        expires: int = 3600,
        contact_params: tuple[tuple[str, str | None], ...] = (),
        route: tuple[str, ...] = (),
        extra_headers: tuple[str, ...] = (),
        user_agent: str = "sipprofiled",
        credentials: Credentials | None = None,
        proxy_credentials: Credentials | None = None,
        first_cseq: int = 1,
        retry_base: float = BACKOFF_BASE,
        instance_id: str = "",
        outbound: bool = False,
        option_tags: tuple[str, ...] = (),
        temporary_retries: int | None = None,
        initial_authorization: bool = False,
        security_agreement: bool = False,
    ) -> None:
        self.aor = aor
        self.registrar = registrar
        self.contact = contact
        self.call_id = call_id
        self.from_tag = from_tag
        self.via_transport = via_transport
        self.via_sent_by = via_sent_by
        self.reliable = reliable
        self.expires = expires
        self.contact_params = contact_params
        self.route = route
        self.extra_headers = extra_headers
        self.user_agent = user_agent
        self.credentials = credentials
        self.proxy_credentials = proxy_credentials
        self.first_cseq = first_cseq
        self.retry_base = retry_base
        self.instance_id = instance_id
        self.outbound = outbound
        self.option_tags = option_tags
        self.temporary_retries = temporary_retries
        self.initial_authorization = initial_authorization
        self.security_agreement = security_agreement
