"""diff(desired, live, ledger, policy) → Plan. Pure: no I/O, so it is fast and testable exhaustively.

Only fields a manifest states are compared (`model_fields_set`, via the adapter's canonical form).
Matching is by natural key, or by uuid where the entry pins one (a renamed organisation stays itself).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from reconciler.diags import Diagnostics
from reconciler.engine.live import Live, fingerprint
from reconciler.engine.policy import deletable, lockout_problems
from reconciler.kinds._kind import Entry, Kind, LiveObject
from reconciler.model.address import Address
from reconciler.plans.change import UNSET, Action, Change, FieldChange
from reconciler.plans.plan import Plan

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired, Located
    from reconciler.state import OwnedObject


@dataclass(slots=True)
class Target:
    """One declared entry of one kind, matched (or not) with a live object. (Not frozen: a plan builds one
    per declared entry, and a frozen dataclass takes three times as long to build.)"""

    kind: Kind
    key: str
    located: Located
    live: LiveObject | None


@dataclass(slots=True)
class DiffResult:
    plan: Plan
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


def field_fingerprints(values: Mapping[str, Any]) -> str:
    """What the ledger records per object: one short hash per field we set, as JSON."""
    return json.dumps({name: fingerprint({"v": value}) for name, value in sorted(values.items())},
                      sort_keys=True)


def recorded_fingerprints(owned: OwnedObject | None) -> dict[str, str]:
    if owned is None or not owned.fingerprint.startswith("{"):
        return {}
    loaded = json.loads(owned.fingerprint)
    return loaded if isinstance(loaded, dict) else {}


def diff(desired: Desired, live: Live, ledger: Mapping[tuple[str, str], OwnedObject],
         kinds: Sequence[Kind], *, instance: str, allow_deletes: int | None = None) -> DiffResult:
    result = DiffResult(Plan(instance=instance, manifest_hash=desired.manifest_hash,
                             misp_uuid=live.misp_uuid, misp_version=live.misp_version,
                             kinds=tuple(k.name for k in kinds)))
    check_references(desired, live, kinds, result.diagnostics)
    targets = {kind.name: list(match(kind, desired.entries.get(kind.name, {}), live))
               for kind in kinds if kind.adapter is not None}
    renames = renamed(targets)
    by_misp_id = OwnedById(ledger)
    for kind in kinds:
        aliases = reference_aliases(kind, renames)
        for target in targets.get(kind.name, ()):
            owned = ledger.get((kind.name, target.key))
            if owned is None and target.live is not None:  # renamed: the ledger knows it by its old key
                owned = by_misp_id.get(kind.name, target.live.id)
            change = compare(target, live, owned, aliases)
            if change is not None:
                result.plan.changes.append(change)
    deletes = list(plan_deletes(desired, live, ledger, kinds))
    result.plan.changes.extend(deletes)
    check_delete_budget(desired, deletes, allow_deletes, result.diagnostics)
    for problem in lockout_problems(result.plan.changes, live):
        result.diagnostics.error("self-lockout", problem,
                                 hint="the tool never removes its own access; change this by hand if meant")
    return result


class OwnedById:
    """The ledger by (kind, MISP id), built on first use: only a renamed object needs it, and a plan with
    no rename should not index thousands of rows for nothing."""

    def __init__(self, ledger: Mapping[tuple[str, str], OwnedObject]) -> None:
        self._ledger = ledger
        self._index: dict[tuple[str, str], OwnedObject] | None = None

    def get(self, kind: str, misp_id: str) -> OwnedObject | None:
        if self._index is None:
            self._index = {(o.kind, o.misp_id): o for o in self._ledger.values()}
        return self._index.get((kind, misp_id))


def match(kind: Kind, entries: Mapping[str, Located], live: Live) -> Iterator[Target]:
    objects = live.live(kind.name)
    for key in sorted(entries):
        located = entries[key]
        obj = objects.get(key)
        uuid = pinned_uuid(located.entry)
        if isinstance(uuid, str) and uuid:
            obj = live.find_uuid(kind.name, uuid) or obj
        yield Target(kind, key, located, obj)


def pinned_uuid(entry: Entry) -> object:
    """The uuid an entry pins, if its kind has one (asked of the model first: a missing attribute of a
    pydantic model is slow to look up, and most kinds have none)."""
    return getattr(entry, "uuid", None) if has_uuid(type(entry)) else None


@cache
def has_uuid(model: type[Entry]) -> bool:
    """Whether a model has a uuid field; asked once per model, not once per entry (pydantic's
    model_fields is a computed property)."""
    return "uuid" in model.model_fields


def renamed(targets: Mapping[str, list[Target]]) -> dict[str, dict[str, str]]:
    """Per kind, declared key → current live key, for objects matched by uuid under another name."""
    return {kind: {t.key: t.live.key for t in kind_targets if t.live is not None and t.live.key != t.key}
            for kind, kind_targets in targets.items()}


def compare(target: Target, live: Live, owned: OwnedObject | None,
            aliases: Mapping[str, Mapping[str, str]] | None = None) -> Change | None:
    """`aliases`: the kind's reference_aliases, computed once per kind by the caller."""
    kind, entry = target.kind, target.located.entry
    assert kind.adapter is not None
    want = kind.adapter.desired(entry, live)
    if target.live is None:
        secret = entry.SECRET_FIELDS
        fields = tuple(FieldChange(name, UNSET, value, secret=name in secret)
                       for name, value in sorted(want.items()))
        return Change(Address(kind.name, target.key), Action.CREATE, fields, reason="declared, not in MISP")
    if owned is not None and unchanged(entry, want, target.live.fields):
        return None  # the common case: nothing to do, decided without building field changes
    changes = tuple(changed_fields(entry, want, target.live, owned, aliases))
    if owned is not None and not changes:
        return None  # equal through a rename alias: nothing to do, and no fingerprint to compute
    address = Address(kind.name, target.key)
    misp_id, live_fp = target.live.id, fingerprint(target.live.fields)
    if owned is None:
        return Change(address, Action.ADOPT, changes, misp_id=misp_id, live_fingerprint=live_fp,
                      reason="exists in MISP, matches a declared entry, not yet owned")
    if changes:
        return Change(address, Action.UPDATE, changes, reason="differs from the manifest", misp_id=misp_id,
                      live_fingerprint=live_fp)
    return None


