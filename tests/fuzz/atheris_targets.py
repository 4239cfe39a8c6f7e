"""Atheris entry points: one per fuzz target, for ``make fuzz``.

Run one target with libFuzzer's options and corpus directories after its name::

    PYTHONPATH=tests .venv/bin/python -m fuzz.atheris_targets message \\
        -max_total_time=60 -artifact_prefix=build/fuzz/message/ \\
        build/fuzz/message/corpus tests/fuzz/corpus/message

``--list`` prints the target names. Each target is the ``check_*`` of an
``oracles_*.py`` module (see ``_load``) that the hypothesis tests run too: an input
that raises anything but the documented error, or breaks a checked property, is a
crash, which libFuzzer writes to the artifact prefix (``crash-<sha1>``) before it
exits non-zero. A crash file replays with the same command and the file's path
instead of the corpus directories; it then becomes an ``@example`` of the matching
``test_fuzz_*.py`` test.

The SIP core is instrumented as it is imported, so only its pure-Python build is
fuzzed here (the mypyc-compiled one runs the hypothesis tests in ``make
pytest-compiled``). Without corpus directories, the run reads ``corpus/<target>/``
and adds what it finds to ``build/fuzz/<target>/corpus`` (the seeds are never
written to); without ``-artifact_prefix=``, crashes go to ``build/fuzz/<target>/``;
without ``-dict=``, ``fuzz.dict`` is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
#: Where a run writes what it finds, as ``make fuzz`` does: ``<target>/corpus`` and crashes.
BUILD = Path(__file__).resolve().parents[2] / "build" / "fuzz"
#: Words of SIP, digest, XML and JSON, and values that number and text parsers get wrong.
DICTIONARY = Path(__file__).parent / "fuzz.dict"


def _load(target: str) -> Callable[[bytes], None]:
    """The check of ``target``, its code (and the daemon's) instrumented for coverage."""
    # only `make fuzz` needs it (the `fuzz` extra): not at module level
    import atheris  # type: ignore[import-untyped, unused-ignore]

    with atheris.instrument_imports(include=["sipprofile", "fuzz"]):
        from .oracles_digest import check_challenges
        from .oracles_reginfo import check_reginfo
        from .oracles_registration import check_registration
        from .oracles_settings import check_settings
        from .oracles_sip import check_headers, check_message, check_stream

    # target name -> the check of one input, as libFuzzer gives it.
    targets: dict[str, Callable[[bytes], None]] = {
        "message": check_message,
        "stream": check_stream,
        "headers": check_headers,
        "digest": check_challenges,
        "reginfo": check_reginfo,
        "settings": check_settings,
        "registration": check_registration,
    }
    return targets[target]


def fuzz(target: str, argv: list[str]) -> None:
    """Fuzz ``target``; ``argv`` as libFuzzer reads it (``argv[0]`` a program name)."""
    import atheris  # type: ignore[import-untyped, unused-ignore]

    check = _load(target)
    work = BUILD / target
    if not any(arg.startswith("-dict=") for arg in argv):
        argv = [*argv, f"-dict={DICTIONARY}"]
    if not any(arg.startswith("-artifact_prefix=") for arg in argv):
        work.mkdir(parents=True, exist_ok=True)
        argv = [*argv, f"-artifact_prefix={work}/"]
    if not any(not arg.startswith("-") for arg in argv[1:]):
        # libFuzzer adds what it finds to the first directory: never the seeds
        (work / "corpus").mkdir(parents=True, exist_ok=True)
        argv = [*argv, str(work / "corpus"), str(CORPUS / target)]
    atheris.Setup(argv, check)
    atheris.Fuzz()


def message(argv: list[str]) -> None:
    """``parse_message`` on datagrams (``SipParseError`` only; parsed ones round-trip)."""
    fuzz("message", argv)


def stream(argv: list[str]) -> None:
    """``StreamFramer`` on a stream cut into reads (framing independent of the cuts)."""
    fuzz("stream", argv)


def headers(argv: list[str]) -> None:
    """Via, name-addr, URI, params, CSeq, auth params and sec-agree lists on one value."""
    fuzz("headers", argv)


def digest(argv: list[str]) -> None:
    """``parse_challenge`` (``DigestError`` only), the choice among them and the answer."""
    fuzz("digest", argv)


def reginfo(argv: list[str]) -> None:
    """``parse_reginfo`` (``ReginfoError`` only; no DOCTYPE; documents round-trip)."""
    fuzz("reginfo", argv)


def settings(argv: list[str]) -> None:
    """``validate_changes`` on D-Bus values (``InvalidArgument``/``ReadOnly`` only)."""
    fuzz("settings", argv)


def registration(argv: list[str]) -> None:
    """``Registration.receive`` on a REGISTER's response (never raises, stays alive)."""
    fuzz("registration", argv)


ENTRY_POINTS: dict[str, Callable[[list[str]], None]] = {
    "message": message,
    "stream": stream,
    "headers": headers,
    "digest": digest,
    "reginfo": reginfo,
    "settings": settings,
    "registration": registration,
}
NAMES = tuple(ENTRY_POINTS)


def main(argv: list[str]) -> int:
    """``TARGET [libFuzzer options] [corpus directories or crash files]``, or ``--list``."""
    if len(argv) >= 2 and argv[1] == "--list":
        print("\n".join(NAMES))
        return 0
    if len(argv) < 2 or argv[1] not in ENTRY_POINTS:
        print(f"usage: {argv[0]} {{{','.join(NAMES)}}} [libFuzzer options] [corpus...]")
        return 2
    ENTRY_POINTS[argv[1]]([f"{argv[0]} {argv[1]}", *argv[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
