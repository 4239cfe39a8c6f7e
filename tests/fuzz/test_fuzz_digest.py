"""Fuzzing the digest challenge parser (issue 8): ``DigestError`` and nothing else.

Whatever parses must read the same when written back, be ranked consistently by
``answerable``/``choose_challenge``, and get an answer that echoes it
(``oracles_digest.py``). ``tests/sip/test_digest.py`` has arbitrary and near-miss
text; these are built from real challenges, parameter by parameter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.sip.digest_challenge import DigestError, parse_challenge

from .oracles_common import CORPUS, seeds
from .oracles_digest import check_challenge_text, check_challenges, check_choice
from .strategies import FUZZ, TRICKY, TRICKY_TEXT, mutated, tricky_text


@pytest.mark.parametrize("path", sorted((CORPUS / "digest").iterdir()), ids=lambda p: p.name)
def test_seed_challenges_pass_the_checks(path: Path) -> None:
    check_challenges(path.read_bytes())


@FUZZ
@given(mutated("digest", TRICKY))
def test_damaged_challenges(data: bytes) -> None:
    check_challenges(data)


NAMES = ["realm", "nonce", "algorithm", "qop", "opaque", "stale", "userhash", "charset"]
NAMES += ["REALM", "Nonce", "domain", "x", "", "realm*", "=", "Digest"]
KNOWN_VALUES = [
    "MD5", "md5-sess", "SHA-256", "SHA-256-SESS", "SHA-512-256", "AKAv1-MD5", "AKAv2-MD5",
    "auth", "auth-int", "auth,auth-int", " auth , , token ", "TRUE", "false", "UTF-8",
    "", "a b", "example.com",
]  # fmt: skip


@st.composite
def values(draw: st.DrawFn) -> str:
    """A parameter value: a token, a quoted string, or a broken one."""
    text = draw(st.sampled_from(KNOWN_VALUES) | tricky_text)
    form = draw(st.sampled_from(["quoted", "escaped", "bare", "open"]))
    if form == "quoted":
        return f'"{text}"'
    if form == "escaped":
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if form == "open":
        return '"' + text
    return text


@st.composite
def challenge_texts(draw: st.DrawFn) -> str:
    """``Digest`` and a list of parameters, some of them duplicated, empty or damaged."""
    scheme = draw(st.sampled_from(["Digest", "digest", "DIGEST", "Basic", "Digest,", ""]))
    params = draw(
        st.lists(
            st.tuples(
                st.sampled_from(NAMES),
                st.sampled_from(["=", " = ", "\t=", "", "=="]),
                values(),
            ),
            max_size=10,
        )
    )
    seps = draw(
        st.lists(st.sampled_from([", ", ",", " ", ",,", ",\r\n ", "\r\n", ";"]), min_size=11)
    )
    lead = draw(st.sampled_from(["", " ", "\t", "\r\n "]))
    body = "".join(f"{n}{eq}{v}{seps[i]}" for i, (n, eq, v) in enumerate(params))
    return f"{lead}{scheme} {body}"


@FUZZ
@given(challenge_texts(), st.booleans())
def test_built_challenges(text: str, proxy: bool) -> None:
    check_challenge_text(text, proxy=proxy)


@FUZZ
@given(
    st.lists(challenge_texts() | st.sampled_from([s.decode() for s in seeds("digest")]), max_size=6)
)
def test_the_strongest_answerable_challenge_is_chosen(texts: list[str]) -> None:
    read = []
    for text in texts:
        try:
            read.append(parse_challenge(text))
        except DigestError:
            continue
    check_choice(read)


@FUZZ
@given(st.sampled_from(seeds("digest")), st.sampled_from(TRICKY_TEXT), st.sampled_from(NAMES))
def test_a_parameter_with_a_tricky_value_added(seed: bytes, value: str, name: str) -> None:
    for form in (value, f'"{value}"'):
        check_challenge_text(f"{seed.decode()}, {name}={form}")
