"""List semantics: every list in a manifest model says how it compares (structured-merge-diff's rule).

- `AsSet()`: order means nothing, duplicates mean nothing (restricted_to_domain, perms).
- `KeyedBy("org")`: a map keyed by that field (sharing-group members): changes show per member.
- `Ordered()`: order matters (regexps: MISP applies them in order).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AsSet:
    pass


@dataclass(frozen=True, slots=True)
class KeyedBy:
    field: str


@dataclass(frozen=True, slots=True)
class Ordered:
    pass


ListSemantics = AsSet | KeyedBy | Ordered
