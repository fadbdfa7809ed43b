"""The diff is pure: Desired and Live built by hand, exact Changes asserted (STYLE.md §10)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.diags import SourceRange
from reconciler.engine.diff import diff
from reconciler.engine.live import Live, Me
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.model.address import Address
from reconciler.plans.change import UNSET, Action, Change, FieldChange


class Thing(Entry):
    name: str
    colour: str = "#000000"
    size: int = 0
    members: dict[str, bool] = {}


class ThingAdapter:
    async def fetch(self, client: Any, declared: Any) -> list[Mapping[str, Any]]:
        raise AssertionError("diff never reads")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        raise AssertionError("diff never parses")

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        return {name: getattr(entry, name) for name in sorted(entry.model_fields_set)}

    async def create(self, *a: Any) -> LiveObject:
        raise AssertionError

    async def update(self, *a: Any) -> LiveObject:
        raise AssertionError

    async def delete(self, *a: Any) -> None:
        raise AssertionError


THINGS = Kind(name="things", model=Thing, key=lambda e: e.name, adapter=ThingAdapter())
HERE = SourceRange(Path("m.yaml"), 1, 1)


@dataclass
class FakeLocated:
    entry: Entry
    where: SourceRange = HERE
    field_where: dict[str, SourceRange] = field(default_factory=dict)


@dataclass
class FakePolicy:
    prune: str = "owned"
    authoritative: list[str] = field(default_factory=list)
    protect: dict[str, list[str]] = field(default_factory=dict)
    max_deletes: int | None = None


@dataclass
class FakeDesired:
    entries: dict[str, dict[str, Any]]
    policy: FakePolicy = field(default_factory=FakePolicy)
    manifest_hash: str = "h"


@dataclass(frozen=True)
class Owned:
    kind: str
    key: str
    misp_id: str = "1"
    uuid: str | None = None
    fields: frozenset[str] = frozenset()
    fingerprint: str = "{}"
    updated_at: Any = None


def desired(*things: Thing, policy: FakePolicy | None = None) -> Any:
    return FakeDesired({"things": {t.name: FakeLocated(t) for t in things}}, policy or FakePolicy())


def live(**objects: dict[str, object]) -> Live:
    state = Live(me=Me("1", "admin@admin.test", "1", "1"))
    for index, (key, fields) in enumerate(objects.items(), start=1):
        state.put("things", LiveObject(key=key, id=str(index), fields={"name": key, **fields}))
    return state


def plan_of(want: Any, have: Live, ledger: dict[tuple[str, str], Any] | None = None,
            allow_deletes: int | None = None) -> Any:
    return diff(want, have, ledger or {}, [THINGS], instance="t", allow_deletes=allow_deletes)


def test_create_lists_every_stated_field() -> None:
    result = plan_of(desired(Thing(name="a", size=3)), live())
    assert result.plan.changes == [Change(Address("things", "a"), Action.CREATE,
                                          (FieldChange("name", UNSET, "a"), FieldChange("size", UNSET, 3)),
                                          reason="declared, not in MISP")]


def test_update_shows_exactly_the_changed_field_and_ignores_unstated_ones() -> None:
    owned = {("things", "a"): Owned("things", "a")}
    result = plan_of(desired(Thing(name="a", size=3)), live(a={"size": 2, "colour": "#ffffff"}), owned)
    [change] = result.plan.changes
    assert change.action is Action.UPDATE
    assert change.fields == (FieldChange("size", 2, 3),)


def test_keyed_collections_change_per_member() -> None:
    owned = {("things", "a"): Owned("things", "a")}
    want = desired(Thing(name="a", members={"x": True, "y": False}))
    result = plan_of(want, live(a={"members": {"x": True, "y": True}}), owned)
    assert result.plan.changes[0].fields == (FieldChange('members["y"]', True, False),)


def test_no_change_when_equal_and_owned() -> None:
    owned = {("things", "a"): Owned("things", "a")}
    assert plan_of(desired(Thing(name="a", size=3)), live(a={"size": 3}), owned).plan.is_empty()


def test_unowned_match_is_adopted() -> None:
    result = plan_of(desired(Thing(name="a", size=3)), live(a={"size": 3}))
    [change] = result.plan.changes
    assert (change.action, change.fields) == (Action.ADOPT, ())


def test_prune_owned_deletes_only_what_we_own() -> None:
    owned = {("things", "gone"): Owned("things", "gone")}
    result = plan_of(desired(), live(gone={}, theirs={}), owned)
    assert [(c.action, c.key) for c in result.plan.changes] == [(Action.DELETE, "gone")]


def test_protect_wins_over_authoritative() -> None:
    policy = FakePolicy(authoritative=["things"], protect={"things": ["keep"]})
    result = plan_of(desired(policy=policy), live(keep={}, other={}))
    assert [c.key for c in result.plan.changes] == ["other"]


def test_prune_none_never_deletes() -> None:
    owned = {("things", "gone"): Owned("things", "gone")}
    assert plan_of(desired(policy=FakePolicy(prune="none")), live(gone={}), owned).plan.is_empty()


def test_max_deletes_refuses_unless_allowed() -> None:
    owned = {("things", k): Owned("things", k) for k in ("a", "b", "c")}
    want = desired(policy=FakePolicy(max_deletes=2))
    refused = plan_of(want, live(a={}, b={}, c={}), owned)
    assert [d.code for d in refused.diagnostics] == ["too-many-deletes"]
    allowed = plan_of(want, live(a={}, b={}, c={}), owned, allow_deletes=3)
    assert not allowed.diagnostics.has_errors()
