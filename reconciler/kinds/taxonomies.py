"""Taxonomies, by namespace (MISP's ids change when its library is updated). `tags` selects which of the
taxonomy's tags exist: `all`, or a list of full tag names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind
from reconciler.model.fields import AsSet


class Taxonomy(Entry):
    namespace: Annotated[str, Field(min_length=1)]
    enabled: bool = True
    required: bool | None = None
    highlighted: bool | None = None
    tags: Literal["all"] | Annotated[list[str], AsSet()] | None = None


KIND = Kind(name="taxonomies", model=Taxonomy, key=lambda e: e.namespace, key_fields=("namespace",))
