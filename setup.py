"""Build hook: compile the SIP core and the hot glue with mypyc when ``SIPPROFILE_MYPYC=1``.

Why: the SIP core (``server/sip``) is about 40 % of the daemon's CPU per registration
in pure Python; compiled by mypyc from the same type-annotated source it runs about
twice as fast, which is what keeps a box with thousands of registrations near the C
peers (``bench/registrations.py``). The metadata stays in pyproject.toml; this file
only adds the extension modules.

Why opt-in: an editable install builds extensions in place, and a compiled module next
to its ``.py`` shadows it, so edits would silently stop taking effect. Development
therefore uses the pure-Python package; ``make compiled`` (the tests of the compiled
build and ``make bench``) and packagers set ``SIPPROFILE_MYPYC=1``. Building that way
needs mypy (which provides mypyc) and a C compiler in the build environment, e.g.
``pip install --no-build-isolation`` from a venv that has them.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


#: Modules outside the core that every registration runs through, compiled with it:
#: the status signals (``bench.signals``: announcing 33 -> 19 us per registration),
#: the status batch and model, the deadlines, the UDP transport and the building of
#: each REGISTER's configuration; about 7 % less daemon CPU per registration in all
#: (``bench.registrations 5000 --ours-only``, medians of 3 alternating runs: 190 ->
#: 176 us). The session (``engine/session*.py``, one line of inheritance, as native
#: classes need) and what it holds came next: with the core's events and configs
#: built by written-out ``__init__``s (mypyc leaves a dataclass's generated one
#: interpreted), about 12 % less again (medians of 3, 224 -> 195 us); then the live
#: status and the registry's events, and the store's decoding of rows (a few % more,
#: within the noise of single runs). The flows, the keep-alives and the table of
#: resting registrations were tried too: nothing measurable. The dispatcher
#: (``transport/dispatch.py``) is compiled since it reads the branch of each
#: response's top Via itself: less work, below the spread of single runs. Not
#: ``transport/flow.py`` (``StreamFlow`` extends its ``Flow`` and ``asyncio.Protocol``;
#: interpreted classes cannot extend compiled ones).
HOT_GLUE = (
    "bus/wire.py",
    "bus/values.py",
    "bus/signals.py",
    "engine/status_batch.py",
    "engine/timers.py",
    "engine/profile_config.py",
    "engine/resting.py",
    "engine/flag.py",
    "engine/servers.py",
    "engine/session_base.py",
    "engine/session_reg_event.py",
    "engine/session_moves.py",
    "engine/session_rest.py",
    "engine/session.py",
    "registry/model.py",
    "registry/events.py",
    "registry/live.py",
    "store/profiles.py",
    "transport/dispatch.py",
    "transport/udp.py",
)


def compiled_core() -> list[object]:
    """The mypyc extensions of every module of ``server/sip``, or none."""
    if os.environ.get("SIPPROFILE_MYPYC", "") != "1":
        return []
    from mypyc.build import mypycify  # only needed when compiling

    # mypyc names modules by their path below mypy_path (pyproject.toml), so it reads
    # them through the tree of links that mirrors the installed layout, the one
    # `make typecheck` reads too (build/typecheck/sipprofile/server -> server).
    package = HERE / "build" / "typecheck" / "sipprofile"
    package.mkdir(parents=True, exist_ok=True)
    for folder in ("server", "client", "proto"):
        link = package / folder
        if not link.is_symlink():
            link.symlink_to(Path("..", "..", "..", folder), target_is_directory=True)
    modules = sorted((package / "server" / "sip").glob("*.py"))
    modules += [package / "server" / name for name in HOT_GLUE]
    return list(
        mypycify(
            ["--config-file", "pyproject.toml"] + [str(m.relative_to(HERE)) for m in modules],
            # the name of the core's package: mypyc derives each compiled package's
            # __path__ from the group's name, and another one puts sip's elsewhere
            group_name="sipprofile.server.sip",
            opt_level="3",
        )
    )


setup(ext_modules=compiled_core())
