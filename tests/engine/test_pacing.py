"""The pacer's arithmetic: bursts, the rate, the start window and batching."""

from __future__ import annotations

import random

import pytest

from sipprofile.server.engine.pacing import (
    Pacer,
    PacingError,
    PacingSettings,
    due_batches,
    start_times,
)


def most_within(times: list[float], span: float) -> int:
    """The largest number of ``times`` inside any half-open interval of ``span``."""
    times = sorted(times)
    best, low = 0, 0
    for high, at in enumerate(times):
        while at - times[low] >= span - 1e-12:
            low += 1
        best = max(best, high - low + 1)
    return best


def test_a_burst_at_once_then_one_slot_per_interval() -> None:
    pacer = Pacer(PacingSettings(rate=10.0, burst=3))
    assert [pacer.delay(0.0) for _ in range(5)] == pytest.approx([0, 0, 0, 0.1, 0.2])


def test_the_bucket_fills_again_while_idle() -> None:
    pacer = Pacer(PacingSettings(rate=10.0, burst=3))
    for _ in range(3):
        pacer.reserve(0.0)
    assert pacer.delay(0.1) == pytest.approx(0.0)  # one slot back after 100 ms
    assert pacer.delay(0.1) == pytest.approx(0.1)
    assert [pacer.delay(10.0) for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_no_interval_holds_more_than_the_burst_and_one() -> None:
    pacer = Pacer(PacingSettings(rate=100.0, burst=5))
    rng = random.Random(7)
    asked = sorted(rng.uniform(0, 2) for _ in range(500))
    slots = [pacer.reserve(at) for at in asked]
    assert all(slot >= at for slot, at in zip(slots, asked, strict=True))
    assert len(set(slots)) == len(slots)
    assert most_within(slots, 0.01) <= 6
    assert most_within(slots, 1.0) <= 100 + 5


def test_without_a_window_start_times_are_the_pacers_slots() -> None:
    settings = PacingSettings(rate=1000.0, burst=200)
    times = start_times(1000, 5.0, Pacer(settings))
    assert times[:200] == [5.0] * 200
    assert max(times) == pytest.approx(5.0 + 800 / 1000)
    assert times == sorted(times)  # in the order given


def test_a_window_spreads_at_random_and_the_rate_still_holds() -> None:
    rng = random.Random(3)
    settings = PacingSettings(rate=50.0, burst=10, window=60.0)
    times = start_times(1000, 100.0, Pacer(settings), random=rng.random)
    assert min(times) >= 100.0
    assert max(times) <= 100.0 + 60.0 + 1000 / 50.0
    assert most_within(times, 1.0) <= 50 + 10
    assert times != sorted(times)  # the order given is not the order started
    # spread over the window, not bunched at its start
    assert sum(t < 130.0 for t in times) < 700


def test_a_short_window_for_many_profiles_stretches_to_the_rate() -> None:
    settings = PacingSettings(rate=100.0, burst=10, window=1.0)
    times = start_times(1000, 0.0, Pacer(settings), random=random.Random(1).random)
    assert max(times) >= (1000 - 10) / 100.0 - 1e-9


def test_batches_start_late_never_early_and_stay_within_limits() -> None:
    settings = PacingSettings(rate=2000.0, burst=200)
    times = start_times(10_000, 0.0, Pacer(settings))
    batches = due_batches(times, 0.1, 200)
    assert sorted(i for _, batch in batches for i in batch) == list(range(10_000))
    for when, batch in batches:
        assert len(batch) <= 200
        assert all(times[i] <= when for i in batch)  # nobody starts before their slot
        assert max(times[i] for i in batch) - min(times[i] for i in batch) < 0.1
    starts = [when for when, _ in batches]
    assert starts == sorted(starts)
    assert len(batches) == 50  # 10,000 in bursts of 200
    assert starts[-1] == pytest.approx(9800 / 2000)


def test_a_lone_profile_starts_at_once() -> None:
    times = start_times(1, 42.0, Pacer(PacingSettings()))
    assert due_batches(times, 0.1, 200) == [(42.0, [0])]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate": 0.0}, "rate"),
        ({"rate": -1.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"burst": 0}, "burst"),
        ({"window": -0.5}, "window"),
        ({"window": float("inf")}, "window"),
        ({"window": float("nan")}, "window"),
    ],
)
def test_settings_that_cannot_work_are_refused(changes: dict[str, float], message: str) -> None:
    with pytest.raises(PacingError, match=message):
        PacingSettings(**changes)  # type: ignore[arg-type]
