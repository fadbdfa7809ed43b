"""Sync links to other MISP instances, by name. The remote's auth key is write-only (MISP never returns it)."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, as_text, canonical_rules, rows, saved, unwrap
from reconciler.kinds.organisations import UUID_PATTERN
from reconciler.model.fields import AsSet
from reconciler.model.secrets import SecretRef

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


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
    # MISP never returns the key, nor the certificates' contents (only file names it chose): all three are
    # compared with what the last apply sent (a digest of each file, the key's reference).
    WRITE_ONLY: ClassVar[frozenset[str]] = frozenset({"authkey", "ca_file", "client_cert_file"})

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


FLAGS = ("push", "pull", "push_sightings", "push_galaxy_clusters", "pull_galaxy_clusters", "push_analyst_data",
         "pull_analyst_data", "caching_enabled", "unpublish_event", "publish_without_email", "internal", "self_signed",
         "skip_proxy", "remove_missing_tags")


RULE_KINDS = {"tags": "tags", "orgs": "organisations"}


def push_rules_by_id(rules: dict[str, Any], names: Names) -> dict[str, Any]:
    """Tag and org names of a push rule → this instance's ids, as MISP matches push rules."""
    result = dict(rules)
    for section, kind in RULE_KINDS.items():
        if isinstance(rules.get(section), dict):
            result[section] = {op: [names.id_of(kind, value) if value in names.live(kind) else value
                                    for value in values] for op, values in rules[section].items()}
    return result


def push_rules_by_name(rules: dict[str, Any] | None, names: Names) -> dict[str, Any] | None:
    """The reverse, for comparing: ids MISP stored in push rules back to the names a manifest writes."""
    if rules is None:
        return None
    result = dict(rules)
    for section, kind in RULE_KINDS.items():
        if isinstance(rules.get(section), dict):
            result[section] = {op: sorted(names.key_of(kind, str(value)) or str(value) for value in values)
                               for op, values in rules[section].items()}
    return result


def unknown_push_rule_references(entry: Server, declared: dict[str, set[str]], names: Names) -> list[str]:
    """Push rules name this instance's tags and orgs: each must be declared or already in MISP."""
    problems = []
    rules = entry.push_rules.model_dump(exclude_none=True) if entry.push_rules else {}
    for section, kind in RULE_KINDS.items():
        for values in (rules.get(section) or {}).values():
            for value in values:
                if value not in declared.get(kind, set()) and value not in names.live(kind):
                    problems.append(f"push_rules.{section} names {value!r}, which is neither declared under "
                                    f"`{kind}:` nor present in MISP")
    return problems


def remote_org_name(entry: Server) -> str:
    return entry.remote_org if isinstance(entry.remote_org, str) else entry.remote_org.name


class ServerAdapter:
    """Sync links by name. The remote's key is write-only: MISP echoes it on add/edit but never lists it, so it is
    dropped from every answer and compared through the ledger's fingerprint of its reference (`authkey` changes
    when the reference does). `priority` is ignored by MISP on add: it is set with an edit right after."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/servers/index"), "Server")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        server = {k: v for k, v in unwrap(raw, "Server").items() if k != "authkey"}
        fields: dict[str, object] = {"name": as_text(server.get("name")), "url": as_text(server.get("url")).rstrip("/")}
        fields.update({name: as_bool(server.get(name)) for name in FLAGS})
        fields["priority"] = as_int(server.get("priority"))
        fields["remote_org"] = names.key_of("organisations", str(server.get("remote_org_id")))
        fields["push_rules"] = push_rules_by_name(canonical_rules(server.get("push_rules")), names)
        fields["pull_rules"] = canonical_rules(server.get("pull_rules"))
        return LiveObject(key=str(fields["name"]), id=str(server["id"]), fields=fields, raw=server)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Server)
        want: dict[str, object] = {"name": entry.name, "url": entry.url.rstrip("/"),
                                   "remote_org": remote_org_name(entry), "authkey": entry.authkey.describe()}
        for name in (*FLAGS, "priority"):
            if name in entry.model_fields_set:
                want[name] = getattr(entry, name)
        for name in ("push_rules", "pull_rules"):
            if name in entry.model_fields_set:
                rules = getattr(entry, name)
                want[name] = canonical_rules(rules.model_dump(exclude_none=True) if rules else None)
        for name in ("ca_file", "client_cert_file"):
            path = getattr(entry, name)
            if name in entry.model_fields_set and path:
                try:
                    want[name] = "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
                except OSError:  # reported by the plan as a missing file, before anything is written
                    want[name] = f"unreadable: {path}"
        return want

    def body(self, entry: Server, values: Mapping[str, object], names: Names) -> dict[str, object]:
        body: dict[str, object] = {}
        for name, value in values.items():
            if name == "remote_org":
                body["remote_org_id"] = names.id_of("organisations", str(value))
            elif name == "authkey":
                body["authkey"] = names.secret(entry.authkey)
            elif name in ("push_rules", "pull_rules"):
                rules = getattr(entry, name)
                dumped = rules.model_dump(exclude_none=True) if rules else {}
                # Push rules filter this instance's data: MISP matches them by local tag and org ids.
                # Pull rules filter the remote's: they keep the remote's names (reference 1.5).
                body[name] = json.dumps(push_rules_by_id(dumped, names) if name == "push_rules" else dumped)
            elif name in ("ca_file", "client_cert_file"):  # uploaded as base64 of the PEM (reference 1.5.3)
                upload = "submitted_cert" if name == "ca_file" else "submitted_client_cert"
                body[upload] = base64.b64encode(Path(str(getattr(entry, name))).read_bytes()).decode()
            else:
                body[name] = value
        return body

    async def ensure_remote_org(self, client: MispClient, entry: Server, names: Names) -> None:
        """A remote organisation missing locally is created as an external one, with its uuid when given."""
        name = remote_org_name(entry)
        if name in names.live("organisations"):
            return
        org: dict[str, object] = {"name": name, "local": False}
        if not isinstance(entry.remote_org, str) and entry.remote_org.uuid:
            org["uuid"] = entry.remote_org.uuid
        answer = await client.post("/admin/organisations/add", org)
        created = unwrap(answer, "Organisation")
        names.put("organisations", LiveObject(key=name, id=str(created["id"]), fields={"name": name},
                                              uuid=str(created.get("uuid"))))

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, Server)
        await self.ensure_remote_org(client, entry, names)
        want = self.desired(entry, names)
        answer = await client.post("/servers/add", {"Server": self.body(entry, want, names)})
        server = self.parse(answer, names)
        assert server is not None
        if "priority" in want and server.fields["priority"] != want["priority"]:
            server = await self.update(client, entry, server, {"priority": want["priority"]}, names)
        return server

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, Server)
        answer = await client.post(f"/servers/edit/{live.id}", {"Server": self.body(entry, changed, names)})
        return saved(self.parse(answer, names))

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/servers/delete/{live.id}")


KIND = Kind(name="servers", model=Server, key=lambda e: e.name, refs={"remote_org": "organisations"},
            adapter=ServerAdapter())
