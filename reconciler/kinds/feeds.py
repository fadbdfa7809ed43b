"""Feeds, by URL. `default: NAME` starts from an entry of MISP's catalogue of 84 default feeds."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, as_text, canonical_rules, rows, saved, unwrap
from reconciler.kinds.servers import Rules
from reconciler.model.fields import Ordered
from reconciler.model.secrets import SecretRef

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

Distribution = Literal["org", "community", "connected", "all", "sharing_group", "inherit"]


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """MISP's default feeds by name (package data, AGPL-3.0, see reconciler/data/NOTICE.md)."""
    text = resources.files("reconciler").joinpath("data/feed-defaults.json").read_text("utf-8")
    return {item["Feed"]["name"]: item for item in json.loads(text)}


class CsvSettings(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    value: Annotated[list[int], Ordered()] = []  # CSV column numbers, kept as written
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


DISTRIBUTIONS = ("org", "community", "connected", "all", "sharing_group", "inherit")  # MISP's 0..5
FLAGS = ("fixed_event", "delta_merge", "publish", "override_ids", "caching_enabled", "lookup_visible", "enabled")
TEXTS = ("name", "provider", "url", "source_format", "input_source")


def csv_settings_from_misp(value: Any) -> dict[str, object] | None:
    """MISP keeps a feed's CSV settings as a JSON string: {"csv": {"value": "1,2", "delimiter": ","},
    "common": {"excluderegex": ""}}; canonical: value columns as numbers, delimiter, exclude regex."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            return None
    if not isinstance(value, dict) or not isinstance(value.get("csv"), dict):
        return None
    csv = value["csv"]
    columns = [int(c) for c in str(csv.get("value") or "").split(",") if c.strip().isdigit()]
    common = value.get("common")
    exclude = common.get("excluderegex") if isinstance(common, dict) else ""
    return {"value": columns, "delimiter": str(csv.get("delimiter") or ","), "exclude_regex": str(exclude or "")}


class FeedAdapter:
    """Feeds by URL; distribution, sharing group and tag by name. MISP's REST add fills in defaults of its own
    (fixed_event true, distribution 0): for a catalogue feed the catalogue's values are sent instead, so a feed
    picked from the defaults is created as MISP's own "load default feeds" would have it."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/feeds/index"), "Feed")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        feed = unwrap(raw, "Feed")
        distribution = as_int(feed.get("distribution"))
        fields: dict[str, object] = {name: as_text(feed.get(name)) for name in TEXTS}
        fields.update({name: as_bool(feed.get(name)) for name in FLAGS})
        fields["distribution"] = DISTRIBUTIONS[distribution] if 0 <= distribution < 6 else str(distribution)
        sg, tag = as_int(feed.get("sharing_group_id")), as_int(feed.get("tag_id"))
        fields["sharing_group"] = names.key_of("sharing_groups", str(sg)) if sg else None
        fields["tag"] = names.key_of("tags", str(tag)) if tag else None
        fields["rules"] = canonical_rules(feed.get("rules"))
        fields["settings"] = csv_settings_from_misp(feed.get("settings"))
        return LiveObject(key=str(feed["url"]), id=str(feed["id"]), fields=fields, raw=feed)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Feed)
        stated = set(entry.model_fields_set) | ({"name", "provider", "url", "source_format"} if entry.default else set())
        want: dict[str, object] = {"url": entry.url}
        for name in (*TEXTS, *FLAGS, "distribution", "sharing_group", "tag"):
            if name in stated:
                want[name] = getattr(entry, name)
        if "rules" in stated:
            want["rules"] = canonical_rules(entry.rules.model_dump(exclude_none=True) if entry.rules else None)
        if "settings" in stated and entry.settings is not None:
            want["settings"] = {"value": list(entry.settings.value), "delimiter": entry.settings.delimiter,
                                "exclude_regex": entry.settings.exclude_regex or ""}
        if "headers" in stated and entry.headers is not None:
            want["headers"] = entry.headers.describe()  # write-only: compared by reference, never read back
        return want

    def body(self, entry: Feed, values: Mapping[str, object], names: Names) -> dict[str, object]:
        body: dict[str, object] = {}
        for name, value in values.items():
            if name == "distribution":
                body["distribution"] = str(DISTRIBUTIONS.index(str(value)))
            elif name == "sharing_group":
                body["sharing_group_id"] = names.id_of("sharing_groups", str(value)) if value else "0"
            elif name == "tag":
                body["tag_id"] = names.id_of("tags", str(value)) if value else "0"
            elif name == "rules":
                body["rules"] = json.dumps(entry.rules.model_dump(exclude_none=True) if entry.rules else {})
            else:
                body[name] = value
        if entry.headers is not None and "headers" in values:
            body["headers"] = names.secret(entry.headers)
        if entry.settings is not None and "settings" in values:
            body["settings"] = json.dumps({"csv": {"value": ",".join(map(str, entry.settings.value)),
                                                   "delimiter": entry.settings.delimiter},
                                           "common": {"excluderegex": entry.settings.exclude_regex or ""}})
        return body

    def catalogue_defaults(self, entry: Feed) -> dict[str, object]:
        if not entry.default:
            return {"fixed_event": False, "distribution": "3"} if entry.fixed_event is None else {}
        feed = catalogue()[entry.default]["Feed"]
        keep = ("fixed_event", "delta_merge", "publish", "override_ids", "distribution", "input_source", "rules",
                "settings", "lookup_visible", "caching_enabled")
        return {k: feed[k] for k in keep if k in feed}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, Feed)
        body = {**self.catalogue_defaults(entry), **self.body(entry, self.desired(entry, names), names)}
        answer = await client.post("/feeds/add", {"Feed": body})
        return saved(self.parse(answer, names))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, Feed)
        answer = await client.post(f"/feeds/edit/{live.id}", {"Feed": self.body(entry, changed, names)})
        return saved(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/feeds/delete/{live.id}")


KIND = Kind(name="feeds", model=Feed, key=lambda e: e.url, key_fields=("url",),
            refs={"tag": "tags", "sharing_group": "sharing_groups"}, adapter=FeedAdapter())
