"""Group commit: concurrent writers (the engine's worker threads) share one transaction and one fsync.

Each caller still returns only once its own write is committed, so "durable when the method returns"
holds; what changes is that the writes queued while one commit is on its way to disk all go in the next
one. Should one write in a batch raise, the batch is rolled back and each of its writes is retried in a
transaction of its own: the error goes back to its caller alone, the others commit as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")


@dataclass(slots=True)
class _Job(Generic[T]):
    work: Callable[[Connection], T]
    result: T | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue_lock = threading.Lock()  # guards _pending
        self._commit_lock = threading.Lock()  # one leader commits at a time
        self._pending: list[_Job[Any]] = []

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction that is committed before this returns (possibly with others')."""
        job: _Job[T] = _Job(work)
        with self._queue_lock:
            self._pending.append(job)
        with self._commit_lock:
            if not job.done:  # nobody took it yet: lead, committing everything queued so far
                with self._queue_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Job[Any]]) -> None:
        try:
            try:
                self._transaction(batch)
            except Exception:  # rare: find whose write failed, and commit the others
                if len(batch) == 1:
                    raise
                for job in batch:
                    job.result, job.error = None, None
                    try:
                        self._transaction([job])
                    except Exception as exc:  # handed back to the job's own caller
                        job.error = exc
        except BaseException as exc:
            for job in batch:
                job.error = exc
        finally:
            for job in batch:
                job.done = True

    def _transaction(self, batch: list[_Job[Any]]) -> None:
        with self.engine.begin() as conn:
            for job in batch:
                job.result = job.work(conn)
