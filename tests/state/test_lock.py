"""The lock: one holder per instance, across processes; the refusal names the holder and the way out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reconciler.state import LockHeld, StateStore, lock

ROOT = Path(__file__).parents[2]


def hold(url: str, who: str, wait: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.state.hold_lock", url, "prod", who, str(wait)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def url_of(store: StateStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_a_second_holder_is_refused_with_the_holder_named(store: StateStore) -> None:
    with store.lock("prod", who="alice", host="ci-1", pid=4242):
        with pytest.raises(LockHeld) as refused, store.lock("prod", who="bob", host="laptop", pid=1):
            pass
        holder = store.lock_holder("prod")

    message = str(refused.value)
    assert "alice@ci-1 (pid 4242) since " in message
    assert "misp-reconcile state unlock --force" in message and "two applies" in message
    assert holder is not None and (holder.who, holder.host, holder.pid) == ("alice", "ci-1", 4242)
    assert store.lock_holder("prod") is None


def test_other_instances_are_not_blocked(store: StateStore) -> None:
    with store.lock("prod", who="a", host="h", pid=1), store.lock("staging", who="b", host="h", pid=2):
        assert store.lock_holder("staging") is not None


def test_the_lock_is_released_when_the_body_raises(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.lock("prod", who="a", host="h", pid=1):
        raise RuntimeError("apply failed")
    assert store.lock_holder("prod") is None


def test_a_waiter_gets_the_lock_once_it_is_released(store: StateStore) -> None:
    got_it = threading.Event()

    def second() -> None:
        with store.lock("prod", who="bob", host="h", pid=2, wait=10):
            got_it.set()

    with store.lock("prod", who="alice", host="h", pid=1):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)
        assert not got_it.is_set()
    waiter.join(timeout=10)
    assert got_it.is_set()


def test_force_unlock_removes_the_holder_and_the_old_holder_cannot_release_the_new(store: StateStore) -> None:
    alice = lock.acquire(store.engine, "prod", who="alice", host="h", pid=1)
    removed = store.force_unlock("prod")
    bob = lock.acquire(store.engine, "prod", who="bob", host="h", pid=2)

    assert removed is not None and removed.who == "alice"
    assert lock.release(store.engine, "prod", alice) is False  # alice finishing late leaves bob's lock alone
    holder = store.lock_holder("prod")
    assert holder is not None and holder.who == "bob"
    assert lock.release(store.engine, "prod", bob) is True
    assert store.force_unlock("prod") is None


def test_a_stale_lock_from_a_dead_process_on_this_host_says_so(store: StateStore) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    with (store.lock("prod", who="ghost", host=socket.gethostname(), pid=int(dead.stdout)),
          pytest.raises(LockHeld, match="no longer running on this host"),
          store.lock("prod", who="me", host=socket.gethostname(), pid=os.getpid())):
        pass


def test_two_processes_take_the_lock_at_once(store: StateStore) -> None:
    """Real processes, same database: one holds the lock, the other is refused naming it, a third waits."""
    url = url_of(store)
    first = hold(url, "alice")
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline().strip() == "locked"

    refused = hold(url, "bob")
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 3
    assert f"alice@{socket.gethostname()} (pid {first.pid})" in out

    waiter = hold(url, "carol", wait=30)
    time.sleep(1.0)  # carol is polling now
    first.stdin.close()
    assert first.wait(timeout=30) == 0
    out, _ = waiter.communicate(input="", timeout=60)
    assert (waiter.returncode, out.strip()) == (0, "locked")
    assert store.lock_holder("prod") is None


def test_two_processes_racing_for_a_fresh_database_both_see_one_schema(state_url: str) -> None:
    """Both processes create the schema of the same empty database at once; then one gets the lock."""
    url = state_url
    procs = [hold(url, f"p{n}") for n in range(2)]
    lines = sorted(p.stdout.readline().strip() if p.stdout else "" for p in procs)
    for proc in procs:
        proc.communicate(input="", timeout=60)
    assert lines[1] == "locked"
    assert lines[0].startswith("The state of 'prod' is locked by p")
