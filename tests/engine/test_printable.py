"""Text from registrars is made safe before it reaches LastError, signals and logs."""

from __future__ import annotations

from sipprofile.server.engine.profile_config import printable


def test_control_characters_are_replaced() -> None:
    assert printable("403 No\x00pe\tat\x1b[31m all\x7f") == "403 No?pe?at?[31m all?"


def test_ordinary_text_is_kept() -> None:
    text = "the registrar answered 503 Service Unavailable — später, 稍后"
    assert printable(text) == text
