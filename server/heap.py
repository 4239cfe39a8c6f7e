"""Handing freed heap memory back to the system after bulk work.

The C allocator keeps what Python and SQLite free for reuse, so a daemon that read
ten thousand profiles and answered ten thousand challenges at start-up would keep
that peak resident for good although little of it is still used (issue 7: about
200 bytes per registration at N = 10,000). glibc's ``malloc_trim`` returns the free
pages; other C libraries (musl) have no such call and keep theirs.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

_log = logging.getLogger(__name__)


def _find_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # no symbols of the process to look in
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_TRIM = _find_trim()


def release_free_memory() -> bool:
    """Return free heap pages to the system; False where the C library cannot."""
    if _TRIM is None:
        return False
    _TRIM(0)  # 1 if it released something, 0 if there was nothing to release
    return True
