"""Pytest fixtures for a real Kamailio registrar; import them into a conftest.py.

    from kamailio.fixtures import kamailio, kamailio_factory, kamailio_tls

Each fixture starts private instances (about 0.1 s each) in the test's ``tmp_path``
and stops them after the test. Without Kamailio they skip only for a non-root user,
who cannot install it; as root (CI, where ``.ci/setup`` installs it) a missing or
failing Kamailio is an error, so the integration tests can never silently vanish.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from kamailio.registrar import Registrar, kamailio_available, start_registrar


class RegistrarFactory(Protocol):
    """Signature of the ``kamailio_factory`` fixture (start_registrar's options)."""

    def __call__(
        self,
        *,
        tls: bool = False,
        min_expires: int = 60,
        auth_qop: bool = True,
        flow_timer: int = 0,
        extra_defines: Mapping[str, str | None] | None = None,
        users: Mapping[str, str] | None = None,
        realm: str | None = None,
    ) -> Registrar: ...


def require_kamailio() -> None:
    """Skip (non-root, nothing to install with) or fail (root) without Kamailio."""
    if kamailio_available():
        return
    if os.geteuid() != 0:
        pytest.skip("kamailio is not installed; `make test` as root installs it (.ci/setup)")
    pytest.fail("kamailio/kamcmd not found: .ci/setup should have installed them")


@pytest.fixture
def kamailio_factory(tmp_path: Path) -> Iterator[RegistrarFactory]:
    """Start registrars with any options; all of them are stopped after the test."""
    require_kamailio()
    started: list[Registrar] = []

    def factory(**options: Any) -> Registrar:
        run_dir = tmp_path / f"kamailio-{len(started)}"
        registrar = start_registrar(run_dir, **options)
        started.append(registrar)
        return registrar

    try:
        yield factory
    finally:
        for registrar in started:
            registrar.stop()


@pytest.fixture
def kamailio(kamailio_factory: Callable[..., Registrar]) -> Registrar:
    """A registrar on UDP+TCP with the default users alice, bob, carol."""
    return kamailio_factory()


@pytest.fixture
def kamailio_tls(kamailio_factory: Callable[..., Registrar]) -> Registrar:
    """Like ``kamailio``, plus TLS on ``tls_port`` with a fresh self-signed cert."""
    return kamailio_factory(tls=True)
