"""Take the state lock in a separate process. Used by test_lock.py.

Usage: python -m tests.state.hold_lock URL INSTANCE WHO WAIT
Prints "locked" once it holds the lock and keeps it until its stdin closes, then releases it and exits 0.
If the lock is held by someone else after WAIT seconds, prints the LockHeld message and exits 3.
"""

from __future__ import annotations

import os
import socket
import sys

from reconciler.state import LockHeld, StateStore


def main() -> int:
    url, instance, who, wait = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    store = StateStore.open(url)
    try:
        with store.lock(instance, who=who, host=socket.gethostname(), pid=os.getpid(), wait=wait):
            print("locked", flush=True)
            sys.stdin.read()
    except LockHeld as exc:
        print(exc, flush=True)
        return 3
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
