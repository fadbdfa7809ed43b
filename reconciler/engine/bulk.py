"""Pausing the cyclic garbage collector while the engine builds large structures in one go.

A plan of a large instance allocates some 100,000 objects in a few bursts (live objects parsed from the
list answers, their canonical values, the diff's targets) that all stay alive until the plan is done and
form no reference cycles. CPython's cyclic collector runs by allocation count, so during such a burst it
walks the young objects every few hundred allocations and, now and then, everything alive (the manifests
included) — finding nothing to free. Pausing it for the burst leaves one walk of the new objects afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off for a synchronous burst of allocations; never across an await, so that other
    tasks on the loop (an in-process sandbox) run as usual. Leaves a collector paused by the caller alone."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def keep_for_the_run() -> None:
    """Objects alive now (the manifests just loaded: ~100,000 for a large instance) live until the process
    ends. Frozen out of the collector's sight (gc.freeze), the plan's full collections no longer walk them
    again and again. Collected first: garbage left by loading must not be frozen with them (it would never be
    freed), and the full collection their allocation made due is paid here, not in the middle of the plan."""
    gc.collect()
    gc.freeze()
