from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reconciler.diags import Diagnostic
from reconciler.plans.change import Action, Change

FORMAT_VERSION = 1  # bump with schemas/plan.schema.json


@dataclass(slots=True)
class Plan:
    instance: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # information for people: not changes
    diagnostics: list[Diagnostic] = field(default_factory=list)  # plan-time warnings
    manifest_hash: str = ""
    misp_uuid: str | None = None  # lineage: the instance this plan was made against
    misp_version: str | None = None
    kinds: tuple[str, ...] = ()  # kinds in scope
    created_at: str = ""

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action is not Action.NOTE]

    def is_empty(self) -> bool:
        return not self.actionable

    def counts(self) -> dict[str, int]:
        counter = Counter(c.action.value for c in self.actionable)
        return {a.value: counter.get(a.value, 0) for a in Action if a is not Action.NOTE}

    def counts_by_kind(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for change in self.actionable:
            per_kind = result.setdefault(change.kind, {})
            per_kind[change.action.value] = per_kind.get(change.action.value, 0) + 1
        return result

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "instance": self.instance,
            "misp_uuid": self.misp_uuid,
            "misp_version": self.misp_version,
            "manifest_hash": self.manifest_hash,
            "created_at": self.created_at,
            "kinds": list(self.kinds),
            "summary": self.counts(),
            "changes": [c.as_json() for c in self.changes],
            "notes": list(self.notes),
            "diagnostics": [d.as_json() for d in self.diagnostics],
        }

    def changes_hash(self) -> str:
        """Identity of what this plan would do, independent of when it was made."""
        canonical = json.dumps([c.as_json() for c in self.changes], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
