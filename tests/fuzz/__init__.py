"""Fuzzing (issue 8): the parsers that read what a peer or a client sends.

``oracles_<target>.py`` say what each target checks (``oracles_sip.py`` the ``message``,
``stream`` and ``headers`` targets; ``oracles_common.py`` the seed corpus they share);
``test_fuzz_*.py`` run the checks under hypothesis in every ``pytest`` run, bounded;
``atheris_targets.py`` runs the same checks under atheris for ``make fuzz``, seeded
from ``corpus/<target>/``.

Each ``check_*`` takes one input and returns normally when the code under test did
what it documents: either it raised the documented error (and only that), or it
accepted the input and the result has the properties checked (a parsed message
written out again parses to the same message, a parsed challenge written out again
reads the same, and so on). Anything else escapes: an unexpected exception, or an
``AssertionError`` saying which property failed. The hypothesis tests call these with
structured inputs; ``atheris_targets.py`` calls them with the bytes libFuzzer makes
up. No ``oracles_*.py`` imports atheris or hypothesis.
"""
