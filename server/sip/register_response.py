"""What a REGISTER's response says, read the way ``Registration`` acts on it.

Kept apart from the state machine because these are questions about one message (which
expiry did the registrar grant our binding, where does a redirect point, when may we
retry), answered leniently: a registrar's other bindings or a malformed list element
must not cost us our registration, so elements that cannot be read are skipped.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from .digest import Challenge, DigestError, parse_challenge
from .errors import SipParseError
from .grammar import is_ipv4, is_ipv6_reference
from .headers import NameAddr, parse_cseq, parse_name_addr
from .message import Response
from .params import Params, find_param, parse_params
from .registration_events import Registered
from .uri import SipUri, parse_uri, uri_equivalent
from .via import Via, parse_via, via_branch

#: The largest delta-seconds (RFC 3261 §20.19: 0 to 2**32-1), and the most the bus's
#: ``Expires`` (a uint32) can show.
MAX_DELTA_SECONDS: Final = 2**32 - 1


def delta_seconds(text: str | None) -> int | None:
    """``text`` as delta-seconds (RFC 3261 §25.1: ASCII digits, at most 2**32-1), else None.

    A value that is not one is read as if absent (RFC 4475 §3.1.2.19). ``str.isdigit``
    alone let through digits ``int()`` refuses (``"²"``) and more digits than it
    converts (4300): the exception escaped the registration, which then waited for
    good; and a grant over 2**32-1 made the profile's properties unreadable on the bus
    (found by tests/reliability/test_hostile_registrar.py).
    """
    value = (text or "").strip(" \t")
    if not (value.isascii() and value.isdigit()):
        return None
    digits = value.lstrip("0") or "0"
    if len(digits) > 10 or int(digits) > MAX_DELTA_SECONDS:
        return None
    return int(digits)


def via_as_sent(top: str, sent: str) -> Params | None:
    """The parameters after ours when ``top`` is the Via we sent, ``sent``; else None.

    ``sent`` is our Via up to and including the branch (``SIP/2.0/UDP host:port;
    branch=z9hG4bK...``), which we wrote valid. A registrar returns it as it was, with
    ``rport`` given a value and ``received`` added (RFC 3581): then only what follows
    the branch is read, instead of the whole Via with a regular expression for its
    branch and again for its parameters. The reading is ``parse_via``'s: a Via it
    would read with our branch first is ours here, when written as we wrote it; one
    written otherwise (other case, spaces) gets None and the full reading.
    """
    if not top.startswith(sent):
        return None
    rest = top[len(sent) :]
    if not rest:
        return ()
    if rest[0] not in "; \t":  # the branch goes on: another one
        return None
    try:
        return parse_params(rest)
    except SipParseError:
        return None


def answers(
    response: Response, call_id: str, cseq: int, cseq_text: str, branch: str, sent: str = ""
) -> bool:
    """Whether ``response`` answers our REGISTER (RFC 3261 §17.1.3 matching).

    ``cseq_text`` is the CSeq value as we wrote it: the same text is the same CSeq,
    without parsing it. The cheap comparisons go first. Every Via must be readable, as
    for ``response.via``: a response with a Via that cannot be read is not acted on.
    ``sent``: our Via as sent, up to and including ``branch`` (``via_as_sent``).
    """
    try:
        if response.call_id != call_id:
            return False
        text = response.header("CSeq")
        if text != cseq_text and parse_cseq(text) != (cseq, "REGISTER"):
            return False
        vias = response.headers.get_all("Via")
        if not vias:
            return False
        if (not sent or via_as_sent(vias[0], sent) is None) and via_branch(vias[0]) != branch:
            return False
        for via in vias[1:]:
            parse_via(via)
    except (SipParseError, ValueError, IndexError):
        return False
    return True


def challenges(response: Response, *, proxy: bool) -> list[Challenge]:
    """The Digest challenges of a 401 (or, with ``proxy``, a 407) that can be read."""
    found: list[Challenge] = []
    for value in response.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate"):
        try:
            found.append(parse_challenge(value, proxy=proxy))
        except DigestError:
            continue
    return found


def _listed_contacts(response: Response) -> list[NameAddr]:
    contacts: list[NameAddr] = []
    for value in response.headers.get_all("Contact"):
        try:
            contacts.append(parse_name_addr(value))
        except (SipParseError, ValueError):
            continue
    return contacts


def _ours(listed: NameAddr, contact: str, mine: SipUri) -> tuple[bool, bool]:
    """(exactly our Contact, or at least our Contact's user part) for a listed binding."""
    if listed.uri == contact:  # the same text is the same URI, without parsing it
        return True, True
    try:
        theirs = parse_uri(listed.uri)
    except SipParseError:
        return False, False
    if uri_equivalent(theirs, mine):
        return True, True
    return False, mine.user is not None and theirs.user == mine.user


def granted_expiry(response: Response, contact: str, asked: int) -> int | None:
    """Our binding's expiry in a 2xx: its Contact's ``expires``, else the Expires header.

    ``contact`` is our Contact URI as sent, a valid SIP URI; ``asked`` is what we asked
    for, the answer when the registrar lists no binding and sends no Expires. None when
    the registrar lists bindings but not ours. Our Contact's user part is random and
    ours alone, so a binding with it but another host is ours too when ours is not
    listed as sent (a registrar that rewrote the host: NAT, ``received``); when it
    is, the others are bindings of an earlier run (``stale_bindings``).
    """
    header = delta_seconds(response.headers.get("Expires"))
    fallback = asked if header is None else header
    values = response.headers.get_all("Contact")
    if len(values) == 1 and values[0].startswith(f"<{contact}>"):  # the usual answer
        # ours alone, as sent: only its parameters are read (the URI is ours, checked)
        try:
            params = parse_params(values[0][len(contact) + 2 :])
        except SipParseError:
            return fallback  # as when the one listed binding cannot be read
        expiry = delta_seconds(find_param(params, "expires"))
        return fallback if expiry is None else expiry
    contacts = _listed_contacts(response)
    if not contacts:
        return fallback  # a registrar that lists nothing: trust what it said, or asked
    if len(contacts) == 1 and contacts[0].uri == contact:  # the usual answer, no parsing
        chosen: NameAddr | None = contacts[0]
    else:
        mine = parse_uri(contact)
        chosen = None
        for listed in contacts:
            exact, same_user = _ours(listed, contact, mine)
            if exact:
                chosen = listed
                break
            if same_user and chosen is None:
                chosen = listed
    if chosen is None:
        return None
    expiry = delta_seconds(chosen.param("expires"))
    return fallback if expiry is None else expiry


def stale_bindings(response: Response, contact: str) -> list[str]:
    """Bindings of ours that are not our Contact: left by an earlier run or address.

    Listed in a 2xx beside our exact Contact, with its (random, per-profile) user part
    and another host or port: the daemon restarted on another port, or our address
    changed. Nothing when our Contact is not listed as sent (then a same-user binding
    may be ours, rewritten by the registrar). The URIs as the registrar wrote them.
    """
    if len(response.headers.get_all("Contact")) < 2:  # the usual answer: ours alone
        return []
    contacts = _listed_contacts(response)
    mine = parse_uri(contact)
    stale: list[str] = []
    found = False
    for listed in contacts:
        exact, same_user = _ours(listed, contact, mine)
        if exact:
            found = True
        elif same_user and listed.param("expires") != "0":
            stale.append(listed.uri)
    return stale if found else []


def redirect_targets(response: Response) -> list[str]:
    """The SIP and SIPS Contact URIs of a 3xx, highest ``q`` first, the listed order on ties.

    Others (a wildcard, a tel: or http: URI) are skipped: no REGISTER can go there.
    They used to become the next Request-URI, and writing it raised, leaving the
    registration waiting for good (found by tests/reliability/test_hostile_registrar.py).
    """
    ranked: list[tuple[float, int, str]] = []
    for index, value in enumerate(response.headers.get_all("Contact")):
        try:
            contact = parse_name_addr(value)
            q = float(contact.param("q") or "1")
            parse_uri(contact.uri)
        except (SipParseError, ValueError):
            continue
        ranked.append((-q, index, contact.uri))
    return [uri for _, _, uri in sorted(ranked)]


def retry_after(response: Response) -> float | None:
    """Retry-After in seconds (RFC 3261 §20.33), comment and parameters ignored."""
    value = (response.headers.get("Retry-After") or "").split(";")[0].split("(")[0]
    seconds = delta_seconds(value)
    return None if seconds is None else float(seconds)


def uris(values: list[str]) -> tuple[str, ...]:
    """The URI of each name-addr in ``values`` that can be read, in order."""
    if not values:
        return ()
    found = []
    for value in values:
        try:
            found.append(parse_name_addr(value).uri)
        except (SipParseError, ValueError):
            continue
    return tuple(found)


def option_tags(response: Response, name: str) -> set[str]:
    """The option tags of a comma-list header (``Require``, ``Supported``), lower case."""
    return {t.strip().lower() for v in response.headers.get_all(name) for t in v.split(",")}


def registered_event(
    response: Response,
    granted: int,
    contact: str,
    aor: str,
    outbound_asked: bool,
    sent: str = "",
) -> Registered:
    """What a 2xx that bound ``contact`` for ``granted`` seconds tells the session.

    The AORs it registered (P-Associated-URI, else ours), the Service-Route, where
    the registrar saw us, its RFC 5626 Flow-Timer, and whether it took part in
    outbound (``Require: outbound``, when we asked for it). ``sent``: our Via as
    sent, up to the branch (``learned_address``).
    """
    flow_timer = delta_seconds(response.headers.get("Flow-Timer"))
    return Registered(
        granted,
        contact,
        uris(response.headers.get_all("P-Associated-URI")) or (aor,),
        uris(response.headers.get_all("Service-Route")),
        learned_address(response, sent),
        flow_timer,
        outbound_asked and "outbound" in option_tags(response, "Require"),
    )


@lru_cache(maxsize=16)
def _sent_head(text: str) -> Via:
    """Our Via before its parameters, read once: the same for every request on a flow."""
    return parse_via(text)


def learned_address(response: Response, sent: str = "") -> str:
    """Where the registrar saw our request come from: ``host:port``, or "" if unsaid.

    RFC 3261 §18.2.1 ``received`` and RFC 3581 ``rport`` in our (top) Via. Behind a
    NAT they differ from our Contact; the session keeps them, because they are the
    only public address a UA learns without STUN. ``sent``: our Via as sent, up to
    the branch; a top Via written as we wrote it is read from there (``via_as_sent``).
    """
    try:
        vias = response.headers.get_all("Via")
        after = via_as_sent(vias[0], sent) if sent and vias else None
        if after is not None:  # the usual answer: rport and received after our branch
            received = find_param(after, "received")
            if received is None and find_param(after, "rport") is None:
                return ""
            head = _sent_head(sent[: sent.find(";")])  # the transport, host and port we wrote
            top = Via._parsed(head.transport, head.host, head.port, after)
        else:
            top = parse_via(vias[0])
        port = top.rport
    except (IndexError, SipParseError, ValueError):
        return ""
    host = top.received
    if host is None and port is None:
        return ""
    if host is not None and not (is_ipv4(host) or is_ipv6_reference(f"[{host.strip('[]')}]")):
        # RFC 3261 §18.2.1: an IP address. A name or junk is no address we were seen at;
        # taken, it became our Contact (found by tests/reliability/test_hostile_registrar.py)
        return ""
    host = host or top.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port or top.port or 5060}"
