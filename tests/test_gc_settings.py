"""The daemon tunes the garbage collector once started (``settle_garbage_collector``)."""

from __future__ import annotations

import gc

from sipprofile.server.daemon import GC_YOUNG_THRESHOLD, settle_garbage_collector


def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        young, middle, old = gc.get_threshold()
        assert young == GC_YOUNG_THRESHOLD > before[0]
        assert (middle, old) == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
