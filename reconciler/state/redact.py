"""Defence in depth: the engine redacts before it calls us, and every string is scrubbed again on the way in."""

from __future__ import annotations

from typing import Any, overload

from reconciler.model.secrets import REDACTOR


@overload
def scrub(text: str) -> str: ...
@overload
def scrub(text: None) -> None: ...
def scrub(text: str | None) -> str | None:
    return None if text is None else REDACTOR.scrub(text)


def scrub_json(value: Any) -> Any:
    """Strings anywhere inside JSON-like data, keys included (a secret can hide in a key too)."""
    if isinstance(value, dict):
        return {REDACTOR.scrub(str(k)): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v) for v in value]
    return REDACTOR.scrub(value) if isinstance(value, str) else value
