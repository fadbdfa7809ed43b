"""What keeps a large plan cheap without changing it: the collector paused for allocation bursts, and
summaries instead of full reprs for the structures a plan returns."""

from __future__ import annotations

import gc

from reconciler.engine.bulk import gc_paused
from reconciler.engine.live import Live
from reconciler.kinds._kind import LiveObject


def test_gc_paused_turns_the_collector_back_on_even_after_an_error() -> None:
    assert gc.isenabled()
    try:
        with gc_paused():
            assert not gc.isenabled()
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_gc_paused_leaves_a_collector_the_caller_paused_alone() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_live_shows_counts_not_objects() -> None:
    live = Live()
    for i in range(3):
        live.put("users", LiveObject(key=f"u{i}@example.org", id=str(i), fields={"email": f"u{i}@example.org"}))

    assert repr(live) == "Live(users: 3)"
