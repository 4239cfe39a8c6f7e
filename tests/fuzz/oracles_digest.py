"""What the ``digest`` target checks: ``WWW-Authenticate``/``Proxy-Authenticate`` challenges.

``parse_challenge`` raises only ``DigestError``; what it reads writes back the same, is
ranked consistently by ``answerable`` and the choosers, and gets an answer that echoes
it. The SIP header checks read challenge values with ``check_challenge_text`` too.
Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import contextlib

from sipprofile.server.sip.digest import Credentials, authorization
from sipprofile.server.sip.digest_challenge import (
    Challenge,
    DigestError,
    answerable,
    choose_aka_challenge,
    choose_challenge,
    parse_challenge,
)
from sipprofile.server.sip.grammar import quote_string
from sipprofile.server.sip.headers import parse_auth_params

from .oracles_common import text_of


def challenge_text(challenge: Challenge) -> str:
    """``challenge`` written back as a ``WWW-Authenticate`` value (the test's own writer)."""
    parts = [
        f"realm={quote_string(challenge.realm)}",
        f"nonce={quote_string(challenge.nonce)}",
        f"algorithm={quote_string(challenge.algorithm)}",
    ]
    if challenge.qop:
        parts.append(f"qop={quote_string(','.join(challenge.qop))}")
    if challenge.opaque is not None:
        parts.append(f"opaque={quote_string(challenge.opaque)}")
    if challenge.stale:
        parts.append("stale=true")
    if challenge.userhash:
        parts.append("userhash=TRUE")
    if challenge.charset is not None:
        parts.append(f"charset={quote_string(challenge.charset)}")
    return "Digest " + ", ".join(parts)


def check_challenge_text(text: str, *, proxy: bool = False) -> None:
    """``parse_challenge`` raises only ``DigestError``; what it reads is consistent.

    A challenge written back reads the same; ``answerable`` and the choosers agree with
    each other; the answer to an answerable one (``authorization``) raises only
    ``DigestError`` and, read with ``parse_auth_params``, echoes realm, nonce and opaque.
    """
    try:
        challenge = parse_challenge(text, proxy=proxy)
    except DigestError:
        return
    assert challenge.scheme == "Digest" and challenge.proxy is proxy
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # no such text comes off the wire
        written = challenge_text(challenge)
        assert parse_challenge(written, proxy=proxy) == challenge, (text, written)
    algorithm = answerable(challenge)
    aka = answerable(challenge, aka=True)
    assert algorithm is None or aka is None, "one algorithm is answered one way"
    assert choose_challenge([challenge]) is (challenge if algorithm else None)
    assert choose_aka_challenge([challenge]) is (challenge if aka else None)
    if algorithm is None:
        return
    try:
        answer = authorization(
            challenge,
            Credentials("alice", "secret"),
            method="REGISTER",
            uri="sip:example.com",
            cnonce="cn",
        )
    except DigestError:
        return
    scheme, params = parse_auth_params(answer)
    assert scheme == "Digest"
    assert (params["realm"], params["nonce"]) == (challenge.realm, challenge.nonce)
    assert params.get("opaque") == challenge.opaque
    assert params["algorithm"] == algorithm.name


def check_challenges(data: bytes) -> None:
    """The ``digest`` target: one or more challenge values, one per line.

    Read as ``Proxy-Authenticate`` when the input has an odd length, else as
    ``WWW-Authenticate``. Every value is read on its own, and the whole text as one
    (folded) value, then the readable ones are chosen among as ``choose_challenge`` does.
    """
    text = text_of(data)
    if text is None:
        return
    proxy = len(data) % 2 == 1
    read: list[Challenge] = []
    for value in [text, *text.split("\n")] if "\n" in text else [text]:
        check_challenge_text(value, proxy=proxy)
        with contextlib.suppress(DigestError):
            read.append(parse_challenge(value, proxy=proxy))
    check_choice(read)


def check_choice(challenges: list[Challenge]) -> None:
    """``choose_challenge`` picks the strongest answerable one, the first on ties."""
    chosen = choose_challenge(challenges)
    ranked = []
    for index, challenge in enumerate(challenges):
        algorithm = answerable(challenge)
        if algorithm is not None:
            ranked.append((algorithm.strength, -index))
    if not ranked:
        assert chosen is None
        return
    _, best = max(ranked)
    assert chosen is challenges[-best]
