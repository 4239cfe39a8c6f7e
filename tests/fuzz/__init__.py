"""Fuzzing (issue 8): the parsers that read what a peer or a client sends.

``oracles.py`` says what each target checks; ``test_fuzz_*.py`` run the checks under
hypothesis in every ``pytest`` run, bounded; ``atheris_targets.py`` runs the same
checks under atheris for ``make fuzz``, seeded from ``corpus/<target>/``.
"""
