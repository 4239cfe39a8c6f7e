"""The Kamailio fixtures are a real registrar: raw SIP over sockets proves it.

The tiny client here is deliberately independent of the project's SIP stack, so a
failure points at the fixture, not at the code under test.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import ssl
import uuid
from types import TracebackType

import pytest

from kamailio import fixtures
from kamailio.fixtures import RegistrarFactory
from kamailio.registrar import Registrar

# Usable here whether or not a conftest.py imports the fixtures too (same functions).
kamailio = fixtures.kamailio
kamailio_tls = fixtures.kamailio_tls
kamailio_factory = fixtures.kamailio_factory


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Response:
    def __init__(self, raw: bytes) -> None:
        head = raw.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
        self.status = head[0]
        self.code = int(head[0].split()[1])
        self.headers = [tuple(p.strip() for p in line.split(":", 1)) for line in head[1:]]

    def first(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class SipClient:
    """REGISTER over UDP, TCP or TLS with one digest (MD5, qop=auth) round."""

    def __init__(
        self,
        registrar: Registrar,
        transport: str = "udp",
        user: str = "alice",
        password: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.registrar, self.transport, self.user = registrar, transport, user
        self.password = password or f"{user}-secret"
        host = registrar.host
        port = registrar.tls_port if transport == "tls" else registrar.port
        assert port is not None
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((host, 0))
            self.sock.connect((host, port))
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
            if transport == "tls":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # the fixture's self-signed cert
                self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.sock.settimeout(timeout)
        self.local_port = self.sock.getsockname()[1]
        self.contact = f"sip:{user}@{host}:{self.local_port};transport={transport}"
        self.uri = f"sip:{registrar.domain}"
        self.call_id = f"{uuid.uuid4().hex}@fixture-test"
        self.tag = uuid.uuid4().hex[:10]
        self.cseq = 0
        self.buffer = b""

    def __enter__(self) -> SipClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.sock.close()

    def request(self, expires: int, authorization: str | None = None) -> Response:
        self.cseq += 1
        domain, branch = self.registrar.domain, uuid.uuid4().hex[:16]
        lines = [
            f"REGISTER {self.uri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport.upper()} {self.registrar.host}:{self.local_port}"
            f";rport;branch=z9hG4bK{branch}",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{domain}>;tag={self.tag}",
            f"To: <sip:{self.user}@{domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: <{self.contact}>",
            f"Expires: {expires}",
            *([f"Authorization: {authorization}"] if authorization else []),
            "Content-Length: 0",
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:  # skip provisional responses and strays from earlier requests
            response = self._receive()
            if response.code >= 200 and response.first("CSeq") == f"{self.cseq} REGISTER":
                return response

    def register(self, expires: int, password: str | None = None) -> tuple[Response, Response]:
        """Returns the first response (the challenge) and the final one."""
        first = self.request(expires)
        if first.code != 401:
            return first, first
        challenge = dict(re.findall(r'(\w+)="?([^",]*)"?', first.first("WWW-Authenticate") or ""))
        realm, nonce = challenge["realm"], challenge["nonce"]
        ha1 = md5(f"{self.user}:{realm}:{password or self.password}")
        ha2 = md5(f"REGISTER:{self.uri}")
        auth = f'Digest username="{self.user}", realm="{realm}", nonce="{nonce}", uri="{self.uri}"'
        if challenge.get("qop") == "auth":
            cnonce = uuid.uuid4().hex[:16]
            digest = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
            auth += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
        else:
            digest = md5(f"{ha1}:{nonce}:{ha2}")
        return first, self.request(expires, f'{auth}, algorithm=MD5, response="{digest}"')

    def _receive(self) -> Response:
        if self.transport == "udp":
            return Response(self.sock.recv(65535))
        while True:  # a stream: one message is the head plus Content-Length bytes
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                match = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
                length = int(match.group(1)) if match else 0
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    return Response(head + sep)
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("registrar closed the connection")
            self.buffer += chunk


def test_udp_digest_register_binding_and_unregister(kamailio: Registrar) -> None:
    with SipClient(kamailio, "udp") as client:
        challenge, final = client.register(300)
        assert challenge.code == 401
        www = challenge.first("WWW-Authenticate") or ""
        assert f'realm="{kamailio.domain}"' in www
        assert 'qop="auth"' in www
        assert final.code == 200, final.status

        [binding] = kamailio.contacts_of("alice")
        assert binding.call_id == client.call_id
        assert binding.contact == client.contact
        assert binding.cseq == client.cseq
        assert binding.expires is not None
        assert 290 <= binding.expires <= 300

        _, removed = client.register(0)
        assert removed.code == 200
        assert kamailio.contacts_of("alice") == []


def test_too_brief_expires_gets_423_with_min_expires(kamailio: Registrar) -> None:
    with SipClient(kamailio, "udp", user="bob") as client:
        _, final = client.register(30)
    assert final.code == 423
    assert final.first("Min-Expires") == "60"
    assert kamailio.ul_dump() == []


def test_tcp_registration(kamailio: Registrar) -> None:
    with SipClient(kamailio, "tcp", user="carol") as client:
        _, final = client.register(120)
        assert final.code == 200, final.status
        [binding] = kamailio.contacts_of("carol")
    assert binding.contact == client.contact
    assert binding.socket == f"tcp:{kamailio.host}:{kamailio.port}"
    assert binding.received == f"sip:{kamailio.host}:{client.local_port};transport=tcp"


def test_tls_registration(kamailio_tls: Registrar) -> None:
    assert kamailio_tls.tls_port is not None
    with SipClient(kamailio_tls, "tls") as client:
        _, final = client.register(120)
        assert final.code == 200, final.status
    [binding] = kamailio_tls.contacts_of("alice")
    assert binding.socket == f"tls:{kamailio_tls.host}:{kamailio_tls.tls_port}"


def test_factory_options_and_live_users(kamailio_factory: RegistrarFactory) -> None:
    registrar = kamailio_factory(
        min_expires=120, auth_qop=False, users={"dave": "pw"}, realm="sip.test"
    )
    assert registrar.domain == "sip.test"
    assert registrar.users() == {"dave": "pw"}
    with SipClient(registrar, "udp", user="dave", password="pw") as client:
        challenge, final = client.register(60)
    assert "qop" not in (challenge.first("WWW-Authenticate") or "")
    assert 'realm="sip.test"' in (challenge.first("WWW-Authenticate") or "")
    assert (final.code, final.first("Min-Expires")) == (423, "120")

    with SipClient(registrar, "udp", user="erin") as client:
        assert client.register(300)[1].code == 401  # unknown: challenged again
        registrar.add_user("erin", "erin-secret")
        assert client.register(300)[1].code == 200
    assert registrar.users() == {"dave": "pw", "erin": "erin-secret"}
    assert [b.aor for b in registrar.ul_dump()] == ["erin"]


def test_stop_silences_it_and_start_brings_it_back(kamailio: Registrar) -> None:
    group = kamailio.pid
    assert group is not None
    kamailio.stop()
    assert not kamailio.is_running()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # no worker left behind
    with (
        SipClient(kamailio, "udp", timeout=1) as client,
        pytest.raises((TimeoutError, ConnectionRefusedError)),
    ):
        client.request(300)

    kamailio.start()
    assert kamailio.is_running()
    assert kamailio.ul_dump() == []  # bindings live in memory only
    with SipClient(kamailio, "udp") as client:
        assert client.register(300)[1].code == 200
    assert len(kamailio.contacts_of("alice")) == 1
