"""The tests run against the build they were meant for (``make pytest-compiled``).

``make test`` runs the suite twice: on the editable pure-Python package, and with the
mypyc-compiled build first on PYTHONPATH (SIPPROFILE_EXPECT_COMPILED=1). Without this
check a failed or stale build would quietly run the second pass on pure Python, and a
compiled module left beside its ``.py`` in the source tree would quietly run the first
pass on compiled code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import sipprofile.server.sip as sip

EXPECT_COMPILED = os.environ.get("SIPPROFILE_EXPECT_COMPILED") == "1"
CORE = [p.stem for p in Path(sip.__file__).parent.glob("*.py") if p.stem != "__init__"]


def test_the_core_is_the_build_expected() -> None:
    assert sip.compiled() is EXPECT_COMPILED


def test_every_core_module_comes_from_the_same_build() -> None:
    # In the compiled build the package directory holds the installed .py copies too.
    assert CORE
    for name in CORE:
        module = importlib.import_module(f"sipprofile.server.sip.{name}")
        assert str(module.__file__).endswith(".py") is not EXPECT_COMPILED, module.__file__
