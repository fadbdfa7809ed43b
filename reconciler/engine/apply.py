"""Carry out a plan: layer by layer in dependency order, concurrently inside a layer, journalled.

Each operation is written to the journal before its HTTP call (intent, then sent) and after it
(confirmed or failed), so a crash leaves a record of what may have happened; the next run re-reads and
converges. A failed object makes the objects that reference it skip (they would fail anyway).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reconciler.backend.client import MispClient, RequestRecord
from reconciler.backend.errors import MispError, OutcomeUnknown
from reconciler.engine.diff import field_fingerprints, recorded_fingerprints, references
from reconciler.engine.live import Live
from reconciler.kinds import kind_named
from reconciler.kinds._kind import Entry, Kind, LiveObject
from reconciler.model.secrets import REDACTOR
from reconciler.plans.change import Action, Change
from reconciler.plans.plan import Plan
from reconciler.secrets import SecretError

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired
    from reconciler.state import JournalEntry, OwnedObject, StateStore

UNSENT_AT_ONCE = 64  # operations that send nothing (adopt as is) being journalled at once: bounds memory

# The X-Request-Ids of the HTTP calls made on behalf of the operation running in this task.
_REQUEST_IDS: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("request_ids", default=None)


def record_request(record: RequestRecord) -> None:
    """MispClient hook: attribute each request to the operation that made it."""
    ids = _REQUEST_IDS.get()
    if ids is not None:
        ids.append(record.request_id)


class Hook(Protocol):
    """Progress for people; the CLI draws it. Never steers the apply."""

    def started(self, change: Change) -> None: ...

    def finished(self, change: Change, outcome: Outcome) -> None: ...


@dataclass(slots=True)
class Outcome:
    change: Change
    status: str  # "ok" | "failed" | "skipped"
    error: str = ""
    misp_id: str | None = None
    request_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.status == "ok" for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            name = outcome.change.action.value if outcome.status == "ok" else outcome.status
            counts[name] = counts.get(name, 0) + 1
        return counts


@dataclass(slots=True)
class Applier:
    client: MispClient
    live: Live
    desired: Desired
    store: StateStore
    instance: str
    run_id: int
    parallelism: int = 8
    hook: Hook | None = None
    failed: set[tuple[str, str]] = field(default_factory=set)
    unsent: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(UNSENT_AT_ONCE))

    async def run(self, plan: Plan) -> ApplyResult:
        result = ApplyResult()
        semaphore = asyncio.Semaphore(max(1, self.parallelism))
        for layer in layers(plan.actionable):
            outcomes = await asyncio.gather(*(self.guarded(change, semaphore) for change in layer))
            result.outcomes.extend(outcomes)
        return result

    async def guarded(self, change: Change, semaphore: asyncio.Semaphore) -> Outcome:
        blocked = self.blocked_by(change)
        if blocked:
            outcome = Outcome(change, "skipped", f"{blocked} failed")
        else:
            outcome = await self.perform(change, semaphore)
        if outcome.status != "ok":  # an applied change was audited with its confirmation already
            self.failed.add((change.kind, change.key))
            await asyncio.to_thread(self.audit, outcome)
        if self.hook:
            self.hook.finished(change, outcome)
        return outcome

    def blocked_by(self, change: Change) -> str | None:
        entry = self.entry(change)
        if entry is None:
            return None
        kind = kind_named(change.kind)
        for _path, ref_kind, ref_key in references(kind, entry):
            normal = kind_named(ref_kind).normalise_key(ref_key)
            if (ref_kind, normal) in self.failed:
                return f"{ref_kind}[{normal!r}]"
        return None

    def entry(self, change: Change) -> Entry | None:
        located = self.desired.entries.get(change.kind, {}).get(change.key)
        return located.entry if located is not None else None

    async def perform(self, change: Change, slot: asyncio.Semaphore) -> Outcome:
        """Journal and send while holding one of the `parallelism` slots; the confirmation is committed once
        the slot is free again, so the next operation's journal writes and request overlap it."""
        kind = kind_named(change.kind)
        if change.action is Action.ADOPT and not change.fields:
            async with self.unsent:
                return await self.adopt_as_is(kind, change)
        async with slot:
            if self.hook:
                self.hook.started(change)
            # State writes run in a worker thread: each is a durable commit (concurrent ones share it), and
            # the event loop keeps other operations' HTTP requests moving meanwhile.
            op = await asyncio.to_thread(self.store.journal_intent, self.run_id, change.kind, change.key,
                                         change.action.value, {"fields": [f.as_json() for f in change.fields]})
            request_ids: list[str] = []
            token = _REQUEST_IDS.set(request_ids)
            try:
                await asyncio.to_thread(self.store.journal_sent, op, "")
                obj = await self.dispatch(kind, change)
            except OutcomeUnknown:
                obj = await self.reread(kind, change)
                if obj is None and change.action is not Action.DELETE:
                    message = "MISP's answer was lost and the object is not there: it will be retried next run"
                    self.store.journal_failed(op, message)
                    return Outcome(change, "failed", message, request_ids=request_ids)
            except (MispError, SecretError, OSError) as exc:  # this object fails; the others go on
                message = REDACTOR.scrub(str(exc))
                self.store.journal_failed(op, message)
                return Outcome(change, "failed", message, request_ids=request_ids)
            finally:
                _REQUEST_IDS.reset(token)
            self.live_follows(kind, change, obj)
        misp_id = obj.id if obj is not None else change.misp_id
        outcome = Outcome(change, "ok", misp_id=misp_id, request_ids=request_ids)
        await asyncio.to_thread(self.confirm, op, kind, outcome, obj)
        return outcome

    async def adopt_as_is(self, kind: Kind, change: Change) -> Outcome:
        """Adopting an object that already matches sends nothing: journal, ledger and audit in one write."""
        if self.hook:
            self.hook.started(change)
        obj = self.live.live(kind.name).get(change.key) or self.by_id(kind, change.misp_id)
        assert obj is not None, f"{change.address} vanished from live state"
        outcome = Outcome(change, "ok", misp_id=obj.id)
        own, _ = self.ledger_change(kind, change, obj)
        await asyncio.to_thread(self.store.journal_unsent, self.run_id, change.kind, change.key, change.action.value,
                                {"fields": []}, misp_id=obj.id, uuid=obj.uuid, own=own,
                                audit=audit_record(outcome))
        return outcome

    async def dispatch(self, kind: Kind, change: Change) -> LiveObject | None:
        adapter = kind.adapter
        assert adapter is not None
        if change.action is Action.DELETE:
            current = self.live.live(kind.name).get(change.key)
            if current is not None:
                await adapter.delete(self.client, current, self.live)
            return None
        entry = self.entry(change)
        assert entry is not None, f"{change.address} has no declared entry"
        if change.action is Action.CREATE:
            return await adapter.create(self.client, entry, self.live)
        current = self.live.live(kind.name).get(change.key) or self.by_id(kind, change.misp_id)
        assert current is not None, f"{change.address} vanished from live state"
        if not change.fields:
            return current  # adopt without changes: nothing to send
        changed = {f.path.split("[", 1)[0]: None for f in change.fields}
        want = adapter.desired(entry, self.live)
        return await adapter.update(self.client, entry, current, {k: want[k] for k in changed if k in want},
                                    self.live)

    def by_id(self, kind: Kind, misp_id: str | None) -> LiveObject | None:
        key = self.live.key_of(kind.name, misp_id) if misp_id else None
        return self.live.live(kind.name).get(key) if key else None

    async def reread(self, kind: Kind, change: Change) -> LiveObject | None:
        """After a lost answer: look at MISP before deciding anything (never resend blindly)."""
        assert kind.adapter is not None
        rows = await kind.adapter.fetch(self.client, {})
        for raw in rows:
            obj = kind.adapter.parse(raw, self.live)
            if obj is not None and obj.key == change.key:
                return obj
        return None

    def live_follows(self, kind: Kind, change: Change, obj: LiveObject | None) -> None:
        """Live state follows each confirmed operation at once (in the event loop: later layers read it)."""
        if change.action is Action.DELETE:
            self.live.remove(kind.name, change.key)
        elif obj is not None:
            self.live.put(kind.name, obj)

    def confirm(self, op: JournalEntry, kind: Kind, outcome: Outcome, obj: LiveObject | None) -> None:
        """One transaction (runs in a worker thread): the journal confirms, the ledger follows, the audit log
        records the change."""
        own, disown = self.ledger_change(kind, outcome.change, obj)
        self.store.journal_confirmed(op, misp_id=outcome.misp_id, uuid=obj.uuid if obj else None, own=own,
                                     disown=disown, audit=audit_record(outcome))

    def ledger_change(self, kind: Kind, change: Change,
                      obj: LiveObject | None) -> tuple[OwnedObject | None, list[str]]:
        """What the ledger owns after a confirmed operation, and which keys of the kind it lets go of."""
        from reconciler.state import OwnedObject

        if change.action is Action.DELETE:
            return None, [change.key]
        assert obj is not None and kind.adapter is not None
        entry = self.entry(change)
        assert entry is not None
        want = kind.adapter.desired(entry, self.live)
        previous, renamed = None, []
        if change.action is Action.UPDATE:
            same_object = self.store.owned_by_id(self.instance, kind.name, str(obj.id))
            previous = self.store.owned(self.instance, kind.name, change.key) or next(iter(same_object), None)
            renamed = [o.key for o in same_object if o.key != change.key]  # owned under its new key now
        fingerprints = {**recorded_fingerprints(previous), **json.loads(field_fingerprints(want))}
        return OwnedObject(kind=kind.name, key=change.key, misp_id=str(obj.id), uuid=obj.uuid,
                           fields=frozenset(want), fingerprint=json.dumps(fingerprints, sort_keys=True),
                           updated_at=None), renamed

    def audit(self, outcome: Outcome) -> None:
        self.store.audit_append(self.instance, self.run_id, audit_record(outcome))


def audit_record(outcome: Outcome) -> dict[str, Any]:
    """One audit record per change, whatever its outcome."""
    change = outcome.change
    return {"kind": change.kind, "key": change.key, "action": change.action.value,
            "fields": [f.as_json() for f in change.fields], "status": outcome.status, "error": outcome.error,
            "misp_id": outcome.misp_id, "request_ids": outcome.request_ids}


def layers(changes: Sequence[Change]) -> Iterator[list[Change]]:
    """Creates/updates/adopts kind by kind in dependency order, then deletes in reverse order."""
    from reconciler.kinds import KINDS

    order = {kind.name: index for index, kind in enumerate(KINDS)}
    writes: dict[int, list[Change]] = {}
    deletes: dict[int, list[Change]] = {}
    for change in changes:
        bucket = deletes if change.action is Action.DELETE else writes
        bucket.setdefault(order[change.kind], []).append(change)
    for index in sorted(writes):
        yield writes[index]
    for index in sorted(deletes, reverse=True):
        yield deletes[index]

