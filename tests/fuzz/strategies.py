"""Hypothesis settings and input strategies shared by the ``test_fuzz_*.py`` modules.

Inputs are built from the seed corpus (real messages, challenges and documents from
the tests of ``tests/sip``) by structured mutations: values put where fields start,
header lines injected, runs repeated many times, bytes that parsers of lines, numbers
and text get wrong. Random bytes alone rarely get past a start line.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from .oracles_common import seeds

#: Examples per fuzz test. Sized so that ``pytest tests/fuzz`` stays within about
#: 20 s on a 2-core machine; ``SIPPROFILE_FUZZ_EXAMPLES=5000`` fuzzes for longer.
EXAMPLES = int(os.environ.get("SIPPROFILE_FUZZ_EXAMPLES", "300"))

#: The settings of every fuzz test: no deadline (a shared CI machine has slow
#: moments), random but with every crasher found so far kept as an ``@example``.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Text that parsers of lines, numbers and characters get wrong.
TRICKY_TEXT = [
    "\r\n",
    "\r",
    "\n",
    "\x00",
    "\t",
    " ",
    "\r\n ",
    "\r\n\r\n",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\u00a0",
    "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() says yes, int() says no
    "\u0661",  # ARABIC-INDIC DIGIT ONE: int() takes it, SIP's DIGIT does not
    "\uff19",  # FULLWIDTH DIGIT NINE
    "\u00e9",
    "\U0001f600",
    "9" * 11,
    "9" * 400,  # int() takes it, float() makes it inf, float(int) overflows
    "9" * 4301,  # more digits than int() converts
    "0" * 40 + "1",
    "-1",
    "+1",
    "1.5",
    "1e999",
    "inf",
    "nan",
    "0x10",
    ",",
    ";",
    "=",
    '"',
    "\\",
    '\\"',
    "<",
    ">",
    ":",
    "@",
    "%",
    "%00",
    "%ff",
    "[",
    "]",
    "[::1]",
    "[fe80::1%25eth0]",
    "?",
    "&",
    "*",
    "/",
]
TRICKY = [t.encode() for t in TRICKY_TEXT] + [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]

#: Header lines a peer could inject, with the line end in front.
INJECTED = [
    b"\r\nVia: SIP/2.0/UDP evil.example.com;branch=z9hG4bKevil",
    b"\r\nv: SIP/2.0/TCP [2001:db8::1]:5061;rport;received=10.0.0.1",
    b"\r\nContact: <sip:evil@example.com>;expires=4294967296",
    b"\r\nm: *",
    b"\r\nContent-Length: 99999",
    b"\r\nl: 0",
    b"\r\nl: 00000000000000000000001",
    b"\r\nCall-ID: second",
    b"\r\nCSeq: 2147483648 REGISTER",
    b"\r\nExpires: 4294967296",
    b"\r\nMin-Expires: 99999999999",
    b"\r\nRetry-After: 99999999999 (ever)",
    b"\r\nFlow-Timer: 0",
    b'\r\nWWW-Authenticate: Digest realm="r", nonce="n", algorithm=SHA-512-256, qop="auth"',
    b'\r\nProxy-Authenticate: Digest realm="p", nonce="n", stale=true',
    b"\r\nSecurity-Server: tls;q=1.000, digest;q=0.001",
    b"\r\nRequire: outbound, sec-agree",
    b"\r\nService-Route: <sip:a@b;lr>, <sip:c@d;lr>",
    b"\r\nP-Associated-URI: <tel:+1>, <sip:alice@example.com>",
    b"\r\n folded continuation",
    b"\r\nX-Empty:",
    b"\r\nBad Name: value",
    b"\r\n\r\n",
]

#: Where fields and values start: mutations land there more often than by chance.
_BOUNDARIES = frozenset(b':=;,<>" \n@/')


def mutate(draw: st.DrawFn, seed: bytes, pieces: list[bytes]) -> bytes:
    """``seed`` after one to five structured mutations, drawn with ``draw``."""
    out = bytearray(seed)
    for _ in range(draw(st.integers(1, 5), label="mutations")):
        if len(out) > 70_000:  # past every size limit already
            break
        starts = [i + 1 for i, b in enumerate(out) if b in _BOUNDARIES] or [0]
        at = draw(st.integers(0, len(out)) | st.sampled_from(starts), label="at")
        op = draw(st.sampled_from(["insert", "replace", "delete", "repeat", "byte"]))
        if op == "insert":
            out[at:at] = draw(st.sampled_from(pieces), label="piece")
        elif op == "replace":  # a value: up to the next boundary
            end = next((i for i in range(at, len(out)) if out[i] in _BOUNDARIES), len(out))
            out[at:end] = draw(st.sampled_from(pieces), label="value")
        elif op == "delete":
            end = draw(st.integers(at, min(len(out), at + 64)), label="end")
            del out[at:end]
        elif op == "repeat":  # a huge count of one field, line or character
            end = draw(st.integers(at, min(len(out), at + 80)), label="end")
            times = draw(st.sampled_from([2, 3, 33, 257, 5000]), label="times")
            out[at:end] = bytes(out[at:end]) * times
        else:
            if at < len(out):
                out[at] = draw(st.integers(0, 255), label="byte")
    return bytes(out)


def mutated(target: str, pieces: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed of ``target``'s corpus, mutated (see ``mutate``)."""
    corpus = seeds(target)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        return mutate(draw, draw(st.sampled_from(corpus), label="seed"), pieces)

    return build()


#: Text for one value: mostly printable, with the tricky pieces mixed in.
tricky_text = st.lists(
    st.sampled_from(TRICKY_TEXT)
    | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
    max_size=6,
).map("".join)
