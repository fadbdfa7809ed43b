"""Tags, by exact name. Restrictions name an organisation or a user."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind


class Tag(Entry):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    colour: Annotated[str | None, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = None
    exportable: bool | None = None
    hide_tag: bool | None = None
    local_only: bool | None = None
    org: str | None = None
    user: str | None = None
    numerical_value: Annotated[int | None, Field(ge=-(2**31), le=2**31 - 1)] = None


KIND = Kind(name="tags", model=Tag, key=lambda e: e.name, refs={"org": "organisations", "user": "users"})
