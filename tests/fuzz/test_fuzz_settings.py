"""Fuzzing the D-Bus settings validation (issue 8): ``InvalidArgument`` or ``ReadOnly``.

``validate_changes`` gets what ``bus.values.unwrap`` makes of a ``CreateProfile`` or
``Update`` argument: ``(signature, value)`` pairs of any D-Bus type. Settings dicts
that look right (keys and types of ``proto/schema.py``, values near the edge of what
is valid) and garbage alike may raise only those two domain errors, which the bus
layer maps to D-Bus errors; anything else would be an internal error. Secrets never
appear in a message or in the readable settings
(``oracles_settings.check_settings_raw``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.proto.schema import (
    AKA_WRITABLE_KEYS,
    EXTENSION_SIGNATURES,
    SERVER_WRITABLE_KEYS,
    SETTINGS,
    STATUS,
)
from sipprofile.server.registry.model import Typed

from .oracles_common import CORPUS
from .oracles_settings import INTEGER_RANGES, check_settings, check_settings_raw
from .strategies import FUZZ, TRICKY_TEXT


@pytest.mark.parametrize("path", sorted((CORPUS / "settings").iterdir()), ids=lambda p: p.name)
def test_seed_settings_pass_the_checks(path: Path) -> None:
    check_settings(path.read_bytes())


def bus(text: str) -> str:
    """What a D-Bus string can hold: no NUL (and, from ``st.text``, no lone surrogate)."""
    return text.replace("\x00", "")


texts = (
    st.text(st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(TRICKY_TEXT)
    | st.lists(st.sampled_from(TRICKY_TEXT), max_size=4).map("".join)
).map(bus)


def integers(signature: str) -> st.SearchStrategy[Typed]:
    low, high = INTEGER_RANGES[signature]
    edges = st.sampled_from([low, high, 0, 1, 2**48, 2**48 - 1] if high > 2**48 else [low, high])
    return st.tuples(st.just(signature), st.integers(low, high) | edges.filter(lambda v: v <= high))


def _any_typed(depth: int) -> st.SearchStrategy[Typed]:
    leaves = st.one_of(
        st.tuples(st.sampled_from(["s", "o", "g"]), texts),
        st.tuples(st.just("b"), st.booleans()),
        *[integers(signature) for signature in INTEGER_RANGES],
        st.tuples(st.just("d"), st.floats(allow_nan=True)),
        st.tuples(st.just("as"), st.lists(texts, max_size=4)),
        st.tuples(st.just("ay"), st.binary(max_size=8)),
        st.tuples(st.just("a{ss}"), st.dictionaries(texts, texts, max_size=4)),
        st.tuples(st.just("(ss)"), st.lists(texts, min_size=2, max_size=2)),
    )
    if depth == 0:
        return leaves
    return leaves | st.tuples(
        st.just("a{sv}"), st.dictionaries(texts, _any_typed(depth - 1), max_size=4)
    )


#: A value of any D-Bus type the bus can deliver in a variant: a leaf, or two levels
#: of ``a{sv}`` at most.
ANY_LEAF = _any_typed(0)
ANY_TYPED = _any_typed(2)


def mostly(values: list[str]) -> st.SearchStrategy[str]:
    """One of ``values`` three times in four, else any text."""
    valid = st.sampled_from(values)
    return st.one_of(valid, valid, valid, texts)


def sometimes(usual: st.SearchStrategy[Any], edge: Any) -> st.SearchStrategy[Any]:
    """Mostly ``usual``, now and then the value ``edge`` (one over a limit, say)."""
    return st.one_of(*[usual] * 7, st.just(edge))


URIS = [
    "sip:alice@example.com", "sips:alice@example.com;transport=tcp", "sip:example.com:0",
    "sip:example.com;transport=udp", "sips:example.com;transport=udp", "sip:example.com;transport",
    "sip:example.com;transport=sctp", "sip:a:pw-Zq7-secret@example.com", "sip:[::1]:5060",
    "sip:example.com?subject=x", "tel:+15551234", "sip:", "<sip:a@b>", "sip:%00@x", "sip:a@b@c",
    "SIP:Alice@EXAMPLE.com", "sip:user@host;lr;lr", "sip:u@h" + "o" * 1100,
]  # fmt: skip
HEX = "0123456789abcdefABCDEF"


ACCESS_POINTS = [
    "", " ", "wlan0", "wlan0, wwan0", "a,a", ",", "x" * 16, "..", "eth0:1", "\u00e9" * 8,
    "a,b,c,d,e,f,g,h,i",
]  # fmt: skip


def hex_text(digits: int) -> st.SearchStrategy[str]:
    right = st.text(st.sampled_from(HEX), min_size=digits, max_size=digits)
    wrong = st.text(st.sampled_from(HEX + "xyz "), max_size=digits + 2)
    return right | wrong | st.just("")


def server(keys: dict[str, str]) -> st.SearchStrategy[Typed]:
    """A Registrar or OutboundProxy dictionary: writable keys, HasPassword, unknown ones."""
    value: dict[str, st.SearchStrategy[Any]] = {
        "Uri": mostly(URIS),
        "Username": mostly(["alice", "+15551234@ims.example.net", ""]),
        "Realm": mostly(["example.com", ""]),
        "Password": mostly(["Zq7-secret-pw", "p" * 300]),
    }
    items = st.one_of(
        *[st.tuples(st.just(k), st.tuples(st.just(keys[k]), value[k])) for k in keys],
        st.tuples(st.sampled_from(["HasPassword", "uri", "Port"]), ANY_LEAF),
        st.tuples(st.sampled_from(list(keys)), ANY_LEAF),  # a known key, any type
    )
    return st.tuples(st.just("a{sv}"), st.lists(items, max_size=5).map(dict))


def aka() -> st.SearchStrategy[Typed]:
    value: dict[str, st.SearchStrategy[Any]] = {
        "K": hex_text(32),
        "OP": hex_text(32),
        "OPc": hex_text(32),
        "AMF": hex_text(4),
        "SQN": st.integers(0, 2**64 - 1) | st.sampled_from([0, 2**48 - 1, 2**48]),
    }
    items = st.one_of(
        *[
            st.tuples(st.just(k), st.tuples(st.just(s), value[k]))
            for k, s in AKA_WRITABLE_KEYS.items()
        ],
        st.tuples(st.sampled_from(["HasKeys", "k", "Sqn"]), ANY_LEAF),
    )
    return st.tuples(st.just("a{sv}"), st.lists(items, max_size=5).map(dict))


GOOD: dict[str, st.SearchStrategy[Typed]] = {
    "Type": st.tuples(st.just("s"), mostly(["internet", "ims", "other", ""])),
    "ProviderName": st.tuples(st.just("s"), sometimes(mostly(["Example", ""]), "n" * 257)),
    "Aor": st.tuples(st.just("s"), mostly(URIS)),
    "AccessPoint": st.tuples(st.just("s"), mostly(ACCESS_POINTS)),
    "Registrar": server(SERVER_WRITABLE_KEYS),
    "OutboundProxy": server(SERVER_WRITABLE_KEYS),
    "SigComp": st.tuples(st.just("b"), st.booleans()),
    "SecurityNegotiation": st.tuples(st.just("b"), st.booleans()),
    "AutoRegistration": st.tuples(st.just("b"), st.booleans()),
    "Default": st.tuples(st.just("b"), st.booleans()),
    "PrivateIdentity": st.tuples(
        st.just("s"), mostly(["alice@ims.example.net", "@x", "x@", "a b@c", ""])
    ),
    "Aka": aka(),
    "ContactParams": st.tuples(
        st.just("a{ss}"),
        sometimes(
            st.dictionaries(
                mostly(["+sip.instance", "audio", "expires", "Reg-Id", "q", "bad name"]),
                mostly(['"<urn:uuid:0>"', "", "token", "[::1]", '"open', "a b"]),
                max_size=4,
            ),
            {f"p{i}": "v" for i in range(33)},  # one more than allowed
        ),
    ),
    "Headers": st.tuples(
        st.just("as"),
        sometimes(
            st.lists(
                mostly(["X-A: b", "Via: x", "v: x", "X-A:", "X-A: \t", "Bad Name: x", ":x"]),
                max_size=4,
            ),
            ["X-A: b"] * 33,
        ),
    ),
    "Extensions": st.tuples(
        st.just("a{sv}"),
        st.dictionaries(
            mostly(["TlsVerify", "Outbound", "with space", "", "k" * 129]),
            st.one_of(
                *[
                    st.tuples(st.just(sig), st.booleans() if sig == "b" else texts)
                    for sig in ("s", "b")
                ],
                st.tuples(st.just("as"), sometimes(st.lists(texts, max_size=3), ["x"] * 65)),
                st.tuples(st.just("s"), st.just("e" * 4097)),
                _any_typed(1),
            ),
            max_size=8,
        ),
    ),
}
assert set(GOOD) == set(SETTINGS)
assert all(sig in ("s", "b", "i", "u", "x", "t", "as") for sig in EXTENSION_SIGNATURES)

#: Keys no client may write: status properties, a wrong case, unknown, empty.
BAD_KEYS = [*STATUS, "aor", "Unknown", ""]


@st.composite
def settings_dicts(draw: st.DrawFn) -> dict[str, Typed]:
    """Settings of the schema with values mostly of their type; now and then a bad key."""
    items: list[tuple[str, Typed]] = []
    for key in draw(st.lists(st.sampled_from(list(SETTINGS)), max_size=8, unique=True)):
        right_type = draw(st.integers(0, 19), label="right type?") != 7  # 0 comes often
        items.append((key, draw(GOOD[key] if right_type else ANY_TYPED)))
    if draw(st.integers(0, 6), label="bad key?") == 3:
        at = draw(st.integers(0, len(items)), label="where")
        items.insert(at, (draw(st.sampled_from(BAD_KEYS)), draw(ANY_TYPED)))
    return dict(items)


@FUZZ
@given(settings_dicts())
def test_settings_raise_only_domain_errors(raw: dict[str, Typed]) -> None:
    check_settings_raw(raw)


@FUZZ
@given(st.dictionaries(texts, ANY_TYPED, max_size=6))
def test_garbage_raises_only_domain_errors(raw: dict[str, Typed]) -> None:
    check_settings_raw(raw)
