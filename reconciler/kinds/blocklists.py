"""Organisation and event blocklists, by uuid."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_text, rows, saved, unwrap
from reconciler.kinds.organisations import UUID_PATTERN

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class OrgBlock(Entry):
    uuid: Annotated[str, Field(pattern=UUID_PATTERN)]
    org_name: str | None = None
    comment: str | None = None


class EventBlock(Entry):
    uuid: Annotated[str, Field(pattern=UUID_PATTERN)]
    event_info: str | None = None
    org_name: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class BlocklistAdapter:
    """Both blocklists: one list request; entries are added in bulk by `uuids` and edited or deleted by uuid
    (transcripts org_blocklists--crud, event_blocklists--crud). Manifest field → MISP column."""

    path: str  # /org_blocklists
    wrapper: str  # OrgBlocklist
    uuid_column: str  # org_uuid
    columns: Mapping[str, str]  # manifest field → MISP column

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get(f"{self.path}/index"), self.wrapper)

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        row = unwrap(raw, self.wrapper)
        uuid = as_text(row.get(self.uuid_column)).lower()
        fields: dict[str, object] = {"uuid": uuid}
        fields.update({name: as_text(row.get(column)) for name, column in self.columns.items()})
        return LiveObject(key=uuid, id=uuid, fields=fields, uuid=uuid, raw=row)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, OrgBlock | EventBlock)
        want: dict[str, object] = {"uuid": entry.uuid.lower()}
        want.update({name: as_text(getattr(entry, name)) for name in self.columns if name in entry.model_fields_set})
        return want

    def body(self, values: Mapping[str, object]) -> dict[str, object]:
        return {self.columns[name]: value for name, value in values.items() if name in self.columns}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        want = self.desired(entry, names)
        await client.post(f"{self.path}/add", {"uuids": [want["uuid"]], **self.body(want)})
        return LiveObject(key=str(want["uuid"]), id=str(want["uuid"]), fields=want, uuid=str(want["uuid"]))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        answer = await client.post(f"{self.path}/edit/{live.id}", {self.wrapper: self.body(changed)})
        return saved(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"{self.path}/delete/{live.id}")


ORG_BLOCKLIST = Kind(
    name="org_blocklist", model=OrgBlock, key=lambda e: e.uuid.lower(), key_fields=("uuid",), normalise_key=str.lower,
    adapter=BlocklistAdapter("/org_blocklists", "OrgBlocklist", "org_uuid",
                             {"org_name": "org_name", "comment": "comment"}))
EVENT_BLOCKLIST = Kind(
    name="event_blocklist", model=EventBlock, key=lambda e: e.uuid.lower(), key_fields=("uuid",),
    normalise_key=str.lower,
    adapter=BlocklistAdapter("/event_blocklists", "EventBlocklist", "event_uuid",
                             {"event_info": "event_info", "org_name": "event_orgc", "comment": "comment"}))
