"""The sans-I/O SIP core: bytes and ``now`` in; events, bytes out and deadlines out."""

from __future__ import annotations


def compiled() -> bool:
    """Whether this is the mypyc-compiled build of the core (setup.py, ``make compiled``).

    Reported by the daemon at start and by the benchmarks, because the two builds differ
    by about a factor of two in CPU and a number means little without saying which ran.
    """
    return not __file__.endswith(".py")
