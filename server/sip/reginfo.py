"""RFC 3680 reginfo documents: read safely (§5.3), followed in version order (§5.2).

``parse_reginfo`` reads one ``application/reginfo+xml`` body; ``BindingView`` follows
the series of them that one subscription receives, for one UE's binding.

The body of a reg-event NOTIFY comes from the network, so it is read as hostile input:
with expat from the standard library, and nothing that XML lets a document ask of its
reader. A DOCTYPE is refused outright, and with it every entity declaration, so no
entity is ever expanded (the "billion laughs") and no external entity is ever fetched;
a document is at most ``MAX_BYTES``, ``MAX_ELEMENTS`` elements and ``MAX_DEPTH`` deep,
so the work done is bounded before it starts. Every problem raises ``ReginfoError``
and nothing else, whatever the bytes.

RFC 3680 §5.3 says the document is UTF-8, so that encoding is imposed whatever the XML
declaration says: an odd ``encoding=`` cannot reach Python's codec machinery.

The reading is namespace-aware. RFC 3680 extends by elements of other namespaces
(``xs:any namespace="##other"``), so those are skipped with everything inside them;
unknown elements of the reginfo namespace are skipped too (a later revision of the
schema may add some, as ``display-name`` and ``unknown-param`` are skipped already).
What the subscription acts on is checked strictly: the attributes RFC 3680 makes
mandatory must be there, and state and event values must be ones it defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from xml.parsers import expat

from .errors import SipParseError
from .uri import SipUri, parse_uri, uri_equivalent

#: The reginfo namespace (RFC 3680 §5.3).
NAMESPACE: Final = "urn:ietf:params:xml:ns:reginfo"
#: Largest document read; a reg-event body of an IMS user is a few kilobytes.
MAX_BYTES: Final = 64 * 1024
#: Most elements in one document, any namespace (a contact is three or four).
MAX_ELEMENTS: Final = 4096
#: Deepest nesting (reginfo/registration/contact/uri is 4; extensions add a little).
MAX_DEPTH: Final = 32

DOCUMENT_STATES: Final = ("full", "partial")
REGISTRATION_STATES: Final = ("init", "active", "terminated")
CONTACT_STATES: Final = ("active", "terminated")
CONTACT_EVENTS: Final = (
    "registered",
    "created",
    "refreshed",
    "shortened",
    "expired",
    "deactivated",
    "probation",
    "unregistered",
    "rejected",
)

# expat joins a namespaced name as "namespace-URI local-name" with this separator.
_SEP: Final = " "
_XML_SPACE: Final = " \t\r\n"
_MAX_DIGITS: Final = 20  # nonNegativeInteger is unbounded; int() of 4300 digits is not


class ReginfoError(ValueError):
    """The body is not a reginfo document this reader accepts (says why)."""


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """One ``<contact>``: its state, the event that led there, and its URI.

    ``expires`` is the seconds left (RFC 3680 ``expires``, set with ``shortened``);
    ``retry_after`` the seconds to wait before registering again (with ``probation``).
    """

    id: str
    state: str
    event: str
    uri: str
    expires: int | None
    retry_after: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    """One ``<registration>``: an address-of-record, its state and its contacts."""

    aor: str
    id: str
    state: str
    contacts: tuple[ContactInfo, ...]


@dataclass(frozen=True, slots=True)
class Reginfo:
    """A whole document: its version, ``full`` or ``partial``, and its registrations."""

    version: int
    state: str
    registrations: tuple[RegistrationInfo, ...]


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _required(attrs: dict[str, str], name: str, element: str) -> str:
    value = attrs.get(name)
    if value is None:
        raise ReginfoError(f"<{element}> has no {name} attribute")
    return value


def _choice(attrs: dict[str, str], name: str, element: str, allowed: tuple[str, ...]) -> str:
    value = _required(attrs, name, element)
    if value not in allowed:
        raise ReginfoError(f"<{element}> {name}={_short(value)} is not one of {', '.join(allowed)}")
    return value


def _number(attrs: dict[str, str], name: str, element: str) -> int | None:
    """An optional xs:nonNegativeInteger attribute (whitespace around it collapsed)."""
    raw = attrs.get(name)
    if raw is None:
        return None
    digits = raw.strip(_XML_SPACE)
    if not (digits.isascii() and digits.isdigit()) or len(digits) > _MAX_DIGITS:
        raise ReginfoError(f"<{element}> {name}={_short(raw)} is not a non-negative integer")
    return int(digits)


@dataclass(slots=True)
class _Registration:
    """A ``<registration>`` being read."""

    aor: str
    id: str
    state: str
    contacts: list[ContactInfo] = field(default_factory=list)


class _Reader:
    """The expat handlers: build the document as elements open and close.

    ``skip_below`` is the depth of an element being skipped (foreign or unknown), or 0:
    nothing inside it is looked at, but it still counts towards the limits.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.elements = 0
        self.skip_below = 0
        self.document: Reginfo | None = None
        self.version = 0
        self.state = ""
        self.registrations: list[RegistrationInfo] = []
        self.registration: _Registration | None = None
        self.contact: dict[str, str] | None = None
        self.contact_uri: str | None = None
        self.uri_text: list[str] | None = None

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise ReginfoError(f"more than {MAX_ELEMENTS} elements")
        if self.depth > MAX_DEPTH:
            raise ReginfoError(f"elements nested deeper than {MAX_DEPTH}")
        if self.skip_below:
            return
        namespace, _, local = name.rpartition(_SEP)
        depth = self.depth
        if depth == 1:
            if (namespace, local) != (NAMESPACE, "reginfo"):
                raise ReginfoError(f"the root element is not <reginfo> of {NAMESPACE}")
            version = _number(attrs, "version", local)
            if version is None:
                raise ReginfoError("<reginfo> has no version attribute")
            self.version = version
            self.state = _choice(attrs, "state", local, DOCUMENT_STATES)
        elif namespace != NAMESPACE:
            self.skip_below = depth  # RFC 3680 extensibility: another namespace's element
        elif depth == 2 and local == "registration":
            self.registration = _Registration(
                _required(attrs, "aor", local).strip(_XML_SPACE),
                _required(attrs, "id", local),
                _choice(attrs, "state", local, REGISTRATION_STATES),
            )
        elif depth == 3 and local == "contact":
            _required(attrs, "id", local)
            _choice(attrs, "state", local, CONTACT_STATES)
            _choice(attrs, "event", local, CONTACT_EVENTS)
            for attr in ("expires", "retry-after", "duration-registered"):
                _number(attrs, attr, local)  # checked here, where the error can say which
            self.contact = attrs
            self.contact_uri = None
        elif depth == 4 and local == "uri":
            if self.contact_uri is not None:
                raise ReginfoError("<contact> has more than one <uri>")
            self.uri_text = []
        else:
            self.skip_below = depth  # display-name, unknown-param, later additions

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        if self.skip_below:
            if depth == self.skip_below:
                self.skip_below = 0
            return
        if depth == 4 and self.uri_text is not None:
            self.contact_uri = "".join(self.uri_text).strip(_XML_SPACE)
            self.uri_text = None
        elif depth == 3 and self.contact is not None:
            self._end_contact(self.contact)
        elif depth == 2 and self.registration is not None:
            r = self.registration
            self.registrations.append(RegistrationInfo(r.aor, r.id, r.state, tuple(r.contacts)))
            self.registration = None
        elif depth == 1:
            self.document = Reginfo(self.version, self.state, tuple(self.registrations))

    def _end_contact(self, attrs: dict[str, str]) -> None:
        if not self.contact_uri:
            raise ReginfoError("<contact> has no <uri>")
        contact = ContactInfo(
            attrs["id"],
            attrs["state"],
            attrs["event"],
            self.contact_uri,
            _number(attrs, "expires", "contact"),
            _number(attrs, "retry-after", "contact"),
        )
        assert self.registration is not None  # a contact is read only inside one
        self.registration.contacts.append(contact)
        self.contact = None

    def text(self, data: str) -> None:
        if self.uri_text is not None and not self.skip_below:
            self.uri_text.append(data)


