"""A scripted IMS core: P-CSCF and S-CSCF behaviour for the ``ims`` profile type's tests.

Kamailio registers plain SIP; what an IMS network does that it does not is played
here over a ``ScriptedRegistrar`` on loopback, as TS 24.229 and TS 33.203 describe it:

- an AKA challenge (RFC 3310 ``AKAv1-MD5``, ``qop=auth``) built by an AuC from the
  subscriber's K and OPc with Milenage, a ``Security-Server`` list in the 401 (as a
  P-CSCF adds it), and the digest answer checked with the network's own RES;
- resynchronisation: an ``auts`` answer is checked (MAC-S), the AuC's SQN moves past
  the USIM's, and a fresh challenge follows;
- the 200 OK lists the bindings, the implicitly registered public identities in
  ``P-Associated-URI`` and a ``Service-Route`` that points back here;
- the ``reg`` event package: SUBSCRIBE answered 200 (Expires 600000), then a full
  ``reginfo`` NOTIFY; ``notify(...)`` sends later ones (a contact deactivated, an
  expiry shortened, the subscription terminated) over the UE's flow.

Every request and every response to our NOTIFYs is recorded, so tests check the
order of what the daemon sent.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field

from sipprofile.server.sip.headers import parse_name_addr
from sipprofile.server.sip.message import Headers, Request, Response
from sipprofile.server.sip.milenage import Milenage

from .scripted import Received, ScriptedRegistrar, contacts_of, requested_expiry, response

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
AMF = bytes.fromhex("8000")
REALM = "ims.example.com"
IMPI = "alice@ims.example.com"
IMPU = "sip:alice@ims.example.com"
TEL = "tel:+15551230001"


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _params(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.removeprefix("Digest ").split(","):
        name, _, text = part.strip().partition("=")
        out[name] = text.strip('"')
    return out


@dataclass
class ImsCore:
    """The network side; ``registrar`` is where the profile's Registrar URI points."""

    registrar: ScriptedRegistrar
    #: The AuC's next sequence number (the USIM's highest accepted + 1 when in step).
    sqn: int = 1
    security_server: str = "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96, digest;q=0.1"
    expires: int = 600000
    #: RAND of each challenge sent, by nonce.
    challenges: dict[str, bytes] = field(default_factory=dict)
    resyncs: int = 0
    rejected_answers: int = 0
    #: Contact URI -> granted expiry.
    bindings: dict[str, int] = field(default_factory=dict)
    #: The SUBSCRIBE that made the reg-event dialog, and our tag in it.
    subscribe: Received | None = None
    notify_cseq: int = 0
    version: int = 0
    to_tag: str = field(default_factory=lambda: secrets.token_hex(4))

    def __post_init__(self) -> None:
        self.registrar.default = self._register
        self.registrar.handlers["SUBSCRIBE"] = self._subscribe

    # ------------------------------------------------------------ registration

    def _challenge(self, request: Request, status: int = 401) -> Response:
        m = Milenage(K, OPC)
        rand = os.urandom(16)
        sqn = self.sqn.to_bytes(6, "big")
        autn = _xor(sqn, m.f2345(rand)[3]) + AMF + m.f1(rand, sqn, AMF)
        nonce = base64.b64encode(rand + autn).decode()
        self.challenges[nonce] = rand
        header = f'Digest realm="{REALM}", nonce="{nonce}", algorithm=AKAv1-MD5, qop="auth"'
        extra = [("WWW-Authenticate", header)]
        if self.security_server:
            extra.append(("Security-Server", self.security_server))
        return response(request, status, headers=extra)

    def _verified(self, request: Request) -> bool | None:
        """True: a right answer; False: a wrong one; None: no answer to check."""
        value = request.headers.get("Authorization") or ""
        p = _params(value)
        rand = self.challenges.get(p.get("nonce", ""))
        if rand is None:
            return None  # the initial Authorization (empty nonce), or an unknown nonce
        m = Milenage(K, OPC)
        if "auts" in p:
            auts = base64.b64decode(p["auts"])
            sqn_ms = _xor(auts[:6], m.f5star(rand))
            if m.f1star(rand, sqn_ms, b"\x00\x00") == auts[6:]:
                self.resyncs += 1
                self.sqn = int.from_bytes(sqn_ms, "big") + 1
            return None
        res = m.f2345(rand)[0]
        md5 = hashlib.md5
        ha1 = md5(f"{p['username']}:{REALM}:".encode() + res).hexdigest()
        ha2 = md5(f"REGISTER:{p['uri']}".encode()).hexdigest()
        text = f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}"
        if p.get("response") != md5(text.encode()).hexdigest() or p["username"] != IMPI:
            self.rejected_answers += 1
            return False
        del self.challenges[p["nonce"]]  # each vector once
        self.sqn += 1
        return True

    def _register(self, request: Request) -> list[Response]:
        verified = self._verified(request)
        if verified is not True:
            return [self._challenge(request)]
        for contact in contacts_of(request):
            expiry = requested_expiry(request, contact)
            if expiry == 0:
                self.bindings.pop(contact.uri, None)
            else:
                self.bindings[contact.uri] = min(expiry, self.expires)
        listed = [("Contact", f"<{u}>;expires={n}") for u, n in self.bindings.items()]
        route = f"<sip:orig@{self.registrar.host}:{self.registrar.port};lr>"
        headers = [
            *listed,
            ("P-Associated-URI", f"<{IMPU}>, <{TEL}>"),
            ("Service-Route", route),
            ("Path", f"<sip:pcscf@{self.registrar.host}:{self.registrar.port};lr>"),
        ]
        return [response(request, 200, headers=headers)]

    # ------------------------------------------------------------ reg event

    def _subscribe(self, request: Request) -> list[Response]:
        expiry = requested_expiry(request)
        arrival = self.registrar.received[-1]
        if expiry == 0:
            ok = response(request, 200, headers=[("Expires", "0")], to_tag=self.to_tag)
            self.registrar.send(ok, arrival)
            self.notify(terminated="timeout")
            return []
        self.subscribe = arrival
        contact = f"<sip:scscf@{self.registrar.host}:{self.registrar.port}>"
        headers = [("Expires", str(self.expires)), ("Contact", contact)]
        ok = response(request, 200, headers=headers, to_tag=self.to_tag)
        self.registrar.send(ok, arrival)  # the 200 first, then the full state
        self.notify()
        return []

    def reginfo(self, event: str = "registered", state: str = "active") -> bytes:
        """A full reginfo document for the public identity, our bindings in it."""
        contacts = "".join(
            f'<contact id="c{n}" state="{state}" event="{event}" expires="{expires}">'
            f"<uri>{uri}</uri></contact>"
            for n, (uri, expires) in enumerate(self.bindings.items())
        )
        registration = "active" if state == "active" else "terminated"
        return (
            '<?xml version="1.0"?>'
            f'<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="{self.version}" '
            f'state="full"><registration aor="{IMPU}" id="r1" state="{registration}">'
            f"{contacts}</registration></reginfo>"
        ).encode()

    def notify(
        self, *, event: str = "registered", state: str = "active", terminated: str = ""
    ) -> None:
        """Send a NOTIFY in the reg-event dialog over the flow the SUBSCRIBE came on."""
        sub = self.subscribe
        assert sub is not None, "no reg-event subscription yet"
        request = sub.request
        self.notify_cseq += 1
        body = self.reginfo(event, state)
        self.version += 1
        headers = Headers()
        branch = "z9hG4bK" + secrets.token_hex(8)
        headers.add(
            "Via", f"SIP/2.0/UDP {self.registrar.host}:{self.registrar.port};branch={branch}"
        )
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{IMPU}>;tag={self.to_tag}")
        headers.add("To", request.headers.get("From") or "")
        headers.add("Call-ID", request.call_id)
        headers.add("CSeq", f"{self.notify_cseq} NOTIFY")
        headers.add("Contact", f"<sip:scscf@{self.registrar.host}:{self.registrar.port}>")
        headers.add("Event", "reg")
        state_value = f"terminated;reason={terminated}" if terminated else "active;expires=600000"
        headers.add("Subscription-State", state_value)
        headers.add("Content-Type", "application/reginfo+xml")
        target = parse_name_addr(request.headers.get("Contact") or "").uri
        notify = Request("NOTIFY", target, headers)
        notify.body = body
        self.registrar.send_request(notify, sub)
