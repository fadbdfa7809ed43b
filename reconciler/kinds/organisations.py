"""Organisations: local and external, pinned by uuid where given (ids differ between instances)."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_text, rows, sorted_set, stated, unwrap
from reconciler.model.fields import AsSet

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Organisation(Entry):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    uuid: Annotated[str | None, Field(pattern=UUID_PATTERN)] = None
    description: str | None = None
    type: Annotated[str | None, Field(max_length=255)] = None
    nationality: Annotated[str | None, Field(max_length=255)] = None
    sector: Annotated[str | None, Field(max_length=255)] = None
    contacts: str | None = None
    local: bool | None = None
    restricted_to_domain: Annotated[list[str], AsSet()] = []
    landingpage: str | None = None

    @field_validator("restricted_to_domain")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        for domain in domains:
            if not domain or " " in domain or "@" in domain:
                raise ValueError(f"expected a domain name like example.org, got {domain!r}")
        return domains


# -- MISP adapter -----------------------------------------------------------------------------------------
TEXT_FIELDS = ("name", "description", "type", "nationality", "sector", "contacts", "landingpage")


class OrganisationAdapter:
    """/organisations/index/scope:all lists local and external orgs in one request (transcript
    organisations--list-scopes: the `?scope=` query string is ignored, the named parameter is not)."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/organisations/index/scope:all"), "Organisation")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        org = unwrap(raw, "Organisation")
        fields: dict[str, object] = {name: as_text(org.get(name)) for name in TEXT_FIELDS}
        fields["uuid"] = as_text(org.get("uuid")).lower()
        fields["local"] = as_bool(org.get("local"))
        fields["restricted_to_domain"] = sorted_set(org.get("restricted_to_domain"))
        return LiveObject(key=str(org["name"]), id=str(org["id"]), fields=fields, uuid=str(fields["uuid"]),
                          raw=org)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Organisation)
        want: dict[str, object] = {}
        for name in stated(entry, (*TEXT_FIELDS, "uuid", "local", "restricted_to_domain")):
            value = getattr(entry, name)
            if name == "restricted_to_domain":
                want[name] = sorted_set(value)
            elif name == "local":
                want[name] = bool(value)
            elif name == "uuid":
                want[name] = as_text(value).lower()
            else:
                want[name] = as_text(value)
        want["name"] = entry.name
        return want

    def body(self, values: Mapping[str, object]) -> dict[str, object]:
        return dict(values)

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        answer = await client.post("/admin/organisations/add", self.body(self.desired(entry, names)))
        return self.checked(self.parse(answer, names))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        answer = await client.post(f"/admin/organisations/edit/{live.id}", self.body(changed))
        return self.checked(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/admin/organisations/delete/{live.id}")

    @staticmethod
    def checked(obj: LiveObject | None) -> LiveObject:
        assert obj is not None
        return obj


KIND = Kind(name="organisations", model=Organisation, key=lambda e: e.name, adapter=OrganisationAdapter())
