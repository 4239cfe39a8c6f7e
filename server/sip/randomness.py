"""Random bytes for identifiers, read from the kernel's source a few kilobytes at a time.

Every registration draws a Call-ID, a From tag, a branch prefix and a client nonce,
thousands of them at start-up, and one ``getrandom`` call cost more than making the
identifier from its bytes. Bytes are taken from one pool of ``os.urandom`` output:
each byte is used once, so each identifier is as unpredictable as its own read
would be. The daemon never forks, so no two processes share a pool.
"""

from __future__ import annotations

import os
from typing import Final

#: Bytes read from the kernel at once: about a hundred registrations' worth.
POOL_BYTES: Final = 4096

_pool = b""
_taken = 0


def random_bytes(count: int) -> bytes:
    """``count`` bytes of ``os.urandom`` output that nothing else was given."""
    global _pool, _taken
    if _taken + count > len(_pool):
        _pool, _taken = os.urandom(max(POOL_BYTES, count)), 0
    start = _taken
    _taken = start + count
    return _pool[start : start + count]
