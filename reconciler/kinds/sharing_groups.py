"""Sharing groups, by name and pinned uuid; members (organisations) and servers keyed by name."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_text, rows, saved, stated, unwrap
from reconciler.kinds.organisations import UUID_PATTERN
from reconciler.model.fields import KeyedBy

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

LOCAL_SERVER = "local"  # `server: local` is this instance (MISP's server id 0)


class Member(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    org: Annotated[str, Field(min_length=1)]
    extend: bool = False


class ServerMember(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    server: Annotated[str, Field(min_length=1)]
    all_orgs: bool = False


class SharingGroup(Entry):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    uuid: Annotated[str | None, Field(pattern=UUID_PATTERN)] = None
    description: str | None = None
    releasability: str | None = None
    active: bool | None = None
    roaming: bool | None = None
    organisations: Annotated[list[Member], KeyedBy("org")] = []
    servers: Annotated[list[ServerMember], KeyedBy("server")] = []


TEXT = ("description", "releasability")


class SharingGroupAdapter:
    """Members change through addOrg/removeOrg (an edit never removes anyone, and addOrg cannot change
    `extend`: a flipped extend is a removeOrg then an addOrg). Active and inactive groups are two lists in
    MISP (index and index/true): two requests. `active` cannot be changed through MISP's API, so it is
    sent on create only. This instance is server `local` (MISP's server 0), addressed by MISP.baseurl."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        active, inactive = await asyncio.gather(client.get("/sharing_groups/index"),
                                                client.get("/sharing_groups/index/true"))
        return rows(active, "SharingGroup") + rows(inactive, "SharingGroup")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        sg = unwrap(raw, "SharingGroup")
        orgs = {}
        for member in raw.get("SharingGroupOrg") or []:
            org = member.get("Organisation") or {}
            name = org.get("name") or names.key_of("organisations", str(member.get("org_id")))
            orgs[str(name)] = {"extend": as_bool(member.get("extend"))}
        servers = {}
        for member in raw.get("SharingGroupServer") or []:
            server_id = str(member.get("server_id"))
            name = LOCAL_SERVER if server_id == "0" else names.key_of("servers", server_id) or f"#{server_id}"
            servers[name] = {"all_orgs": as_bool(member.get("all_orgs"))}
        fields: dict[str, object] = {name: as_text(sg.get(name)) for name in TEXT}
        fields.update({"name": str(sg["name"]), "uuid": as_text(sg.get("uuid")).lower(),
                       "active": as_bool(sg.get("active")), "roaming": as_bool(sg.get("roaming")),
                       "organisations": orgs, "servers": servers})
        return LiveObject(key=str(sg["name"]), id=str(sg["id"]), fields=fields, uuid=str(fields["uuid"]), raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, SharingGroup)
        want: dict[str, object] = {"name": entry.name}
        for name in stated(entry, (*TEXT, "uuid", "active", "roaming", "organisations", "servers")):
            value = getattr(entry, name)
            if name == "organisations":
                want[name] = {m.org: {"extend": m.extend} for m in entry.organisations}
            elif name == "servers":
                want[name] = {m.server: {"all_orgs": m.all_orgs} for m in entry.servers}
            elif name == "uuid":
                want[name] = as_text(value).lower()
            else:
                want[name] = as_text(value) if name in TEXT else bool(value)
        return want

    async def server_rows(self, client: MispClient, servers: Mapping[str, Any], names: Names) -> list[dict[str, Any]]:
        result = []
        for name, flags in servers.items():
            if name == LOCAL_SERVER:
                setting = await client.get("/servers/getSetting/MISP.baseurl")
                url = str(setting.get("value") or "") if isinstance(setting, dict) else ""
            else:
                url = str(names.live("servers")[name].fields.get("url", ""))
            all_orgs = bool(flags["all_orgs"])
            result.append({"all_orgs": all_orgs, "Server": {"url": url, "all_orgs": all_orgs}})
        return result

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, SharingGroup)
        want = self.desired(entry, names)
        body: dict[str, Any] = {k: want[k] for k in ("name", *TEXT, "uuid", "active", "roaming") if k in want}
        body["SharingGroupOrg"] = [{"extend": m.extend, "Organisation": self.org_ref(m.org, names)}
                                   for m in entry.organisations]
        if "servers" in want:
            body["SharingGroupServer"] = await self.server_rows(client, want["servers"], names)  # type: ignore[arg-type]
        answer = await client.post("/sharing_groups/add", body)
        return self.reread(answer, names)

    @staticmethod
    def org_ref(name: str, names: Names) -> dict[str, Any]:
        """Only uuid and name: MISP overwrites an existing org's other fields with what a capture carries."""
        org = names.live("organisations").get(name)
        return {"uuid": org.uuid, "name": name} if org is not None else {"name": name}

    def reread(self, answer: Any, names: Names) -> LiveObject:
        return saved(self.parse(answer, names))

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        fields = dict(live.fields)
        plain = {k: v for k, v in changed.items() if k in ("name", *TEXT, "roaming")}
        if plain or "servers" in changed:
            body: dict[str, Any] = dict(plain)
            if "servers" in changed:
                body["SharingGroupServer"] = await self.server_rows(client, changed["servers"], names)  # type: ignore[arg-type]
            await client.post(f"/sharing_groups/edit/{live.id}", body)
            fields.update(changed)
        if "organisations" in changed:
            await self.sync_members(client, live, changed["organisations"], names)  # type: ignore[arg-type]
            fields["organisations"] = changed["organisations"]
        return LiveObject(key=str(fields["name"]), id=live.id, fields=fields, uuid=live.uuid, raw=live.raw)

    async def sync_members(self, client: MispClient, live: LiveObject, want: Mapping[str, Any], names: Names) -> None:
        have: Mapping[str, Any] = live.fields.get("organisations") or {}  # type: ignore[assignment]
        for org in sorted(set(have) - set(want) | {o for o in set(have) & set(want) if have[o] != want[o]}):
            await client.post(f"/sharing_groups/removeOrg/{live.id}/{names.id_of('organisations', org)}")
        for org in sorted(set(want) - set(have) | {o for o in set(have) & set(want) if have[o] != want[o]}):
            extend = "/1" if want[org]["extend"] else ""
            await client.post(f"/sharing_groups/addOrg/{live.id}/{names.id_of('organisations', org)}{extend}")

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/sharing_groups/delete/{live.id}")


KIND = Kind(name="sharing_groups", model=SharingGroup, key=lambda e: e.name, builtin_refs=frozenset({LOCAL_SERVER}),
            refs={"organisations[].org": "organisations", "servers[].server": "servers"},
            adapter=SharingGroupAdapter())
