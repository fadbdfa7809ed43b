"""Live state: every object read from MISP, by kind and natural key, with id ↔ key resolution.

Apply keeps it current (a created object is added at once) so that later layers resolve references to
objects created moments before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.kinds._kind import LiveObject
from reconciler.model.secrets import SecretRef


@dataclass(slots=True)
class Me:
    """The user whose key the tool uses: never delete or demote it, its org, or the last site admin."""

    user_id: str
    email: str
    org_id: str
    role_id: str


@dataclass(slots=True, repr=False)
class Live:
    objects: dict[str, dict[str, LiveObject]] = field(default_factory=dict)
    _by_id: dict[str, dict[str, str]] = field(default_factory=dict)
    _by_uuid: dict[str, dict[str, str]] = field(default_factory=dict)
    me: Me | None = None
    misp_uuid: str | None = None
    misp_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what adapters need besides objects (e.g. host org)
    resolve_secret: Callable[[SecretRef], str] | None = None  # set by apply only: plans never see values

    def __repr__(self) -> str:
        # Counts, not objects: a large instance has tens of thousands, and Python 3.11's asyncio.run computes
        # the repr of the result it returns (restoring its SIGINT handler names the finished task).
        counts = ", ".join(f"{kind}: {len(objects)}" for kind, objects in self.objects.items())
        return f"Live({counts})"

    # -- Names protocol -----------------------------------------------------------------------------
    def id_of(self, kind: str, key: str) -> str:
        return self.objects[kind][key].id

    def key_of(self, kind: str, misp_id: str) -> str | None:
        by_id = self._by_id.get(kind)  # asked once per reference of every row parsed: no throwaway {}
        return by_id.get(str(misp_id)) if by_id is not None else None

    def live(self, kind: str) -> Mapping[str, LiveObject]:
        return self.objects.get(kind, {})

    def secret(self, ref: SecretRef) -> str:
        if self.resolve_secret is None:
            raise RuntimeError("secrets are resolved during apply only")
        return self.resolve_secret(ref)

    # -- updates ------------------------------------------------------------------------------------
    def put(self, kind: str, obj: LiveObject) -> None:
        per_kind = self.objects.setdefault(kind, {})
        old = per_kind.get(obj.key)
        if old is not None:
            self._by_id.get(kind, {}).pop(old.id, None)
        per_kind[obj.key] = obj
        self._by_id.setdefault(kind, {})[str(obj.id)] = obj.key
        if obj.uuid:
            self._by_uuid.setdefault(kind, {})[obj.uuid.lower()] = obj.key

    def remove(self, kind: str, key: str) -> None:
        obj = self.objects.get(kind, {}).pop(key, None)
        if obj is not None:
            self._by_id.get(kind, {}).pop(obj.id, None)

    def find_uuid(self, kind: str, uuid: str) -> LiveObject | None:
        key = self._by_uuid.get(kind, {}).get(uuid.lower())
        obj = self.objects.get(kind, {}).get(key) if key is not None else None
        return obj if obj is not None and obj.uuid and obj.uuid.lower() == uuid.lower() else None


def fingerprint(values: Mapping[str, Any]) -> str:
    """A short stable hash of canonical values: equal values, equal fingerprint."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
