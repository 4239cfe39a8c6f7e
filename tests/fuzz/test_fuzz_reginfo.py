"""Fuzzing the reginfo reader (issue 8): ``ReginfoError`` and nothing else.

No DOCTYPE gets through (so no entity is ever expanded or fetched), the limits hold,
and what is read writes back the same (``oracles_reginfo.py``).
``tests/sip/test_reginfo.py`` has arbitrary and damaged bytes; these build documents
element by element, with values RFC 3680 does not define, foreign namespaces, and
hostile prologs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipprofile.server.sip.reginfo import ReginfoError, parse_reginfo

from .oracles_common import CORPUS, seeds
from .oracles_reginfo import check_reginfo
from .strategies import FUZZ, TRICKY, mutated

NS = "urn:ietf:params:xml:ns:reginfo"


@pytest.mark.parametrize("path", sorted((CORPUS / "reginfo").iterdir()), ids=lambda p: p.name)
def test_seed_documents_pass_the_checks(path: Path) -> None:
    check_reginfo(path.read_bytes())


XML_PIECES = [
    *TRICKY,
    b"&amp;",
    b"&#0;",
    b"&#13;",
    b"&#x1F600;",
    b"&undefined;",
    b"<![CDATA[sip:x@y]]>",
    b"<!-- c -->",
    b"<?pi data?>",
    b"</uri>",
    b"<uri>",
    b"<contact/>",
    b' xmlns="urn:example:other"',
    b' xmlns:r="urn:ietf:params:xml:ns:reginfo"',
    b' state="terminated"',
    b' event="unknown"',
    b' expires="18446744073709551616"',
    b' version="-1"',
]


@FUZZ
@given(mutated("reginfo", XML_PIECES))
def test_damaged_documents(body: bytes) -> None:
    check_reginfo(body)


ATTRIBUTE_VALUES = [
    "full", "partial", "init", "active", "terminated", "registered", "created", "refreshed",
    "shortened", "expired", "deactivated", "probation", "unregistered", "rejected", "0",
    "7", " 42 ", "4294967296", "9" * 21, "-1", "1.0", "\u0661", "", "sip:a@b", "tel:+1",
    " sip:alice@ims.example.net ", "&#9;x", "&lt;&gt;", "&quot;", "a\tb",
]  # fmt: skip
URIS = [
    "sip:3f2a@192.0.2.10:5062", "SIP:3f2a@192.0.2.10:5062;ob", " sip:ue@[2001:db8::1] ",
    "sips:x@y?h=v", "tel:+15551234", "urn:uuid:0", "", "&#13;sip:a@b&#13;", "<![CDATA[sip:c@d]]>",
    "sip:%00@x", "sip:a@b;maddr=[::1]",
]  # fmt: skip

attribute_value = st.sampled_from(ATTRIBUTE_VALUES)


@st.composite
def attributes(draw: st.DrawFn, valid: dict[str, list[str]], optional: tuple[str, ...] = ()) -> str:
    """Attributes with values RFC 3680 defines, then maybe one or two changed or dropped."""
    chosen = {
        name: draw(st.sampled_from(values), label=name)
        for name, values in valid.items()
        if name not in optional or draw(st.booleans(), label=f"has {name}")
    }
    for name, value in draw(
        st.lists(st.tuples(st.sampled_from(list(valid)), attribute_value), max_size=2)
    ):
        if draw(st.booleans(), label="drop"):
            chosen.pop(name, None)
        else:
            chosen[name] = value
    return "".join(f' {name}="{value}"' for name, value in chosen.items())


CONTACT_ATTRIBUTES = {
    "id": ["c1", "76", "o"],
    "state": ["active", "terminated"],
    "event": ["registered", "created", "refreshed", "shortened", "expired", "deactivated",
              "probation", "unregistered", "rejected"],
    "expires": ["0", "60", "600000"],
    "retry-after": ["30"],
    "duration-registered": ["7322"],
}  # fmt: skip


@st.composite
def contacts(draw: st.DrawFn) -> str:
    attrs = draw(attributes(CONTACT_ATTRIBUTES, ("expires", "retry-after", "duration-registered")))
    count = draw(st.sampled_from([1, 1, 1, 0, 2]), label="uris")  # one, as RFC 3680 says
    inner = "".join(f"<uri>{draw(st.sampled_from(URIS))}</uri>" for _ in range(count))
    inner += draw(st.sampled_from(["", "<display-name>A</display-name>", "<x:o xmlns:x='u'/>"]))
    return f"<contact{attrs}>{inner}</contact>"


REGISTRATION_ATTRIBUTES = {
    "aor": ["sip:alice@ims.example.net", "tel:+15551234", " sip:joe@example.com "],
    "id": ["r1", "a7"],
    "state": ["init", "active", "terminated"],
}


@st.composite
def registrations(draw: st.DrawFn) -> str:
    attrs = draw(attributes(REGISTRATION_ATTRIBUTES))
    inner = "".join(draw(st.lists(contacts(), max_size=3)))
    tag = draw(st.sampled_from(["registration", "registration", "r:registration", "other"]))
    return f"<{tag}{attrs}>{inner}</{tag}>"


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    attrs = draw(attributes({"version": ["0", "1", "7", " 42 "], "state": ["full", "partial"]}))
    ns = draw(st.sampled_from([NS, NS, NS, "urn:example:other"]))
    inner = "".join(draw(st.lists(registrations(), max_size=3)))
    prolog = draw(st.sampled_from(["", '<?xml version="1.0"?>', "\ufeff", " "]))
    text = f'{prolog}<reginfo xmlns="{ns}" xmlns:r="{NS}"{attrs}>{inner}</reginfo>'
    return text.encode()


@FUZZ
@given(documents())
def test_built_documents(body: bytes) -> None:
    check_reginfo(body)


DOCTYPES = [
    '<!DOCTYPE reginfo [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!DOCTYPE reginfo SYSTEM "file:///etc/passwd">',
    '<!DOCTYPE reginfo [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE reginfo [<!ENTITY % p SYSTEM "http://192.0.2.1/x.dtd"> %p;]>',
    '<!DOCTYPE reginfo PUBLIC "-//x//y" "http://192.0.2.1/x.dtd">',
    "<!DOCTYPE reginfo>",
    '<!DOCTYPE reginfo [<!ATTLIST reginfo version CDATA "0">]>',
]


@FUZZ
@given(st.sampled_from(DOCTYPES), documents() | st.sampled_from(seeds("reginfo")), st.booleans())
def test_a_doctype_is_refused_whatever_follows(doctype: str, body: bytes, use: bool) -> None:
    """However the document goes on, a DOCTYPE before its root is refused."""
    declaration, has_declaration, rest = body.partition(b"?>")
    if not has_declaration:
        declaration, rest = b"", body
    else:
        declaration += b"?>"
    if use:  # reference the entities from the document, as an attack would
        rest = rest.replace(b"<uri>", b"<uri>&b;&x;", 1)
    with pytest.raises(ReginfoError):
        parse_reginfo(declaration + doctype.encode() + rest)
