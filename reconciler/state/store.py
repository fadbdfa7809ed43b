"""StateStore: the one object the engine and the CLI use. Each write method is one committed transaction.

Every write is durable when the method returns (writes from concurrent threads may share one commit, see
group.py), so the engine may make its HTTP call right after
`journal_sent`. Methods are synchronous and short; the engine's concurrent operations (one asyncio loop)
interleave between calls, never inside one. SQLAlchemy's connection pool makes them safe from threads too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from reconciler.state import approvers, journal, ledger, lineage, lock, migrate, runs, transfer
from reconciler.state import audit as audit_log
from reconciler.state.approvers import PinnedApprovers
from reconciler.state.audit import AuditRecord, VerifyResult
from reconciler.state.db import create_engine, reading
from reconciler.state.errors import BadExport, StateUnavailable, UnknownRevision
from reconciler.state.group import GroupCommit
from reconciler.state.journal import JournalEntry, Status
from reconciler.state.ledger import OwnedObject
from reconciler.state.lineage import Lineage
from reconciler.state.lock import LockInfo
from reconciler.state.runs import RunRecord

APPEND_ATTEMPTS = 5  # concurrent appenders to one chain collide on its key at most this often in a row
T = TypeVar("T")


class StateStore:
    """The state of one database, which may hold several instances (each call names its instance)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._run_instances: dict[int, str] = {}  # run id → instance: saves a query per journal intent
        self._group = GroupCommit(engine)  # the engine's frequent writes from many threads share commits

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> StateStore:
        """Open any SQLAlchemy URL; with `upgrade`, create or migrate the schema to the newest revision."""
        store = cls(create_engine(url))
        try:
            store.check_revision(allow_old=upgrade)
            if upgrade and store.revision() != migrate.head_revision():
                migrate.upgrade(store.engine)
        except OperationalError as exc:  # unreachable server, bad credentials, unwritable file
            store.close()
            raise StateUnavailable(f"cannot open the state database {store.url}: {exc.orig}") from exc
        return store

    @classmethod
    def connect(cls, url: str) -> StateStore:
        """Open without checking or migrating the schema: for `state migrate`, which reports both ends."""
        return cls(create_engine(url))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- schema --------------------------------------------------------------------------------------

    def revision(self) -> str | None:
        return migrate.current_revision(self.engine)

    def check_revision(self, *, allow_old: bool) -> None:
        current, head = self.revision(), migrate.head_revision()
        if current == head or (allow_old and current in migrate.known_revisions() | {None}):
            return
        if current not in migrate.known_revisions():
            raise UnknownRevision(f"the state database {self.url} is at schema revision {current}, which this "
                                  f"version of misp-reconciler does not know (newest: {head}): upgrade "
                                  "misp-reconciler")
        raise UnknownRevision(f"the state database {self.url} is at schema revision {current or 'none'}, "
                              f"not {head}: run `misp-reconcile state migrate`")

    def migrate(self) -> tuple[str | None, str | None]:
        return migrate.upgrade(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _commit(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in a transaction committed before this returns; writes from other threads waiting
        meanwhile share that commit (see group.py)."""
        return self._group.run(work)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with reading(self.engine) as conn:
            yield conn

    # -- lineage -------------------------------------------------------------------------------------

    def lineage(self, instance: str) -> Lineage | None:
        with self._read() as conn:
            return lineage.get(conn, instance)

    def set_lineage(self, instance: str, misp_uuid: str) -> None:
        with self._write() as conn:
            lineage.set_uuid(conn, instance, misp_uuid)

    def bump_serial(self, instance: str) -> int:
        with self._write() as conn:
            return lineage.bump_serial(conn, instance)

    # -- approvers pinned by a signed apply (engine/approvals.py) ----------------------------------------

    def approvers(self, instance: str) -> PinnedApprovers | None:
        with self._read() as conn:
            return approvers.get(conn, instance)

    def pin_approvers(self, instance: str, keyring: str, fingerprints: tuple[str, ...], min: int,
                      run_id: int | None) -> None:
        with self._write() as conn:
            approvers.pin(conn, instance, keyring, fingerprints, min, run_id)

    def unpin_approvers(self, instance: str) -> bool:
        with self._write() as conn:
            return approvers.unpin(conn, instance)

    def instances(self) -> list[str]:
        """Every instance this database holds anything for."""
        with self._read() as conn:
            return sorted(set(lineage.instances(conn)) | set(audit_log.instances(conn)))

    # -- lock ----------------------------------------------------------------------------------------

    @contextmanager
    def lock(self, instance: str, *, who: str, host: str, pid: int, wait: float = 0.0) -> Iterator[None]:
        token = lock.acquire(self.engine, instance, who=who, host=host, pid=pid, wait=wait)
        try:
            yield
        finally:
            lock.release(self.engine, instance, token)

    def lock_holder(self, instance: str) -> LockInfo | None:
        return lock.holder(self.engine, instance)

    def force_unlock(self, instance: str) -> LockInfo | None:
        return lock.force_unlock(self.engine, instance)

    # -- ledger --------------------------------------------------------------------------------------

    def ledger(self, instance: str, *, times: bool = True) -> dict[tuple[str, str], OwnedObject]:
        """Every owned object of `instance`; times=False leaves updated_at None (cheaper: plans never show it)."""
        with self._read() as conn:
            return ledger.load(conn, instance, times=times)

    def owned_kinds(self, instance: str) -> set[str]:
        """The kinds the ledger holds objects of, without loading the whole ledger."""
        with self._read() as conn:
            return ledger.kinds(conn, instance)

    def owned(self, instance: str, kind: str, key: str) -> OwnedObject | None:
        """One ledger row, without loading the whole ledger."""
        with self._read() as conn:
            return ledger.get(conn, instance, kind, key)

    def owned_by_id(self, instance: str, kind: str, misp_id: str) -> list[OwnedObject]:
        """The ledger rows of one kind that point at one MISP object (more than one only mid-rename)."""
        with self._read() as conn:
            return ledger.by_misp_id(conn, instance, kind, misp_id)

    def own(self, instance: str, obj: OwnedObject) -> None:
        self._commit(lambda conn: ledger.own(conn, instance, obj))

    def disown(self, instance: str, kind: str, key: str) -> bool:
        return self._commit(lambda conn: ledger.disown(conn, instance, kind, key))

    # -- runs ----------------------------------------------------------------------------------------

    def start_run(self, instance: str, *, command: str, who: str, host: str, git_commit: str | None = None,
                  manifest_hash: str | None = None, plan_hash: str | None = None) -> int:
        with self._write() as conn:
            run_id = runs.start(conn, instance, command=command, who=who, host=host, git_commit=git_commit,
                                manifest_hash=manifest_hash, plan_hash=plan_hash)
        self._run_instances[run_id] = instance
        return run_id

    def finish_run(self, run_id: int, *, outcome: str, counts: dict[str, int] | None = None) -> None:
        with self._write() as conn:
            runs.finish(conn, run_id, outcome, counts or {})

    def runs(self, instance: str, *, limit: int | None = None) -> list[RunRecord]:
        with self._read() as conn:
            return runs.recent(conn, instance, limit)

    def run(self, run_id: int) -> RunRecord:
        with self._read() as conn:
            return runs.get(conn, run_id)

    def _instance_of(self, conn: Connection, run_id: int) -> str:
        if run_id not in self._run_instances:
            self._run_instances[run_id] = runs.instance_of(conn, run_id)
        return self._run_instances[run_id]

    # -- journal -------------------------------------------------------------------------------------

    def journal_intent(self, run_id: int, kind: str, key: str, action: str,
                       detail: dict[str, Any] | None = None) -> JournalEntry:
        return self._commit(lambda conn: journal.intent(conn, run_id, self._instance_of(conn, run_id), kind=kind,
                                                        key=key, action=action, detail=detail or {}))

    def journal_sent(self, op: JournalEntry, request_id: str | None = None) -> JournalEntry:
        return self._commit(lambda conn: journal.move(conn, op, Status.SENT, request_id=request_id or None))

    def journal_confirmed(self, op: JournalEntry, *, misp_id: str | None = None, uuid: str | None = None,
                          own: OwnedObject | None = None, disown: Iterable[str] = (),
                          audit: dict[str, Any] | None = None) -> JournalEntry:
        """Confirm an operation; in the same transaction, optionally, the ledger follows (`own` the object,
        `disown` keys of its kind, e.g. its name before a rename) and its audit record is appended: an
        object's confirmation, ownership and audit record are written all together or not at all."""

        def confirm(conn: Connection) -> JournalEntry:
            confirmed = journal.move(conn, op, Status.CONFIRMED, misp_id=misp_id, uuid=uuid)
            self._follow(conn, confirmed, own, disown, audit)
            return confirmed

        return self._retrying(lambda: self._commit(confirm))

    def journal_unsent(self, run_id: int, kind: str, key: str, action: str, detail: dict[str, Any], *,
                       misp_id: str | None, uuid: str | None, own: OwnedObject | None = None,
                       audit: dict[str, Any] | None = None) -> JournalEntry:
        """An operation that sends MISP nothing (adopting an object as it is): with no request for intent and
        sent to guard, it is journalled confirmed at once, with its ledger row and audit record, in one
        transaction."""

        def record(conn: Connection) -> JournalEntry:
            done = journal.intent(conn, run_id, self._instance_of(conn, run_id), kind=kind, key=key, action=action,
                                  detail=detail, status=Status.CONFIRMED, misp_id=misp_id, uuid=uuid)
            self._follow(conn, done, own, (), audit)
            return done

        return self._retrying(lambda: self._commit(record))

    @staticmethod
    def _follow(conn: Connection, op: JournalEntry, own: OwnedObject | None, disown: Iterable[str],
                audit: dict[str, Any] | None) -> None:
        for key in disown:
            ledger.disown(conn, op.instance, op.kind, key)
        if own is not None:
            ledger.own(conn, op.instance, own)
        if audit is not None:
            audit_log.append(conn, op.instance, op.run_id, audit)

    def journal_failed(self, op: JournalEntry, error: str) -> JournalEntry:
        return self._commit(lambda conn: journal.move(conn, op, Status.FAILED, error=error))

    def resolve_operation(self, op: JournalEntry, outcome: str) -> JournalEntry:
        with self._write() as conn:
            return journal.move(conn, op, Status.RESOLVED, error=outcome)

    def unfinished_operations(self, instance: str) -> list[JournalEntry]:
        with self._read() as conn:
            return journal.unfinished(conn, instance)

    def journal(self, run_id: int) -> list[JournalEntry]:
        with self._read() as conn:
            return journal.of_run(conn, run_id)

    # -- audit ---------------------------------------------------------------------------------------

    def audit_append(self, instance: str, run_id: int | None, record: dict[str, Any]) -> AuditRecord:
        return self._retrying(lambda: self._commit(lambda conn: audit_log.append(conn, instance, run_id, record)))

    @staticmethod
    def _retrying(append: Callable[[], T]) -> T:
        """Run a transaction that appends to an audit chain (rolled back whole when it collides)."""
        for attempt in range(APPEND_ATTEMPTS):
            try:
                return append()
            except IntegrityError:  # another process appended the same seq first: read the head again
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def audit(self, instance: str, *, run_id: int | None = None, limit: int | None = None) -> list[AuditRecord]:
        with self._read() as conn:
            return audit_log.records(conn, instance, run_id=run_id, limit=limit)

    def audit_verify(self, instance: str, *, pins: Mapping[int, str] | None = None) -> VerifyResult:
        with self._read() as conn:
            return audit_log.verify(conn, instance, pins)

    def audit_export_jsonl(self, instance: str, stream: IO[str]) -> int:
        with self._read() as conn:
            return audit_log.export_jsonl(conn, instance, stream)

    # -- whole-state transfer ------------------------------------------------------------------------

    def export_all(self, stream: IO[str]) -> dict[str, int]:
        with self._read() as conn:
            return transfer.export_all(conn, stream, migrate.head_revision())

    def import_all(self, stream: IO[str]) -> dict[str, int]:
        """Load an export into this (empty) store, all or nothing."""
        try:
            with self._write() as conn:
                return transfer.import_all(conn, stream, migrate.head_revision())
        except IntegrityError as exc:  # rolled back: the database is as empty as before
            raise BadExport(f"the export contradicts itself (a row twice, or a journal entry of a run it does "
                            f"not hold): {exc.orig}") from exc
