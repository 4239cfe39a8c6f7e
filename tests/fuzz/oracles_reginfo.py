"""What the ``reginfo`` target checks: the RFC 3680 registration-state reader.

``parse_reginfo`` raises only ``ReginfoError``, accepts no DOCTYPE (so no entity is ever
expanded), gives only values RFC 3680 defines, and what it reads writes back the same.
Nothing here imports atheris or hypothesis.
"""

from __future__ import annotations

import contextlib
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from sipprofile.server.sip.reginfo import (
    CONTACT_EVENTS,
    CONTACT_STATES,
    DOCUMENT_STATES,
    MAX_BYTES,
    NAMESPACE,
    REGISTRATION_STATES,
    BindingView,
    Reginfo,
    ReginfoError,
    parse_reginfo,
)


def reginfo_xml(document: Reginfo) -> bytes:
    """``document`` written as XML (the test's own writer), to read back."""
    out = [f'<reginfo xmlns="{NAMESPACE}" version="{document.version}" state="{document.state}">']
    for r in document.registrations:
        out.append(
            f"<registration aor={quoteattr(r.aor)} id={quoteattr(r.id)} state={quoteattr(r.state)}>"
        )
        for c in r.contacts:
            extra = "" if c.expires is None else f' expires="{c.expires}"'
            extra += "" if c.retry_after is None else f' retry-after="{c.retry_after}"'
            out.append(
                f"<contact id={quoteattr(c.id)} state={quoteattr(c.state)} "
                f"event={quoteattr(c.event)}{extra}>"
                f"<uri>{escape(c.uri, {chr(13): '&#13;'})}</uri></contact>"
            )
        out.append("</registration>")
    out.append("</reginfo>")
    return "".join(out).encode()


def _has_doctype(body: bytes) -> bool:
    """Whether expat, read independently, sees a DOCTYPE in ``body``."""
    seen: list[str] = []
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.StartDoctypeDeclHandler = lambda name, *_: seen.append(name)
    with contextlib.suppress(expat.ExpatError, ValueError):
        parser.Parse(body, True)
    return bool(seen)


def check_reginfo(body: bytes) -> None:
    """``parse_reginfo`` raises only ``ReginfoError``; what it accepts is sound.

    No document with a DOCTYPE is accepted (so no entity is ever expanded); values are
    the ones RFC 3680 defines; the document written back reads the same; and a
    ``BindingView`` for any of its contacts takes it without raising.
    """
    try:
        document = parse_reginfo(body)
    except ReginfoError:
        return
    assert len(body) <= MAX_BYTES
    assert not _has_doctype(body), "a document with a DOCTYPE was accepted"
    assert document.state in DOCUMENT_STATES and document.version >= 0
    for registration in document.registrations:
        assert registration.state in REGISTRATION_STATES
        for contact in registration.contacts:
            assert contact.state in CONTACT_STATES and contact.event in CONTACT_EVENTS
            assert contact.uri and contact.uri == contact.uri.strip(" \t\r\n")
            assert contact.expires is None or contact.expires >= 0
            assert contact.retry_after is None or contact.retry_after >= 0
    written = reginfo_xml(document)
    assert parse_reginfo(written) == document, written
    views = [BindingView("sip:alice@ims.example.net", "sip:3f2a@192.0.2.10:5062")]
    for registration in document.registrations[:4]:
        for contact in registration.contacts[:4]:
            views.append(BindingView(registration.aor, contact.uri))
    for view in views:
        news = view.apply(document)
        assert view.version == document.version or news.need_full or document.state != "full"
