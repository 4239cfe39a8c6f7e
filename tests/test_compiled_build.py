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
CORE = [
    f"sipprofile.server.sip.{p.stem}"
    for p in Path(sip.__file__).parent.glob("*.py")
    if p.stem != "__init__"
]
#: setup.py's HOT_GLUE, as module names.
HOT_GLUE = [
    "sipprofile.server.bus.wire",
    "sipprofile.server.bus.values",
    "sipprofile.server.bus.signals",
    "sipprofile.server.engine.status_batch",
    "sipprofile.server.engine.timers",
    "sipprofile.server.engine.profile_config",
    "sipprofile.server.engine.resting",
    "sipprofile.server.engine.flag",
    "sipprofile.server.engine.servers",
    "sipprofile.server.engine.session_base",
    "sipprofile.server.engine.session_reg_event",
    "sipprofile.server.engine.session_moves",
    "sipprofile.server.engine.session_rest",
    "sipprofile.server.engine.session",
    "sipprofile.server.registry.model",
    "sipprofile.server.registry.events",
    "sipprofile.server.registry.live",
    "sipprofile.server.store.profiles",
    "sipprofile.server.transport.dispatch",
    "sipprofile.server.transport.udp",
]


def test_the_core_is_the_build_expected() -> None:
    assert sip.compiled() is EXPECT_COMPILED


def test_every_compiled_module_comes_from_the_same_build() -> None:
    # In the compiled build the package directory holds the installed .py copies too.
    assert CORE
    for name in CORE + HOT_GLUE:
        module = importlib.import_module(name)
        assert str(module.__file__).endswith(".py") is not EXPECT_COMPILED, module.__file__


def test_the_list_of_hot_glue_is_setup_pys() -> None:
    """The check above covers what setup.py compiles, not a list that drifted."""
    setup = (Path(__file__).resolve().parents[1] / "setup.py").read_text()
    listed = setup[setup.index("HOT_GLUE = (") : setup.index(")", setup.index("HOT_GLUE = ("))]
    names = [line.strip().strip('",') for line in listed.splitlines()[1:] if line.strip()]
    assert [
        f"sipprofile.server.{n.removesuffix('.py').replace('/', '.')}" for n in names
    ] == HOT_GLUE
