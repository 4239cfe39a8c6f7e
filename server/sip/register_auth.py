"""The authorization lines of a REGISTER: digest answers, and IMS's first one.

Kept apart from the state machine: which lines a request carries depends on the
digest sessions (``digest.py``) and on the profile type's rules (an IMS registration
identifies its private identity before any challenge), not on the machine's state.
"""

from __future__ import annotations

from collections.abc import Iterator

from .digest import DigestSession, initial_authorization
from .registration_config import RegistrationConfig
from .uri import parse_uri


def authorization_lines(
    auth: DigestSession | None,
    proxy_auth: DigestSession | None,
    config: RegistrationConfig,
    request_uri: str,
) -> Iterator[tuple[str, str]]:
    """Authorization, then Proxy-Authorization lines; each session asked in turn.

    Before any challenge, an IMS registration sends TS 24.229's Authorization with an
    empty response (``config.initial_authorization``): it carries the private identity
    to the S-CSCF, which answers with the challenge for that identity.
    """
    answered = auth.authorize(method="REGISTER", uri=request_uri) if auth else []
    if not answered and config.initial_authorization and config.credentials is not None:
        creds = config.credentials
        realm = creds.realm or home_domain(config.aor)
        yield "Authorization", initial_authorization(creds.username, realm, request_uri)
    yield from answered
    if proxy_auth is not None:
        yield from proxy_auth.authorize(method="REGISTER", uri=request_uri)


def home_domain(aor: str) -> str:
    """The home network's domain name: the host of the public identity (TS 24.229)."""
    return parse_uri(aor).host
