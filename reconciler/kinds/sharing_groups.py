"""Sharing groups, by name and pinned uuid; members (organisations) and servers keyed by name."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds.organisations import UUID_PATTERN
from reconciler.model.fields import KeyedBy

LOCAL_SERVER = "local"  # `server: local` is this instance (MISP's server id 0)


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    org: Annotated[str, Field(min_length=1)]
    extend: bool = False


class ServerMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
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


KIND = Kind(name="sharing_groups", model=SharingGroup, key=lambda e: e.name,
            refs={"organisations[].org": "organisations", "servers[].server": "servers"})
