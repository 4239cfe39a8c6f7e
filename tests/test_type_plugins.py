"""Profile type plug-ins from the ``sipprofile.types`` entry-point group, end to end.

The daemon runs as a subprocess with ``tests/plugins`` on its PYTHONPATH, where a
distribution's metadata (``sipprofile_test_types-0.1.dist-info``) declares three entry
points: a working type, one whose module fails to import, and one that is not a
``ProfileType``. The working one is served and registers as it says; the others are
logged and skipped, and the daemon serves everything else.
"""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from busutil import CallFailed, raw_bus
from conftest import daemon_command, wait_for_name
from interop.scripted import (  # noqa: F401
    ScriptedRegistrar,
    scripted_registrar,
    scripted_registrar_factory,
)
from interop.waiting import wait_state

from sipprofile.proto import names

PLUGINS = Path(__file__).resolve().parent / "plugins"


async def test_a_plugin_type_is_served_and_registers_its_way_broken_ones_are_skipped(
    scripted_registrar: ScriptedRegistrar, dbus_address: str, tmp_path: Path
) -> None:
    paths = [str(PLUGINS), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *daemon_command(dbus_address, tmp_path / "profiles.db"), stderr=log, env=env
        )
        try:
            await wait_for_name(dbus_address)
            async with raw_bus(dbus_address) as raw:
                types = [tuple(t) for t in await raw.registry("SupportedTypes")]
                assert types == [("internet", "IETF"), ("ims", "ims"), ("other", "test-trunk")]
                with pytest.raises(CallFailed) as refused:  # the type's own validation
                    await raw.create(Type="test-trunk", Aor="sip:trunk@example.com")
                assert refused.value.name == names.Error.INVALID_ARGUMENT
                assert "needs Registrar.Uri" in str(refused.value)
                path = await raw.create(
                    Type="test-trunk",
                    Aor="sip:trunk@example.com",
                    Registrar={"Uri": scripted_registrar.uri},
                )
                props = await raw.get_all(path)
                assert props["AutoRegistration"] is True  # the type's default
                assert props["TypeClass"] == "other"
                await wait_state(raw, path, "registered")
                [first] = scripted_registrar.registers[:1]
                assert first.request.headers.get("Expires") == "120"  # the type's expiry
                supported = first.request.headers.get("Supported") or ""
                assert "timer" in [t.strip() for t in supported.split(",")]
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 10)
    text = log_path.read_text()
    assert "profile type plug-in broken failed to load; skipped" in text
    assert "this plug-in is broken on purpose" in text
    assert "plug-in not-a-type is not a ProfileType; skipped" in text
