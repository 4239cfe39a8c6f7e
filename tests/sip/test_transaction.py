"""Non-INVITE client transaction (RFC 3261 §17.1.2) driven by a fake clock."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from sipprofile.server.sip.transaction import (
    T1,
    T2,
    T4,
    ClientTransaction,
    ResponseReceived,
    Send,
    State,
    TimedOut,
    TransportFailed,
)


@dataclass(frozen=True)
class Resp:
    status: int


def run_until(tx: ClientTransaction, end: float) -> list[tuple[float, object]]:
    """Fire every deadline up to ``end``; returns (time, event) pairs."""
    seen = []
    while (deadline := tx.next_deadline()) is not None and deadline <= end:
        seen += [(deadline, e) for e in tx.timer(deadline)]
    return seen


def test_udp_retransmits_doubling_to_t2_then_times_out_at_64_t1() -> None:
    tx = ClientTransaction(b"REGISTER", reliable=False)
    assert tx.start(0.0) == [Send(b"REGISTER")]
    events = run_until(tx, 100.0)
    sends = [t for t, e in events if isinstance(e, Send)]
    # E doubles from T1: 0.5, 1.5, 3.5, 7.5, then every T2 (4 s) until F at 32 s
    assert sends[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(b - a == pytest.approx(T2) for a, b in itertools.pairwise(sends[3:]))
    assert sends[-1] < 64 * T1
    assert events[-1] == (64 * T1, TimedOut())
    assert tx.state is State.TERMINATED
    assert tx.next_deadline() is None


def test_tcp_never_retransmits() -> None:
    tx = ClientTransaction(b"REGISTER", reliable=True)
    tx.start(0.0)
    events = run_until(tx, 100.0)
    assert events == [(64 * T1, TimedOut())]


def test_provisional_moves_to_proceeding_and_retransmits_every_t2() -> None:
    tx = ClientTransaction(b"R", reliable=False)
    tx.start(0.0)
    assert tx.receive(Resp(100), 0.2) == [ResponseReceived(Resp(100), final=False)]
    assert tx.state is State.PROCEEDING
    events = run_until(tx, 10.0)
    sends = [t for t, e in events if isinstance(e, Send)]
    assert sends[0] == 0.5  # E armed before the 1xx still fires once
    assert sends[1] - sends[0] == pytest.approx(T2)


def test_final_on_udp_waits_timer_k_absorbing_retransmissions() -> None:
    tx = ClientTransaction(b"R", reliable=False)
    tx.start(0.0)
    assert tx.receive(Resp(200), 1.0) == [ResponseReceived(Resp(200), final=True)]
    assert tx.state is State.COMPLETED
    assert tx.receive(Resp(200), 1.1) == []  # retransmitted final absorbed
    assert tx.next_deadline() == pytest.approx(1.0 + T4)
    assert run_until(tx, 100.0) == []
    assert tx.terminated


def test_final_on_tcp_terminates_at_once() -> None:
    tx = ClientTransaction(b"R", reliable=True)
    tx.start(0.0)
    [event] = tx.receive(Resp(401), 0.1)
    assert event == ResponseReceived(Resp(401), final=True)
    assert tx.terminated
    assert tx.next_deadline() is None


def test_transport_error_terminates_once() -> None:
    tx = ClientTransaction(b"R", reliable=True)
    tx.start(0.0)
    assert tx.transport_error("connection reset") == [TransportFailed("connection reset")]
    assert tx.transport_error("again") == []
    assert tx.receive(Resp(200), 1.0) == []


def test_start_twice_is_a_programming_error() -> None:
    tx = ClientTransaction(b"R", reliable=True)
    tx.start(0.0)
    with pytest.raises(RuntimeError):
        tx.start(1.0)
