"""Taxonomies, by namespace (MISP's ids change when its library is updated). `tags` selects which of the
taxonomy's tags exist: `all`, or a list of full tag names."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, rows, unwrap
from reconciler.model.fields import AsSet

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class Taxonomy(Entry):
    namespace: Annotated[str, Field(min_length=1)]
    enabled: bool = True
    required: bool | None = None
    highlighted: bool | None = None
    tags: Literal["all"] | Annotated[list[str], AsSet()] | None = None


FLAGS = ("enabled", "required", "highlighted")


class TaxonomyAdapter:
    """Resolved by namespace, never by id: MISP re-creates the row (new id) when its library updates.

    Reads: the taxonomy index (one request) and the tag list (one request) tell what is enabled and which
    of a taxonomy's tags exist unhidden. MISP has no list of a taxonomy's *possible* tags, so for each
    declared taxonomy with `tags: all` its view is read too (one request per such declared taxonomy: the
    documented exception to one request per kind).
    """

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        index, tags = await asyncio.gather(client.get("/taxonomies/index"),
                                           client.get("/tags/index/exclude_statistics:1"))
        visible = sorted(t["name"] for t in rows(tags, "Tag") if not as_bool(t.get("hide_tag")))
        result = [{**unwrap(row, "Taxonomy"), "visible_tags": visible} for row in rows(index, "Taxonomy")]
        wanted_all = {k for k, e in declared.items() if isinstance(e, Taxonomy) and e.tags == "all"}
        views = await asyncio.gather(*(client.get(f"/taxonomies/view/{row['id']}") for row in result
                                       if row["namespace"] in wanted_all))
        every = {view["Taxonomy"]["namespace"]: [e["tag"] for e in view.get("entries", [])] for view in views}
        return [{**row, "all_tags": every.get(row["namespace"])} for row in result]

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        namespace = str(raw["namespace"])
        prefix = namespace + ":"
        fields: dict[str, object] = {name: as_bool(raw.get(name)) for name in FLAGS}
        fields["namespace"] = namespace
        fields["tags"] = [t for t in raw.get("visible_tags", []) if t.startswith(prefix)]
        return LiveObject(key=namespace, id=str(raw["id"]), fields=fields, raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Taxonomy)
        want: dict[str, object] = {"namespace": entry.namespace, "enabled": entry.enabled}
        for name in ("required", "highlighted"):
            if name in entry.model_fields_set:
                want[name] = getattr(entry, name)
        if entry.tags == "all":
            live = names.live("taxonomies").get(entry.namespace)
            want["tags"] = sorted(live.raw.get("all_tags") or []) if live else "all"
        elif entry.tags is not None:
            want["tags"] = sorted(set(entry.tags))
        return want

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        raise LookupError(f"MISP has no taxonomy {entry.namespace!r}: update its taxonomy library"  # type: ignore[attr-defined]
                          " (POST /taxonomies/update) or fix the namespace")

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, Taxonomy)
        fields = dict(live.fields)
        if "enabled" in changed:
            await client.post(f"/taxonomies/{'enable' if changed['enabled'] else 'disable'}/{live.id}")
            fields["enabled"] = changed["enabled"]
            if not changed["enabled"]:
                fields["tags"] = []  # disabling hides every tag of the taxonomy
        if "required" in changed:
            await client.post(f"/taxonomies/toggleRequired/{live.id}", {"Taxonomy": {"required": changed["required"]}})
            fields["required"] = changed["required"]
        wanted = changed.get("tags", fields["tags"] if "enabled" not in changed else
                             self.desired(entry, names).get("tags", fields["tags"]))
        if isinstance(wanted, list):
            await self.select(client, live, set(fields["tags"]), set(wanted))  # type: ignore[call-overload]
            fields["tags"] = sorted(wanted)
        return LiveObject(key=live.key, id=live.id, fields=fields, raw=live.raw)

    async def select(self, client: MispClient, live: LiveObject, have: set[str], want: set[str]) -> None:
        # nameList must be a JSON-encoded *string*: a JSON array makes MISP fail with 500
        # (transcript taxonomies--addtag-selection).
        if want - have:
            await client.post("/taxonomies/addTag", {"Taxonomy": {
                "taxonomy_id": live.id, "nameList": json.dumps(sorted(want - have))}})
        if have - want:
            await client.post("/taxonomies/disableTag", {"Taxonomy": {
                "taxonomy_id": live.id, "nameList": json.dumps(sorted(have - want))}})

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/taxonomies/disable/{live.id}")  # a taxonomy is never deleted, only disabled


KIND = Kind(name="taxonomies", model=Taxonomy, key=lambda e: e.namespace, key_fields=("namespace",),
            adapter=TaxonomyAdapter())
