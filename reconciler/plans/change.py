from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from reconciler.model.address import Address


class Unset:
    """A field MISP does not have (or did not return). Not the same as None: `pgp_key: null` is a value."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = Unset()


class Action(enum.Enum):
    """JSON words; the + ~ - = symbols live in render/text.py."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ADOPT = "adopt"  # exists in MISP, matches a declared entry, not yet in our ledger: take it over
    NOTE = "note"  # nothing to write through the API (host-only setting, information): shown, not applied


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str  # "perms.tagger", 'organisations["CIRCL"].extend'
    before: Any  # canonical live value, UNSET if MISP had none
    after: Any  # canonical desired value (UNSET for a delete)
    secret: bool = False  # renderers print "(secret)"; audit keeps only changed/unchanged

    def as_json(self) -> dict[str, Any]:
        if self.secret:
            return {"path": self.path, "secret": True, "changed": True}
        return {"path": self.path, "before": jsonable(self.before), "after": jsonable(self.after)}


@dataclass(frozen=True, slots=True)
class Change:
    address: Address
    action: Action
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""  # for people; apply never branches on it
    misp_id: str | None = None  # the live object's id (update, delete, adopt)
    live_fingerprint: str | None = None  # hash of the live object as planned: a saved plan is stale if it moved
    warnings: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.address.kind

    @property
    def key(self) -> str:
        return self.address.key

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "key": self.key, "address": str(self.address), "action": self.action.value,
            "fields": [f.as_json() for f in self.fields], "reason": self.reason, "misp_id": self.misp_id,
            "live_fingerprint": self.live_fingerprint, "warnings": list(self.warnings),
        }


def jsonable(value: Any) -> Any:
    if value is UNSET:
        return None
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value
