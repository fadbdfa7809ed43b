"""Summaries instead of full reprs for the structures a plan returns."""

from __future__ import annotations

from reconciler.engine.live import Live
from reconciler.kinds._kind import LiveObject


def test_live_shows_counts_not_objects() -> None:
    live = Live()
    for i in range(3):
        live.put("users", LiveObject(key=f"u{i}@example.org", id=str(i), fields={"email": f"u{i}@example.org"}))

    assert repr(live) == "Live(users: 3)"
