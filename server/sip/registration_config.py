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


@dataclass(frozen=True, slots=True)
class RegistrationConfig:
    """Everything one REGISTER needs; the session builds it from profile and transport."""

    aor: str
    registrar: str
    contact: str
    call_id: str
    from_tag: str
    via_transport: str
    via_sent_by: str
    reliable: bool
    expires: int = 3600
    contact_params: tuple[tuple[str, str | None], ...] = ()
    route: tuple[str, ...] = ()
    extra_headers: tuple[str, ...] = ()
    user_agent: str = "sipprofiled"
    credentials: Credentials | None = None
    proxy_credentials: Credentials | None = None
    first_cseq: int = 1
    retry_base: float = BACKOFF_BASE
    #: RFC 5626: the stable ``urn:uuid:`` of this profile on this device, written as
    #: ``+sip.instance`` in the Contact ("" for none).
    instance_id: str = ""
    #: RFC 5626 outbound: ``reg-id=1`` in the Contact and ``Supported: outbound, path``.
    outbound: bool = False
    #: Option tags for ``Supported`` besides outbound's (IMS: ``path``).
    option_tags: tuple[str, ...] = ()
    #: Temporary failures retried before ``failed`` (None: for ever, with backoff).
    temporary_retries: int | None = None
    #: TS 24.229 §5.1.1.2.1: before any challenge, send an Authorization with the
    #: user name (the private identity), the realm and an empty nonce and response.
    initial_authorization: bool = False
    #: RFC 3329: offer Security-Client, agree on a mechanism, echo Security-Verify.
    security_agreement: bool = False
