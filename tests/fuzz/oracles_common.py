"""The seed corpus and the decoding every fuzz target shares.

``seeds`` feeds the hypothesis strategies and the tests; ``text_of`` is how the SIP and
digest checks turn raw fuzz bytes into text. Here so that no ``oracles_*`` module imports
another just for these. Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def seeds(target: str) -> list[bytes]:
    """The seed corpus of ``target`` (``corpus/<target>/*``), in file-name order."""
    return [path.read_bytes() for path in sorted((CORPUS / target).iterdir()) if path.is_file()]


def text_of(data: bytes) -> str | None:
    """``data`` as the text a header value of a parsed message can be, or None.

    The message parser hands out only decoded UTF-8, so a value never holds a lone
    surrogate; bytes that do not decode stand for no value at all.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
