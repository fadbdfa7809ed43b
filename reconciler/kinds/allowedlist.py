"""The allowedlist ("block from export"): regular expressions; MISP only manages it over a web session."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from pydantic import field_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds._regex import check_pcre


class AllowedlistEntry(Entry):
    name: str

    @field_validator("name")
    @classmethod
    def _pcre(cls, value: str) -> str:
        return check_pcre(value)


KIND = Kind(name="allowedlist", model=AllowedlistEntry, key=lambda e: e.name, scalar_field="name")