def reference_aliases(kind: Kind, renames: Mapping[str, Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
    """Reference fields whose target is being renamed: `org: Alpha CSIRT` already means live `Alpha CERT`."""
    return {path: renames[ref] for path, ref in kind.refs.items() if "[]" not in path and renames.get(ref)}


def unchanged(entry: Entry, want: Mapping[str, Any], live_fields: Mapping[str, Any]) -> bool:
    """True when every compared field equals its live value, so that changed_fields() would find nothing.
    False leaves the decision to changed_fields() (a write-only field, a difference, perhaps an alias)."""
    if not entry.WRITE_ONLY.isdisjoint(want):
        return False
    create_only = entry.CREATE_ONLY
    for name, value in want.items():
        if name not in create_only and live_fields.get(name, UNSET) != value:
            return False
    return True


def changed_fields(entry: Entry, want: Mapping[str, Any], live_obj: LiveObject,
                   owned: OwnedObject | None,
                   aliases: Mapping[str, Mapping[str, str]] | None = None) -> Iterator[FieldChange]:
    recorded = recorded_fingerprints(owned) if not entry.WRITE_ONLY.isdisjoint(want) else {}
    for name, value in sorted(want.items()):
        if name in entry.CREATE_ONLY:
            continue
        secret = name in entry.SECRET_FIELDS
        if name in entry.WRITE_ONLY:
            # MISP never returns it: send again when the reference (or its rotation counter) moved.
            if recorded.get(name) != fingerprint({"v": value}):
                yield FieldChange(name, UNSET, value, secret=secret)
            continue
        before = live_obj.fields.get(name, UNSET)
        alias = (aliases or {}).get(name, {})
        if before != value and not (isinstance(value, str) and value in alias and alias[value] == before):
            yield from expand(name, before, value, secret)


def expand(path: str, before: Any, after: Any, secret: bool) -> Iterator[FieldChange]:
    """A change inside a keyed collection shows per member: organisations["CIRCL"].extend, not the lot."""
    if isinstance(before, dict) and isinstance(after, dict) and not secret:
        for key in sorted(set(before) | set(after), key=str):
            old, new = before.get(key, UNSET), after.get(key, UNSET)
            if old != new:
                yield from expand(f"{path}[{json.dumps(key, ensure_ascii=False)}]", old, new, secret)
        return
    yield FieldChange(path, before, after, secret=secret)


def plan_deletes(desired: Desired, live: Live, ledger: Mapping[tuple[str, str], OwnedObject],
                 kinds: Sequence[Kind]) -> Iterator[Change]:
    """Deletes come last, in reverse dependency order (users before their organisation)."""
    for kind in reversed(kinds):
        if kind.adapter is None or not kind.deletable:
            continue
        declared = desired.entries.get(kind.name, {})
        declared_uuids = {str(pinned_uuid(loc.entry) or "").lower() for loc in declared.values()}
        objects = live.live(kind.name)
        for key in sorted(key for key in objects if key not in declared):  # sort only the undeclared
            obj = objects[key]
            if obj.uuid and obj.uuid.lower() in declared_uuids:
                continue
            reason = deletable(desired.policy, kind.name, key, owned=(kind.name, key) in ledger)
            if reason is not None:
                yield Change(Address(kind.name, key), Action.DELETE, (), reason=reason, misp_id=obj.id,
                             live_fingerprint=fingerprint(obj.fields))


def check_delete_budget(desired: Desired, deletes: list[Change], allow_deletes: int | None,
                        diags: Diagnostics) -> None:
    budget = desired.policy.max_deletes
    if budget is None or len(deletes) <= budget:
        return
    if allow_deletes is not None and len(deletes) <= allow_deletes:
        return
    diags.error("too-many-deletes",
                f"this plan deletes {len(deletes)} objects, more than policy.max_deletes ({budget})",
                hint=f"review the deletes, then pass --allow-deletes {len(deletes)} to accept them")


def check_references(desired: Desired, live: Live, kinds: Sequence[Kind], diags: Diagnostics) -> None:
    """A reference must name an object declared in the manifests or existing in MISP."""
    by_name = {kind.name: kind for kind in kinds}
    found: set[tuple[str, str]] = set()  # (kind, written key) resolved already: entries name the same few
    for kind in kinds:
        for key, located in desired.entries.get(kind.name, {}).items():
            for path, ref_kind_name, ref_key, where_path in located_references(kind, located.entry):
                if (ref_kind_name, ref_key) in found:
                    continue
                ref_kind = by_name.get(ref_kind_name)
                if ref_kind is None or ref_kind.adapter is None:
                    continue
                normal = ref_kind.normalise_key(ref_key)
                if normal in desired.entries.get(ref_kind_name, {}) or normal in live.live(ref_kind_name):
                    found.add((ref_kind_name, ref_key))
                    continue
                where = located.field_where.get(where_path) or located.field_where.get(path.split("[]")[0]) \
                    or located.where
                diags.error("unresolved-reference",
                            f"{ref_kind_name} {ref_key!r} is neither declared in the manifests nor present "
                            "in MISP",
                            subject=where, path=f"{Address(kind.name, key)}.{path.replace('[]', '')}",
                            hint=f"declare it under `{ref_kind_name}:` or fix the name")


def references(kind: Kind, entry: Entry) -> Iterator[tuple[str, str, str]]:
    """(field path, referenced kind, written key) for every reference an entry makes.

    Paths use Kind.refs notation: "org" is a field; "organisations[].org" is the field `org` of each item
    of the list `organisations`. Values that are not plain strings (e.g. {name, uuid}) are left to the
    kind's adapter.
    """
    for path, ref_kind in kind.refs.items():
        for value in values_at(entry, path.split("[].")):
            written = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            yield from ((path, ref_kind, v) for v in written if isinstance(v, str) and v not in kind.builtin_refs)


def located_references(kind: Kind, entry: Entry) -> Iterator[tuple[str, str, str, str]]:
    """Like references(), plus the position path the loader records (`organisations.1.org`)."""
    for path, ref_kind in kind.refs.items():
        head, _, rest = path.partition("[].")
        if not rest:
            written = getattr(entry, head, None)
            if isinstance(written, str):  # the common case (a user's org), without building a list for it
                if written not in kind.builtin_refs:
                    yield path, ref_kind, written, path
                continue
            for value in written if isinstance(written, list) else []:
                if isinstance(value, str) and value not in kind.builtin_refs:
                    yield path, ref_kind, value, path
            continue
        for index, item in enumerate(getattr(entry, head, None) or []):
            member = getattr(item, rest, None) if not isinstance(item, dict) else item.get(rest)
            if isinstance(member, str) and member not in kind.builtin_refs:
                yield path, ref_kind, member, f"{head}.{index}.{rest}"


def values_at(obj: Any, parts: list[str]) -> Iterator[Any]:
    head, rest = parts[0], parts[1:]
    value = getattr(obj, head, None) if not isinstance(obj, dict) else obj.get(head)
    if value is None:
        return
    if not rest:
        yield value
        return
    for item in value if isinstance(value, list) else []:
        yield from values_at(item, rest)
