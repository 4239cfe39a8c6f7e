"""Fuzzing the SIP parser: datagrams, stream framing and header values (issue 8).

``parse_message`` and ``StreamFramer`` may raise ``SipParseError`` and nothing else;
the header parsers their values are read with raise ``SipParseError`` (sec-agree lists
``SecAgreeError``, challenges ``DigestError``). What parses must write back and parse
the same: see ``oracles_sip.py``. ``tests/sip/test_parser.py`` has the
generated-message properties; these start from real messages (RFC 4475 among them)
and damage them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .oracles_common import CORPUS, seeds
from .oracles_sip import (
    check_header_value,
    check_headers,
    check_message,
    check_stream,
    check_stream_chunks,
)
from .strategies import FUZZ, INJECTED, TRICKY, TRICKY_TEXT, mutated, tricky_text

MESSAGE_PIECES = TRICKY + INJECTED


def corpus(target: str) -> list[Path]:
    return sorted((CORPUS / target).iterdir())


@pytest.mark.parametrize("path", corpus("message"), ids=lambda p: p.name)
def test_seed_messages_pass_the_checks(path: Path) -> None:
    check_message(path.read_bytes())


@pytest.mark.parametrize("path", corpus("stream"), ids=lambda p: p.name)
def test_seed_streams_pass_the_checks(path: Path) -> None:
    check_stream(path.read_bytes())


@pytest.mark.parametrize("path", corpus("headers"), ids=lambda p: p.name)
def test_seed_header_values_pass_the_checks(path: Path) -> None:
    check_headers(path.read_bytes())


@FUZZ
@given(mutated("message", MESSAGE_PIECES))
def test_damaged_datagrams(data: bytes) -> None:
    check_message(data)


NAMES = [
    "Via", "v", "VIA", "Contact", "m", "From", "f", "To", "t", "Call-ID", "i", "CSeq",
    "Content-Length", "l", "Route", "Record-Route", "Path", "Service-Route",
    "P-Associated-URI", "WWW-Authenticate", "Proxy-Authenticate", "Authorization",
    "Security-Server", "Security-Verify", "Expires", "X-Unknown", "x-UNKNOWN",
]  # fmt: skip


@FUZZ
@given(
    st.sampled_from(seeds("message")),
    st.sampled_from(NAMES),
    st.sampled_from(["", " ", "\t", " \t "]),
    tricky_text,
    st.sampled_from([1, 2, 33, 300]),
)
def test_injected_header_lines(seed: bytes, name: str, space: str, value: str, count: int) -> None:
    """A header line (maybe many) of any known name and a tricky value, after the start line."""
    start, _, rest = seed.partition(b"\r\n")
    line = f"{name}{space}:{space}{value}\r\n".encode()
    check_message(start + b"\r\n" + line * count + rest)


STREAM_ITEMS = st.sampled_from(seeds("message")) | mutated("message", MESSAGE_PIECES)


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"\r\n\r\n\r\n"]), STREAM_ITEMS),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(0, 20_000), max_size=12),
)
def test_streams_frame_the_same_however_they_are_cut(
    items: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(ping + message for ping, message in items)
    check_stream_chunks(stream, cuts)


#: Pieces of real header values, to recombine: the grammar's own words and separators.
_FRAGMENTS = sorted(
    {
        piece
        for value in seeds("headers")
        for piece in value.decode().replace(";", " ; ").replace(",", " , ").split(" ")
        if piece
    }
)


@FUZZ
@given(mutated("headers", TRICKY))
def test_damaged_header_values(data: bytes) -> None:
    check_headers(data)


@FUZZ
@given(
    st.lists(
        st.sampled_from(_FRAGMENTS) | st.sampled_from(TRICKY_TEXT),
        max_size=10,
    ).map("".join)
)
def test_recombined_header_values(value: str) -> None:
    check_header_value(value)
