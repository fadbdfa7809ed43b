"""Sync links to other MISP instances, by name. The remote's auth key is write-only (MISP never returns it)."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds.organisations import UUID_PATTERN
from reconciler.model.fields import AsSet
from reconciler.model.secrets import SecretRef


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class RemoteOrg(Strict):
    name: Annotated[str, Field(min_length=1)]
    uuid: Annotated[str | None, Field(pattern=UUID_PATTERN)] = None


class OrNot(Strict):
    """MISP's rule lists: any of OR, none of NOT."""

    OR: Annotated[list[str], AsSet()] = []
    NOT: Annotated[list[str], AsSet()] = []


class Rules(Strict):
    tags: OrNot | None = None
    orgs: OrNot | None = None
    type_attributes: OrNot | None = None
    type_objects: OrNot | None = None
    url_params: dict[str, str] | None = None


class Server(Entry):
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"authkey"})
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset({"authkey"})

    name: Annotated[str, Field(min_length=1, max_length=255)]
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+")]
    remote_org: str | RemoteOrg
    authkey: SecretRef
    push: bool | None = None
    pull: bool | None = None
    push_sightings: bool | None = None
    push_galaxy_clusters: bool | None = None
    pull_galaxy_clusters: bool | None = None
    push_analyst_data: bool | None = None
    pull_analyst_data: bool | None = None
    caching_enabled: bool | None = None
    unpublish_event: bool | None = None
    publish_without_email: bool | None = None
    internal: bool | None = None
    self_signed: bool | None = None
    skip_proxy: bool | None = None
    remove_missing_tags: bool | None = None
    priority: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    push_rules: Rules | None = None
    pull_rules: Rules | None = None
    ca_file: str | None = None
    client_cert_file: str | None = None


KIND = Kind(name="servers", model=Server, key=lambda e: e.name, refs={"remote_org": "organisations"})
