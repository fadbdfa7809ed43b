"""Feeds, by URL. `default: NAME` starts from an entry of MISP's catalogue of 84 default feeds."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds.servers import Rules
from reconciler.model.secrets import SecretRef

Distribution = Literal["org", "community", "connected", "all", "sharing_group", "inherit"]


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """MISP's default feeds by name (package data, AGPL-3.0, see reconciler/data/NOTICE.md)."""
    text = resources.files("reconciler").joinpath("data/feed-defaults.json").read_text("utf-8")
    return {item["Feed"]["name"]: item for item in json.loads(text)}


class CsvSettings(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    value: Annotated[list[int], Field()] = []
    delimiter: str = ","
    exclude_regex: str | None = None


class Feed(Entry):
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"headers"})
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset({"headers"})

    default: str | None = None
    name: str | None = None
    provider: str | None = None
    url: Annotated[str | None, Field(pattern=r"^(https?://\S+|/\S*)$")] = None
    source_format: Literal["misp", "freetext", "csv"] | None = None
    input_source: Literal["network", "local"] | None = None
    fixed_event: bool | None = None
    delta_merge: bool | None = None
    publish: bool | None = None
    override_ids: bool | None = None
    distribution: Distribution | None = None
    sharing_group: str | None = None
    tag: str | None = None
    rules: Rules | None = None
    settings: CsvSettings | None = None
    headers: SecretRef | None = None
    caching_enabled: bool | None = None
    lookup_visible: bool | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _from_catalogue(self) -> Feed:
        if self.default is not None:
            import difflib

            entry = catalogue().get(self.default)
            if entry is None:
                close = difflib.get_close_matches(self.default, list(catalogue()), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"{self.default!r} is not one of MISP's default feeds{hint}")
            feed = entry["Feed"]
            for name in ("name", "provider", "url", "source_format"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, feed.get(name))
        if self.url is None:
            raise ValueError("a feed needs `url` (or `default:` naming a catalogue feed)")
        if self.distribution == "sharing_group" and not self.sharing_group:
            raise ValueError("distribution sharing_group needs `sharing_group:`")
        return self


KIND = Kind(name="feeds", model=Feed, key=lambda e: e.url, key_fields=("url",),
            refs={"tag": "tags", "sharing_group": "sharing_groups"})
