"""Random bytes from the pool: each byte given once, every draw whole, across refills."""

from __future__ import annotations

from sipprofile.server.sip import randomness
from sipprofile.server.sip.randomness import POOL_BYTES, random_bytes


def test_draws_are_whole_and_never_repeat_across_refills() -> None:
    sizes = [26, 18, 1, 26, 18] * (3 * POOL_BYTES // 89 + 1)  # three pools' worth and more
    draws = [random_bytes(size) for size in sizes]
    assert [len(d) for d in draws] == sizes
    long = [d for d in draws if len(d) >= 18]
    assert len(set(long)) == len(long)  # 144 random bits: a repeat means reuse


def test_a_draw_larger_than_the_pool_is_read_whole() -> None:
    big = random_bytes(POOL_BYTES + 5)
    assert len(big) == POOL_BYTES + 5
    assert random_bytes(16) not in big


def test_a_draw_takes_the_bytes_after_the_last_one() -> None:
    """Bytes are consumed in order, none skipped and none given twice, until a refill."""
    random_bytes(POOL_BYTES)  # empty what is left, so the next draw starts a new pool
    first = random_bytes(10)
    second = random_bytes(20)
    pool = randomness._pool
    assert pool[:10] == first
    assert pool[10:30] == second
