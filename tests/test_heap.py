"""Freed heap memory goes back to the system after bulk work (``server.heap``)."""

from __future__ import annotations

import platform

import pytest

from sipprofile.server.heap import release_free_memory


def resident_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_memory_is_handed_back() -> None:
    """40 MB in 1 KB pieces (the C allocator's, not Python's small-object arenas) are
    freed but stay resident until trimmed; a piece kept at the end stops the heap
    from shrinking by itself, as a daemon's live objects do."""
    pieces = [bytes(1024) + i.to_bytes(4, "big") for i in range(40_000)]
    keep = bytes(1024) + b"last"
    del pieces
    before = resident_kib()
    assert release_free_memory()
    after = resident_kib()
    assert before - after > 20_000, (before, after)
    assert keep  # still there
