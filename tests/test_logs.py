"""Logging: the journal's format, the state lines, SIP traces and what they mask.

The masking is a pure function and is tested as one; tracing is tested on real
loopback sockets (UDP and TCP), through the flows the engine uses.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from privatebus import daemon_command

from sipprofile.proto.names import ERROR_PREFIX
from sipprofile.server import logs
from sipprofile.server.__main__ import parse_args
from sipprofile.server.engine.status_batch import UNBOUND, StatusBatch, StatusSink
from sipprofile.server.logs import (
    SIP_TRACE,
    TRACE_LOGGER,
    mask_secrets,
    render,
    stderr_is_journal,
    syslog_priority,
    trace_sip_from_environment,
)
from sipprofile.server.transport.flow import Target
from sipprofile.server.transport.flows import Flows

RESPONSE = "6629fae49393a05397450978507c4ef1"
AUTS = "CjkyMjA0ODAyMDU0MjI2NDMzMjk2MTE="

# ---------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", '
            f'response="{RESPONSE}", cnonce="0a4f113b", nc=00000001, qop=auth',
            'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", '
            'response="***", cnonce="0a4f113b", nc=00000001, qop=auth',
        ),
        (  # folded across lines, spaces around "=", unquoted, any case
            'Proxy-Authorization: Digest username="a",\r\n  RESPONSE\r\n =\r\n '
            f"{RESPONSE},algorithm=MD5",
            'Proxy-Authorization: Digest username="a",\r\n  RESPONSE\r\n =\r\n ***,algorithm=MD5',
        ),
        (  # AKA resynchronisation: auts, and the empty response that goes with it
            f'Authorization: Digest username="i@ims", response="", auts="{AUTS}"',
            'Authorization: Digest username="i@ims", response="", auts="***"',
        ),
        (  # a quoted-pair inside the value does not end it
            'Authorization: Digest response="ab\\"cd", qop=auth',
            'Authorization: Digest response="***", qop=auth',
        ),
        (  # cut short: masked to the end
            'Authorization: Digest response="abcdef',
            'Authorization: Digest response="***"',
        ),
        (
            'Authentication-Info: rspauth="ffee", cnonce="c", nc=00000001',
            'Authentication-Info: rspauth="***", cnonce="c", nc=00000001',
        ),
        (  # an IMS core that forgot to strip CK and IK
            'WWW-Authenticate: Digest realm="ims", nonce="bm9uY2U=", ck="0011", ik="2233"',
            'WWW-Authenticate: Digest realm="ims", nonce="bm9uY2U=", ck="***", ik="***"',
        ),
        (
            "REGISTER sip:bob:hunter2@example.com SIP/2.0",
            "REGISTER sip:bob:***@example.com SIP/2.0",
        ),
        (
            "m: <sip:carol:p%40ss@[2001:db8::1]:5060>;expires=60",
            "m: <sip:carol:***@[2001:db8::1]:5060>;expires=60",
        ),
        ("t: sips:dave:a,b$c@h.example;tag=1", "t: sips:dave:***@h.example;tag=1"),
        ('f: "Eve" <SIP:eve:pw@h>;tag=2', 'f: "Eve" <SIP:eve:***@h>;tag=2'),
        ('uri="sip:u:pw@h"', 'uri="sip:u:***@h"'),
        (
            "Call-Info: <http://u:pw@www.example.com/a.png>",
            "Call-Info: <http://u:***@www.example.com/a.png>",
        ),
    ],
)
def test_mask_secrets(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        'xresponse="keep"; myauts=keep',
        "Contact: <sip:host.example:5060>, <sip:a@b>",
        "From: <sip:alice@example.com:5060>;tag=x",
        "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1",
        "Route: <sip:[2001:db8::1]:5060;lr>",
    ],
)
def test_no_password_nothing_masked(text: str) -> None:
    assert mask_secrets(text) == text


def test_a_whole_message_with_several_authorization_headers() -> None:
    message = (
        "REGISTER sip:alice:secret1@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK7;rport\r\n"
        "f: <sip:alice@example.com>;tag=1\r\n"
        "t: <sip:alice:secret2@example.com>\r\n"
        "i: 1@h\r\nCSeq: 2 REGISTER\r\n"
        'Authorization: Digest username="alice", realm="a", nonce="n1", uri="sip:e",\r\n'
        f' response="{RESPONSE}", qop=auth, nc=00000001, cnonce="c1"\r\n'
        'Authorization: Digest username="alice", realm="b", nonce="n2", uri="sip:e", '
        'response="11112222333344445555666677778888"\r\n'
        'Proxy-Authorization: Digest username="p", realm="c", nonce="n3", uri="sip:e", '
        'response="aaaabbbbccccddddeeeeffff00001111"\r\n'
        "m: <sip:x:secret3@192.0.2.1:5060>;expires=3600\r\n"
        "l: 0\r\n\r\n"
    ).encode()
    shown = render(message)
    for secret in (
        "secret1",
        "secret2",
        "secret3",
        RESPONSE,
        "11112222333344445555666677778888",
        "aaaabbbbccccddddeeeeffff00001111",
    ):
        assert secret not in shown
    assert shown.count('response="***"') == 3
    assert 'username="alice"' in shown and 'cnonce="c1"' in shown and "nc=00000001" in shown
    assert "\r" not in shown and not shown.endswith("\n")
    assert shown.splitlines()[0] == "REGISTER sip:alice:***@example.com SIP/2.0"


def test_render_escapes_what_could_drive_a_terminal() -> None:
    shown = render(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: \x1b[2Jhi\rthere \xff\r\n\r\n")
    assert shown == "OPTIONS sip:a@b SIP/2.0\nSubject: \\x1b[2Jhi\\x0dthere \\xff"


# ---------------------------------------------------------------------- format


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``logs.setup`` reconfigures the process's logging: put pytest's back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    touched = [logging.getLogger(n) for n in (TRACE_LOGGER, *logs.QUIET_LIBRARIES)]
    levels = [lg.level for lg in touched]
    enabled = SIP_TRACE.enabled
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for lg, old in zip(touched, levels, strict=True):
            lg.setLevel(old)
        SIP_TRACE.enabled = enabled


def journal_of(path: Path) -> dict[str, str]:
    found = os.stat(path)
    return {"JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}


def test_priorities_are_sd_daemons() -> None:
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
    assert [syslog_priority(n) for n in levels] == [7, 6, 4, 3, 2]


def test_the_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    path, other = tmp_path / "stream", tmp_path / "other"
    other.write_text("")
    with path.open("w") as stream:
        assert stderr_is_journal(stream, journal_of(path))
        assert not stderr_is_journal(stream, journal_of(other))  # inherited, not ours
        assert not stderr_is_journal(stream, {})
        assert not stderr_is_journal(stream, {"JOURNAL_STREAM": "x:y"})
    assert not stderr_is_journal(io.StringIO(), journal_of(path))  # no descriptor


def test_journal_lines_carry_the_priority_on_every_line(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "stream"
    with path.open("w") as stream:
        logs.setup("debug", stream=stream, environ=journal_of(path))
        log = logging.getLogger("sipprofile.test")
        log.debug("quiet")
        log.info("profile 1: registering -> registered")
        log.warning("careful")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("it failed")
    lines = path.read_text().splitlines()
    assert lines[:4] == [
        "<7>quiet",
        "<6>profile 1: registering -> registered",
        "<4>careful",
        "<3>it failed",
    ]
    assert len(lines) > 5 and all(line.startswith("<3>") for line in lines[3:])  # the traceback
    assert lines[-1] == "<3>RuntimeError: boom"


def test_elsewhere_lines_are_readable_with_a_timestamp(tmp_path: Path, restore_logging) -> None:
    path = tmp_path / "stream"
    with path.open("w") as stream:
        logs.setup("info", stream=stream, environ={})
        logging.getLogger("sipprofile.test").debug("not shown")
        logging.getLogger("sipprofile.test").info("hello")
    [line] = path.read_text().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} sipprofiled: INFO: hello", line)


@pytest.mark.parametrize("journal", [True, False])
async def test_the_daemon_writes_the_journals_format_only_to_the_journal(
    tmp_path: Path, journal: bool
) -> None:
    """The real entry point, on a bus that is not there: it logs, then exits 1."""
    path = tmp_path / "stream"
    with path.open("wb") as stream:
        environ = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
        if journal:
            environ |= journal_of(path)
        process = await asyncio.create_subprocess_exec(
            *daemon_command(f"unix:path={tmp_path / 'nobus'}", tmp_path / "p.db"),
            stderr=stream,
            env=environ,
        )
        assert await asyncio.wait_for(process.wait(), 20) == 1
    lines = path.read_text().splitlines()
    assert lines
    if journal:
        assert all(re.match(r"<[67]>", line) for line in lines[:-1]), lines
        assert lines[-1].startswith("<3>cannot connect to the address bus")
    else:
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} sipprofiled: "
        assert all(re.match(stamp, line) for line in lines), lines
        assert re.match(stamp + "ERROR: cannot connect to the address bus", lines[-1])


def test_debug_leaves_aiosqlite_at_info(restore_logging) -> None:
    logs.setup("debug", stream=io.StringIO(), environ={})
    assert logging.getLogger("sipprofile").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)


def test_trace_sip_shows_traces_whatever_the_level(restore_logging) -> None:
    logs.setup("warning", trace_sip=True, stream=io.StringIO(), environ={})
    assert SIP_TRACE.enabled
    assert logging.getLogger(TRACE_LOGGER).isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("sipprofile").isEnabledFor(logging.INFO)
    logs.setup("debug", stream=io.StringIO(), environ={})
    assert not SIP_TRACE.enabled  # debug alone does not trace


def test_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.TRACE_ENVIRONMENT, raising=False)
    _, level, trace = parse_args(["--session"])
    assert (level, trace) == ("info", False)
    _, level, trace = parse_args(["--session", "--log-level", "debug", "--trace-sip"])
    assert (level, trace) == ("debug", True)
    monkeypatch.setenv(logs.TRACE_ENVIRONMENT, "1")
    assert parse_args(["--session"])[2] is True
    for value, wanted in [("yes", True), ("ON", True), ("0", False), ("", False), ("no", False)]:
        assert trace_sip_from_environment({logs.TRACE_ENVIRONMENT: value}) is wanted


# ---------------------------------------------------------------------- state lines


class Recorder:
    def __init__(self) -> None:
        self.status: list[dict[str, object]] = []
        self.sink = StatusSink(
            set_status=lambda _pid, **changes: self.status.append(changes),
            raise_event=lambda _pid, _event: None,
            raise_error=lambda _pid, _error, _message: None,
        )


def state_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    name = "sipprofile.server.engine.status_batch"
    return [r.getMessage() for r in caplog.records if r.name == name]


def test_one_line_per_state_change_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sipprofile.server.engine.status_batch")
    recorder = Recorder()
    batch = StatusBatch(recorder.sink, 3)
    batch.set(state="registering")
    batch.set(flow=("udp", "192.0.2.1:5060", "192.0.2.2:5060"))
    batch.apply()
    batch.set(state="registered", expires=3600, last_error=("", ""))
    batch.event("registered")
    batch.set(expires=1800, last_error=("", ""))  # a refresh: no change of state, no line
    batch.apply()
    batch.set(state="retrying", last_error=(ERROR_PREFIX + "Timeout", "no answer from 192.0.2.2"))
    batch.error(ERROR_PREFIX + "Timeout", "no answer from 192.0.2.2")
    batch.now(last_error=(ERROR_PREFIX + "TransportFailed", "refused"))  # still retrying
    batch.set(state="waiting-for-network", **UNBOUND)
    batch.now(last_error=(ERROR_PREFIX + "NetworkUnavailable", "wlan0 is down"))
    batch.now(state="unregistered", **UNBOUND)
    assert state_lines(caplog) == [
        "profile 3: unregistered -> registering",
        "profile 3: registering -> registered (expires 3600 s)",
        "profile 3: registered -> retrying: Timeout: no answer from 192.0.2.2",
        "profile 3: still retrying: TransportFailed: refused",
        "profile 3: retrying -> waiting-for-network: NetworkUnavailable: wlan0 is down",
        "profile 3: waiting-for-network -> unregistered",
    ]
    assert len(recorder.status) == 7  # the registry heard every batch, as before


def test_no_state_line_below_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="sipprofile.server.engine.status_batch")
    batch = StatusBatch(Recorder().sink, 1)
    batch.now(state="registering")
    batch.now(state="registered", expires=60)
    assert state_lines(caplog) == []
    caplog.set_level(logging.INFO, logger="sipprofile.server.engine.status_batch")
    batch.now(state="unregistered")  # the state was followed while quiet
    assert state_lines(caplog) == ["profile 1: registered -> unregistered"]


# ---------------------------------------------------------------------- tracing


@pytest.fixture
def tracing(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger=TRACE_LOGGER)
    SIP_TRACE.enabled = True
    try:
        yield caplog
    finally:
        SIP_TRACE.enabled = False


def traces(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == TRACE_LOGGER]


def register(branch: str) -> bytes:
    return (
        "REGISTER sip:user:urisecret@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch={branch}\r\n"
        "From: <sip:u@x.test>;tag=1\r\nTo: <sip:u@x.test>\r\nCall-ID: c@x\r\n"
        "CSeq: 2 REGISTER\r\n"
        f'Authorization: Digest username="u", realm="x", nonce="n", response="{RESPONSE}"\r\n'
        "Content-Length: 0\r\n\r\n"
    ).encode()


def answer(request: bytes, status: str = "200 OK") -> bytes:
    head = request.split(b"\r\n\r\n")[0].split(b"\r\n")
    copied = [h for h in head[1:] if h.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID")]
    return b"\r\n".join(
        [
            f"SIP/2.0 {status}".encode(),
            *copied,
            b"CSeq: 2 REGISTER",
            b'Authentication-Info: rspauth="0123456789abcdef"',
            b"Content-Length: 0",
            b"",
            b"",
        ]
    )


async def wait_for(check, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.005)


async def udp_exchange(flows: Flows) -> list[object]:
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(5)
    got: list[object] = []
    try:
        flows.dispatcher.expect("z9hG4bKtrace", got.append)
        flow = flows.udp_flow(Target("udp", "127.0.0.1", peer.getsockname()[1]))
        flow.send(register("z9hG4bKtrace"))
        data, source = await asyncio.to_thread(peer.recvfrom, 65535)
        peer.sendto(answer(data), source)
        await wait_for(lambda: got)
        return got
    finally:
        peer.close()


async def test_udp_messages_are_traced_masked(tracing: pytest.LogCaptureFixture) -> None:
    flows = Flows()
    try:
        await udp_exchange(flows)
    finally:
        flows.close()
    sent, received = traces(tracing)
    first, _, rest = sent.partition("\n")
    assert re.fullmatch(r"sent udp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+, \d+ bytes", first)
    assert rest.startswith("REGISTER sip:user:***@127.0.0.1 SIP/2.0\n")
    assert 'response="***"' in rest
    assert re.match(
        r"received udp 127\.0\.0\.1:\d+ <- 127\.0\.0\.1:\d+, \d+ bytes\nSIP/2.0 200", received
    )
    assert 'rspauth="***"' in received
    for secret in ("urisecret", RESPONSE, "0123456789abcdef"):
        assert secret not in tracing.text


async def test_nothing_is_traced_when_tracing_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert not SIP_TRACE.enabled
    flows = Flows()
    try:
        await udp_exchange(flows)
    finally:
        flows.close()
    assert traces(caplog) == []


async def test_tcp_messages_are_traced_masked_and_pings_are_not(
    tracing: pytest.LogCaptureFixture,
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readuntil(b"\r\n\r\n")
        writer.write(answer(data))
        await reader.read()  # until the client closes
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    flows = Flows()
    got: list[object] = []
    try:
        flows.dispatcher.expect("z9hG4bKtcp", got.append)
        flow = await flows.flow(Target("tcp", "127.0.0.1", port))
        flow.send(register("z9hG4bKtcp").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        await wait_for(lambda: got)
        flow.send(b"\r\n\r\n")  # an RFC 5626 ping: not a SIP message
        await asyncio.sleep(0.05)
    finally:
        flows.close()
        server.close()
    sent, received = traces(tracing)
    assert re.match(
        rf"sent tcp 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{port}, \d+ bytes\nREGISTER ", sent
    )
    assert re.match(
        rf"received tcp 127\.0\.0\.1:\d+ <- 127\.0\.0\.1:{port}, \d+ bytes\nSIP/2.0 200", received
    )
    assert 'response="***"' in sent and 'rspauth="***"' in received
    for secret in ("urisecret", RESPONSE, "0123456789abcdef"):
        assert secret not in tracing.text
