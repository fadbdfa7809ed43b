"""Tags, by exact name. Restrictions name an organisation or a user."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, rows, saved, stated, unwrap

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class Tag(Entry):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    colour: Annotated[str | None, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = None
    exportable: bool | None = None
    hide_tag: bool | None = None
    local_only: bool | None = None
    org: str | None = None
    user: str | None = None
    numerical_value: Annotated[int | None, Field(ge=-(2**31), le=2**31 - 1)] = None


FLAGS = ("exportable", "hide_tag", "local_only")


class TagAdapter:
    """A tag edit resets every field it is not sent (org_id, user_id, hide_tag, exportable, local_only) to its
    default (transcript tags--crud, reference §7): updates always send the whole tag."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/tags/index/exclude_statistics:1"), "Tag")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        tag = unwrap(raw, "Tag")
        numerical = tag.get("numerical_value")
        fields: dict[str, object] = {
            "name": str(tag["name"]), "colour": str(tag.get("colour") or "").lower(),
            "org": names.key_of("organisations", str(tag.get("org_id"))) if as_int(tag.get("org_id")) else None,
            "user": names.key_of("users", str(tag.get("user_id"))) if as_int(tag.get("user_id")) else None,
            "numerical_value": None if numerical in (None, "") else as_int(numerical),
        }
        fields.update({name: as_bool(tag.get(name)) for name in FLAGS})
        return LiveObject(key=str(tag["name"]), id=str(tag["id"]), fields=fields, raw=tag)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Tag)
        want: dict[str, object] = {"name": entry.name}
        for name in stated(entry, ("colour", *FLAGS, "org", "user", "numerical_value")):
            value = getattr(entry, name)
            want[name] = value.lower() if name == "colour" and isinstance(value, str) else value
        if "user" in want and isinstance(want["user"], str):
            want["user"] = want["user"].casefold()
        return want

    def body(self, values: Mapping[str, object], names: Names) -> dict[str, object]:
        body: dict[str, object] = {}
        for name, value in values.items():
            if name == "org":
                body["org_id"] = names.id_of("organisations", str(value)) if value else "0"
            elif name == "user":
                body["user_id"] = names.id_of("users", str(value)) if value else "0"
            else:
                body[name] = value
        return body

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        answer = await client.post("/tags/add", {"Tag": self.body(self.desired(entry, names), names)})
        return saved(self.parse(answer, names))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        whole = {**live.fields, **changed}
        if whole.get("numerical_value") is None:
            whole.pop("numerical_value", None)
        answer = await client.post(f"/tags/edit/{live.id}", {"Tag": self.body(whole, names)})
        return saved(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/tags/delete/{live.id}")


KIND = Kind(name="tags", model=Tag, key=lambda e: e.name, refs={"org": "organisations", "user": "users"},
            adapter=TagAdapter())
