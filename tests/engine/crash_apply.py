"""Run an apply in this process and SIGKILL it at the Nth journal step. Used by test_crash.py.

Usage: python -m tests.engine.crash_apply MANIFEST_DIR STATE_DIR STEP N
STEP is one of intent, sent, confirmed; the process dies right after the Nth write of that step, as if the
machine lost power between our journal and MISP's answer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from reconciler.engine import run
from reconciler.manifest.load import load
from reconciler.state import StateStore


def main() -> None:
    manifests, state_dir, step, nth = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    method_name = f"journal_{step}"
    original = getattr(StateStore, method_name)
    calls = {"n": 0}

    def dying(self: StateStore, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(StateStore, method_name, dying)
    desired, diags = load([manifests])
    assert not diags.has_errors()
    options = run.Options(state_dir=state_dir, parallelism=1)
    asyncio.run(run.apply(desired, options, confirm=lambda _planned: True))


if __name__ == "__main__":
    main()
