from __future__ import annotations

import hashlib
import json
from typing import Any

from reconciler.plans.change import UNSET, FieldChange

SECRET = "(secret)"


def show(value: Any) -> str:
    """A canonical value as people read it: JSON, with "(unset)" for what MISP does not have, and a PGP key
    as a short digest of its armor rather than the armor itself."""
    if value is UNSET:
        return "(unset)"
    if isinstance(value, str) and value.startswith("-----BEGIN PGP"):
        return f"(PGP key, sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]})"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def show_field(change: FieldChange) -> str:
    if change.secret:
        return f"{change.path}: {SECRET}"
    if change.before is UNSET:
        return f"{change.path}: {show(change.after)}"
    return f"{change.path}: {show(change.before)} → {show(change.after)}"
