"""Fuzzing what a REGISTER's response is read with (issue 8): it never raises.

``register_response.py`` reads a registrar's answer leniently (what it cannot read
is skipped), and ``Registration.receive`` acts on it; a response, however malformed
its headers, must move the machine on and leave it waiting for something, at a
finite time (``oracles_registration.check_registration``). A ``ValueError``
escaping there would leave the registration with nothing in flight and nothing
scheduled.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from .oracles_common import CORPUS
from .oracles_registration import check_registration
from .strategies import FUZZ, INJECTED, TRICKY, mutated

RESPONSES = {path.name: path.read_bytes() for path in sorted((CORPUS / "registration").iterdir())}


@pytest.mark.parametrize("name", RESPONSES)
def test_seed_responses_pass_the_checks(name: str) -> None:
    check_registration(RESPONSES[name])


#: A 302 whose Contact is the wildcard: it became the next Request-URI, which the
#: REGISTER writer refused with a SipParseError out of ``receive`` (a crasher).
WILDCARD_REDIRECT = RESPONSES["302-redirect"].replace(
    b"Contact: <sip:reg2.example.com;transport=tcp>;q=0.5, <sip:reg3.example.com>;q=0.9",
    b"Contact: *",
)


@FUZZ
@given(mutated("registration", TRICKY + INJECTED))
@example(WILDCARD_REDIRECT)
def test_damaged_responses(data: bytes) -> None:
    check_registration(data)


#: Every number a registrar writes, as it appears in the seed responses.
NUMBER_FIELDS = [
    b"Expires: 3600",
    b";expires=1800",
    b";expires=3000",
    b"Min-Expires: 7200",
    b"Retry-After: 120",
    b"Flow-Timer: 120",
    b";q=0.5",
    b";rport=40001",
    b";rport=5062",
    b"CSeq: $CSEQ",
]
NUMBERS = [
    "0", "1", "00000000000000000000003600", "4294967295", "4294967296", "99999999999",
    "9" * 20, "9" * 400, "9" * 4301, "\u00b2", "3600\u00b2", "\u0661\u0662\u0660",
    "\uff19", "-1", "+1", "1.5", "1e999", "inf", "nan", "", " ", "0x10", "\u00b9\u00b2\u00b3",
]  # fmt: skip


@FUZZ
@given(
    st.sampled_from(list(RESPONSES.values())),
    st.sampled_from(NUMBER_FIELDS),
    st.sampled_from(NUMBERS),
)
# Crashers found: str.isdigit() accepts U+00B2 and other digits int() refuses, and a
# long run of digits overflowed float() arithmetic or int()'s digit limit.
@example(RESPONSES["200-bindings"], b"Expires: 3600", "\u00b2")
@example(RESPONSES["200-bindings"], b";expires=1800", "9" * 400)
@example(RESPONSES["200-bindings"], b"Flow-Timer: 120", "\u00b3")
@example(RESPONSES["200-bindings"], b"Flow-Timer: 120", "9" * 4301)
@example(RESPONSES["423-min-expires"], b"Min-Expires: 7200", "\u00b9")
@example(RESPONSES["503-retry-after"], b"Retry-After: 120", "9" * 400)
@example(RESPONSES["503-retry-after"], b"Retry-After: 120", "\u00b2")
def test_numbers_anywhere_a_registrar_writes_one(seed: bytes, field: bytes, number: str) -> None:
    name, separator, _ = field.partition(b": " if b": " in field else b"=")
    replaced = seed.replace(field, name + separator + number.encode())
    check_registration(replaced)
