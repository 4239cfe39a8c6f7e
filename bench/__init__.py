"""Benchmarks and the demo; run with ``make bench`` and ``make demo``."""