def _refuse_doctype(name: str, system_id: str | None, public_id: str | None, internal: int) -> None:
    raise ReginfoError("a DOCTYPE is not accepted (no DTDs, no entities)")


def _refuse_entity(
    name: str,
    is_parameter: int,  # expat passes 0 or 1, not a bool (mypyc checks)
    value: str | None,
    base: str | None,
    system_id: str | None,
    public_id: str | None,
    notation: str | None,
) -> None:
    raise ReginfoError("entity declarations are not accepted")


def _refuse_external(
    context: str | None, base: str | None, system_id: str | None, public_id: str | None
) -> int:
    raise ReginfoError("external entities are not accepted")


def parse_reginfo(body: bytes) -> Reginfo:
    """Read a reginfo document; ``ReginfoError`` for anything else (see the module)."""
    if len(body) > MAX_BYTES:
        raise ReginfoError(f"document of {len(body)} bytes exceeds the limit of {MAX_BYTES}")
    reader = _Reader()
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    parser.buffer_text = True
    try:
        parser.Parse(bytes(body), True)
    except ReginfoError:
        raise
    except (expat.ExpatError, ValueError, LookupError) as exc:
        raise ReginfoError(f"not well-formed XML: {exc}") from None
    if reader.document is None:  # expat reports a missing root; kept as a guard
        raise ReginfoError("the document has no <reginfo> element")
    return reader.document


