"""The hold bookkeeping on its own."""

from __future__ import annotations

import pytest

from sipprofile.server.errors import AlreadyEnabled, NotEnabled
from sipprofile.server.registry.holds import DEPARTED_MEMORY, HoldTable


def test_add_remove_and_counts() -> None:
    table = HoldTable()
    assert table.add(1, ":1.5") == 1
    assert table.add(1, ":1.6") == 2
    with pytest.raises(AlreadyEnabled):
        table.add(1, ":1.5")
    assert table.remove(1, ":1.5") == 1
    with pytest.raises(NotEnabled):
        table.remove(1, ":1.5")
    assert table.holds(1, ":1.6")
    assert not table.holds(1, ":1.5")


def test_drop_client_releases_everything_and_remembers_the_departure() -> None:
    table = HoldTable()
    table.add(1, ":1.5")
    table.add(2, ":1.5")
    table.add(2, ":1.6")
    assert table.drop_client(":1.5") == [(1, 0), (2, 1)]
    assert table.count(1) == 0
    assert table.departed(":1.5")
    assert not table.departed(":1.6")
    assert table.drop_client(":1.5") == []


def test_drop_profile_and_bounded_departed_memory() -> None:
    table = HoldTable()
    table.add(3, ":1.7")
    table.add(3, ":1.8")
    assert table.drop_profile(3) == [":1.7", ":1.8"]
    assert table.count(3) == 0
    for n in range(DEPARTED_MEMORY + 10):
        table.drop_client(f":2.{n}")
    assert not table.departed(":2.0")
    assert table.departed(f":2.{DEPARTED_MEMORY + 9}")
