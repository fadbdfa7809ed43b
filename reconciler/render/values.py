from __future__ import annotations

import json
from typing import Any

from reconciler.plans.change import UNSET, FieldChange

SECRET = "(secret)"


def show(value: Any) -> str:
    """A canonical value as people read it: JSON, with "(unset)" for what MISP does not have, and a PGP key
    as its fingerprint and expiry rather than the armor itself."""
    if value is UNSET:
        return "(unset)"
    if isinstance(value, str) and value.startswith("-----BEGIN PGP"):
        from reconciler.pgp import describe_armor

        return describe_armor(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def show_field(change: FieldChange) -> str:
    if change.secret:
        return f"{change.path}: {SECRET}"
    if change.before is UNSET:
        return f"{change.path}: {show(change.after)}"
    return f"{change.path}: {show(change.before)} → {show(change.after)}"
