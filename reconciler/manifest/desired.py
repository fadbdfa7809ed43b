"""What the manifests ask for, validated: the engine's input."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.diags import SourceRange
from reconciler.kinds._kind import Entry
from reconciler.manifest.document import Instance, Policy


@dataclass(frozen=True, slots=True)
class Located:
    """One manifest entry and where it was written (field_where: dotted field path → its value's place)."""

    entry: Entry
    where: SourceRange
    field_where: dict[str, SourceRange] = field(default_factory=dict)


@dataclass(slots=True)
class Desired:
    instance: Instance | None = None
    policy: Policy = field(default_factory=Policy)
    entries: dict[str, dict[str, Located]] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    base_dir: Path = field(default_factory=Path.cwd)
    manifest_hash: str = ""