@dataclass(frozen=True, slots=True)
class News:
    """What one document newly says of one UE's binding (``BindingView.apply``).

    ``contacts``: our contact, each time its state, event or expiry differs from what
    was known; ``registration_ended``: the registration of our AOR was terminated
    without naming our contact; ``need_full``: a partial document showed that one was
    missed, so a full one is needed (said once per gap).
    """

    contacts: tuple[ContactInfo, ...] = ()
    registration_ended: bool = False
    need_full: bool = False


_Fact = tuple[str, str, int | None]  # (state, event, expires) of a contact


class BindingView:
    """One UE's binding as the documents of one subscription tell it (RFC 3680 §5.2).

    Documents are taken in version order: a lower or equal version is old news and
    ignored; a ``full`` document replaces what is known; a ``partial`` one applies only
    on top of the version just before it. After a gap, or with nothing known yet, every
    partial document is ignored until a full one arrives (``News.need_full`` asks the
    subscriber to solicit one, as §5.2 says it should, with a refresh SUBSCRIBE).

    Only the registration of our AOR and those listing our contact count, and in them
    only our contact, compared with ``uri_equivalent``: other UEs registered to the same
    identity are none of ours. A fact already known is not reported again when a full
    document restates it (as one does after every refresh of the subscription).
    """

    def __init__(self, aor: str, contact: str) -> None:
        """``aor`` as subscribed to (any scheme); ``contact`` our Contact URI (SIP)."""
        self.aor = aor
        self.contact = contact
        self._aor = _sip_uri(aor)
        self._contact = _sip_uri(contact)
        self.version: int | None = None
        self.need_full = False
        #: By (registration id, contact id; None for the registration itself).
        self._known: dict[tuple[str, str | None], _Fact] = {}

    def apply(self, document: Reginfo) -> News:
        """Take ``document`` in; what it newly says (see the class)."""
        last = self.version
        if last is not None and document.version <= last:
            return News()
        full = document.state == "full"
        if not full and (self.need_full or last is None or document.version != last + 1):
            first = not self.need_full
            self.need_full = True
            return News(need_full=first)
        self.need_full = False
        self.version = document.version
        known: dict[tuple[str, str | None], _Fact] = {} if full else dict(self._known)
        changed: list[ContactInfo] = []
        ended = False
        for registration in document.registrations:
            ours = [c for c in registration.contacts if self._is_ours(c.uri)]
            for contact in ours:
                fact = (contact.state, contact.event, contact.expires)
                if self._known.get((registration.id, contact.id)) != fact:
                    changed.append(contact)
                known[registration.id, contact.id] = fact
            if not ours and registration.state == "terminated" and self._is_aor(registration.aor):
                fact = ("terminated", "", None)  # the registration's own
                ended = ended or self._known.get((registration.id, None)) != fact
                known[registration.id, None] = fact
        self._known = known
        return News(tuple(changed), ended)

    def _is_ours(self, uri: str) -> bool:
        if uri == self.contact:
            return True
        theirs = _sip_uri(uri)
        mine = self._contact
        return theirs is not None and mine is not None and uri_equivalent(theirs, mine)

    def _is_aor(self, aor: str) -> bool:
        if aor == self.aor or self._aor is None:
            return aor == self.aor
        theirs = _sip_uri(aor)
        return theirs is not None and uri_equivalent(theirs, self._aor)


def _sip_uri(text: str) -> SipUri | None:
    """``text`` as a SIP URI, or None when it is none (a ``tel:`` AOR, say)."""
    try:
        return parse_uri(text)
    except SipParseError:
        return None
