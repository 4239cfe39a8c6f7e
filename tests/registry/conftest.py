"""A registry over a real SQLite file, without a bus: the domain tests' fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sipprofile.server.registry.service import ProfileRegistry
from sipprofile.server.store.database import Database
from sipprofile.server.types import load_types


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[ProfileRegistry]:
    db = await Database.open(tmp_path / "profiles.db")
    try:
        yield ProfileRegistry(db, load_types())
    finally:
        await db.close()
