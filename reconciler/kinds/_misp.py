"""Small helpers every adapter uses to read MISP's JSON: MISP types the same field differently from one
endpoint to another (ids as strings, booleans as true/1/"1", null vs "" for empty text)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.backend.errors import MispError
from reconciler.kinds._kind import LiveObject


def as_bool(value: Any) -> bool:
    """true/false, 1/0, "1"/"0", "true"/"false" all occur in MISP answers."""
    if value is True or value is False:  # the common case in JSON answers, first: this runs per row and field
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def as_int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_text(value: Any) -> str:
    """null and "" mean the same to people: both become ""."""
    return "" if value is None else str(value)


def is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), asking first for the plain dict JSON gives: the ABC check costs more
    than the rest of a small row's parse."""
    return type(value) is dict or isinstance(value, Mapping)


def unwrap(row: Any, wrapper: str) -> dict[str, Any]:
    """{"Organisation": {...}} → {...}; a row already unwrapped passes through."""
    if not is_mapping(row):
        raise MispError(f"MISP answered with an unexpected shape where a {wrapper} was expected")
    inner = row.get(wrapper)
    return dict(inner) if is_mapping(inner) else dict(row)


def rows(body: Any, wrapper: str) -> list[dict[str, Any]]:
    """A list answer: a JSON array of wrapped objects (MISP also wraps some in {"response": [...]})."""
    if isinstance(body, Mapping) and isinstance(body.get("response"), list):
        body = body["response"]
    if isinstance(body, Mapping) and isinstance(body.get(wrapper), list):
        body = body[wrapper]
    if body is None:
        return []
    if not isinstance(body, list):
        raise MispError(f"MISP answered with an unexpected shape where a list of {wrapper} was expected")
    # The decoded answer is ours alone: its rows are handed on as they are, not copied.
    return [r if type(r) is dict else dict(r) for r in body if is_mapping(r)]


def saved(obj: LiveObject | None) -> LiveObject:
    """The object a write answer describes; MISP answering with something else is an error, not a crash."""
    if obj is None:
        raise MispError("MISP's answer to a write did not describe the object it saved")
    return obj


def sorted_set(values: Iterable[Any] | None) -> list[str]:
    """A list whose order means nothing to MISP, compared as a set."""
    return sorted({str(v) for v in values or ()})


def stated(entry: Any, names: Iterable[str]) -> list[str]:
    """The fields among `names` the manifest wrote (or defaults filled in)."""
    written = entry.model_fields_set
    return [name for name in names if name in written]


def canonical_rules(value: Any) -> dict[str, Any] | None:
    """MISP keeps sync/feed rules as a JSON string full of empty OR/NOT lists and empty url_params: keep only
    what filters something, with lists sorted (their order means nothing to MISP)."""
    import json

    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    if not isinstance(value, dict):
        return None
    result: dict[str, Any] = {}
    for name, rule in value.items():
        if isinstance(rule, dict):
            kept = {k: sorted(v) for k, v in rule.items() if v}
            if kept:
                result[name] = kept
        elif rule:
            result[name] = rule
    return result or None
