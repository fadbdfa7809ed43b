"""Import regexps: MISP applies them in ascending id order, so the list order is meaningful."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds._regex import check_pcre

RegexpType = Literal["ALL", "attribute", "event", "object", "Attribute", "Event", "Object"]


class Regexp(Entry):
    regexp: str
    replacement: str = ""
    type: RegexpType = "ALL"

    @field_validator("regexp")
    @classmethod
    def _pcre(cls, value: str) -> str:
        return check_pcre(value)


KIND = Kind(name="regexps", model=Regexp, key=lambda e: f"{e.regexp}/{e.replacement}/{e.type}",
            key_fields=("regexp", "replacement", "type"))
