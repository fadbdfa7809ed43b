"""Plan and apply a fleet: each instance's manifests plus the objects every link derives on both ends.

Per link (from → to): on `to`, the local host org as an external org, a sync user in it and an auth key
(comment `fleet link <from>`); on `from`, a `servers` entry named after `to`. The key created on `to` is caught
from MISP's answer in memory and handed to the `from` apply through `Options.memory_secrets`: never written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from reconciler.backend.client import MispClient
from reconciler.diags import Diagnostics, SourceRange
from reconciler.engine import run
from reconciler.engine.run import Applied, Options, Planned
from reconciler.fleet.model import SYNC_ROLE, Link, LoadedFleet
from reconciler.kinds.auth_keys import AuthKey
from reconciler.kinds.organisations import Organisation
from reconciler.kinds.servers import RemoteOrg, Server
from reconciler.kinds.users import User
from reconciler.manifest.desired import Desired, Located
from reconciler.manifest.document import Instance
from reconciler.model.secrets import REDACTOR, SecretRef
from reconciler.plans.change import Action


def link_comment(link: Link) -> str:
    return f"fleet link {link.from_}"


def secret_name(remote: str) -> str:
    return "FLEET_LINK_" + re.sub(r"[^A-Za-z0-9]", "_", remote).upper()


def sandbox_url(name: str) -> str:
    """The url a sandbox instance is known by to its peers (answered in-process, never resolved)."""
    return f"http://{name.lower().replace('_', '-')}.fleet.invalid"


@dataclass(slots=True)
class HostOrg:
    name: str
    uuid: str


@dataclass(slots=True)
class FleetRun:
    """One fleet, its instances loaded, the apps of its sandboxes and the keys caught in flight."""

    loaded: LoadedFleet
    options: Options
    desired: dict[str, Desired] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (remote, comment) → clear key, memory only
    host_orgs: dict[str, HostOrg] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def state_dir(self, name: str) -> Path:
        return self.options.state_dir / name

    def url_of(self, name: str) -> str:
        spec = self.loaded.instance(name)
        return spec.url if spec is not None and spec.url else sandbox_url(name)

    def app_of(self, name: str) -> Any:
        if name not in self.apps:
            from reconciler.engine.targets import sandbox_db_url
            from reconciler.sandbox import create_app

            self.apps[name] = create_app(sandbox_db_url(self.state_dir(name), name))
        return self.apps[name]

    def options_for(self, name: str, memory: dict[str, str] | None = None) -> Options:
        return replace(self.options, state_dir=self.state_dir(name), client_factory=self.client_factory(name),
                       memory_secrets=memory)

    def client_factory(self, name: str) -> Callable[[Desired, Options], MispClient]:
        def build(desired: Desired, options: Options) -> MispClient:
            client = run.client_for(desired, replace(options, client_factory=None))
            http: Any = client._http
            transport = http._transport
            if isinstance(transport, httpx.ASGITransport):
                self.link_sandbox(name, transport.app)
            http._transport = CatchKeys(transport, name, self.keys)
            return client

        return build

    def link_sandbox(self, name: str, app: Any) -> None:
        """Let this sandbox's connection tests reach every sandbox peer it links to, in-process."""
        from reconciler.sandbox.resources.servers import link_remote

        for link in self.loaded.fleet.links:
            spec = self.loaded.instance(link.to)
            if link.from_ == name and spec is not None and not spec.url:
                link_remote(app, sandbox_url(link.to), self.app_of(link.to))


class CatchKeys(httpx.AsyncBaseTransport):
    """Reads the clear key out of MISP's answer to an auth key add (the adapter then drops it), in memory."""

    def __init__(self, inner: httpx.AsyncBaseTransport, instance: str, keys: dict[tuple[str, str], str]) -> None:
        self.inner = inner
        self.instance = instance
        self.keys = keys

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or not request.url.path.startswith("/auth_keys/add/"):
            return response
        body = await response.aread()
        try:
            created = json.loads(body).get("AuthKey", {})
        except (ValueError, AttributeError):
            created = {}
        raw, comment = created.get("authkey_raw"), str(created.get("comment") or "")
        if isinstance(raw, str) and raw and comment.startswith("fleet link "):
            REDACTOR.register(raw)
            self.keys[(self.instance, comment)] = raw
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              request=request, extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- loading and checking ---------------------------------------------------------------------------------
def load_instances(fr: FleetRun, diags: Diagnostics) -> None:
    from reconciler.manifest.load import load

    for index, spec in enumerate(fr.loaded.fleet.instances):
        where = fr.loaded.where("instances", index, "manifests")
        directory = fr.loaded.manifest_dir(spec)
        if not directory.is_dir():
            diags.error("fleet-manifests", f"instance {spec.name!r}: manifest directory {directory} not found",
                        subject=where)
            continue
        desired, found = load([directory], env=spec.env)
        diags.extend(found)
        base = desired.instance or Instance()
        update: dict[str, Any] = {"name": spec.name}
        if spec.url:
            update.update(url=spec.url, key=spec.key)
        desired.instance = base.model_copy(update=update)
        fr.desired[spec.name] = desired


def check_topology(fr: FleetRun, diags: Diagnostics) -> None:
    """Links between declared instances, never to themselves, with a sync-capable role; push filters, loops."""
    names = [i.name for i in fr.loaded.fleet.instances]
    for index, spec in enumerate(fr.loaded.fleet.instances):
        if names.count(spec.name) > 1 and names.index(spec.name) != index:
            diags.error("fleet-duplicate", f"instance {spec.name!r} is declared twice",
                        subject=fr.loaded.where("instances", index, "name"))
        if spec.url and spec.key is None:
            diags.error("fleet-key", f"instance {spec.name!r} has a url but no key reference",
                        subject=fr.loaded.where("instances", index), path=f"fleet.instances[{index}].key")
    pushes: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    for index, link in enumerate(fr.loaded.fleet.links):
        path = f"fleet.links[{index}]"
        for end, name in (("from", link.from_), ("to", link.to)):
            if name not in names:
                diags.error("fleet-unknown-instance", f"link {end} {name!r}: no such instance in the fleet "
                            f"(declared: {', '.join(names)})", subject=fr.loaded.where("links", index, end),
                            path=f"{path}.{end}")
        local, remote = fr.loaded.instance(link.from_), fr.loaded.instance(link.to)
        if local is not None and remote is not None and local.url and not remote.url:
            diags.error("fleet-sandbox-remote", f"{link.from_} is a real MISP ({local.url}) but {link.to} is a "
                        "sandbox (no url): a real MISP cannot reach an in-process sandbox",
                        subject=fr.loaded.where("links", index, "to"), path=f"{path}.to")
        if link.from_ == link.to:
            diags.error("fleet-self-link", f"instance {link.from_!r} cannot link to itself",
                        subject=fr.loaded.where("links", index, "to"), path=f"{path}.to")
        if (link.from_, link.to) in seen:
            diags.error("fleet-duplicate-link", f"{link.from_} → {link.to} is linked twice",
                        subject=fr.loaded.where("links", index), path=path)
        seen.add((link.from_, link.to))
        if not link.pull and not link.push:
            diags.warning("fleet-idle-link", f"{link.from_} → {link.to} neither pulls nor pushes",
                          subject=fr.loaded.where("links", index), path=path)
        check_role(fr, link, index, diags)
        if link.push:
            if link.push_rules is None or not link.push_rules.model_dump(exclude_none=True, exclude_defaults=True):
                diags.warning("fleet-push-unfiltered", f"{link.from_} pushes to {link.to} without any filter: "
                              "every event it may share goes", subject=fr.loaded.where("links", index, "push"),
                              path=f"{path}.push_rules")
            if (link.to, link.from_) in pushes:
                diags.warning("fleet-push-loop", f"{link.from_} and {link.to} push to each other",
                              subject=fr.loaded.where("links", index, "push"), path=f"{path}.push")
            pushes.add((link.from_, link.to))


def check_role(fr: FleetRun, link: Link, index: int, diags: Diagnostics) -> None:
    role = link.sync_user.role
    if role == SYNC_ROLE:
        return
    remote = fr.desired.get(link.to)
    located = remote.entries.get("roles", {}).get(role) if remote is not None else None
    perms = list(getattr(located.entry, "perms", []) or []) if located is not None else []
    if "sync" not in perms:
        why = "does not grant sync (add `sync` to its perms)" if located else f"is not declared on {link.to}"
        diags.error("fleet-sync-role", f"sync user role {role!r} {why}: a sync user needs perm_sync",
                    subject=fr.loaded.where("links", index, "sync_user", "role"), path=f"fleet.links[{index}].sync_user.role")


# -- derived objects ----------------------------------------------------------------------------------------
def put(desired: Desired, kind: str, key: str, entry: Any, where: SourceRange, diags: Diagnostics) -> None:
    entries = desired.entries.setdefault(kind, {})
    if key in entries and kind != "organisations":  # a partner org may be declared with more detail
        diags.error("fleet-conflict", f"the fleet link derives {kind}[{key!r}] on {instance_name(desired)}, "
                    f"also declared at {entries[key].where}: remove one", subject=where)
        return
    entries.setdefault(key, Located(entry, where))


def instance_name(desired: Desired) -> str:
    return run.instance_name(desired)


def check_rule_tags(fr: FleetRun, diags: Diagnostics) -> None:
    """Tags named in a link's rules that neither end's manifests declare: likely a typo (MISP may still have
    them, so a warning)."""
    for index, link in enumerate(fr.loaded.fleet.links):
        declared = {t.casefold() for name in (link.from_, link.to)
                    for t in fr.desired[name].entries.get("tags", {})}
        warn_unknown_rule_names(fr, link, index, "tags", declared, diags)
        check_rule_orgs(fr, link, index, diags)


def check_rule_orgs(fr: FleetRun, link: Link, index: int, diags: Diagnostics) -> None:
    """Orgs named (by name or uuid) in a link's rules that neither end declares nor hosts: a warning."""
    if not fr.host_orgs:
        return  # offline (validate): the host orgs are not known
    known: set[str] = set()
    for name in (link.from_, link.to):
        for key, located in fr.desired[name].entries.get("organisations", {}).items():
            known |= {key.casefold(), str(getattr(located.entry, "uuid", "") or "").casefold()}
        host = fr.host_orgs.get(name)
        if host is not None:
            known |= {host.name.casefold(), host.uuid.casefold()}
    warn_unknown_rule_names(fr, link, index, "orgs", known, diags)


RULE_NOUNS = {"tags": ("tag", "tag"), "orgs": ("org", "organisation")}  # rule filter → (code word, noun)


def warn_unknown_rule_names(fr: FleetRun, link: Link, index: int, what: str, known: set[str],
                            diags: Diagnostics) -> None:
    code, noun = RULE_NOUNS[what]
    for field_name in ("pull_rules", "push_rules"):
        rules = getattr(link, field_name)
        names = getattr(rules, what) if rules is not None else None
        if names is None:
            continue
        for name in sorted({*names.OR, *names.NOT}):
            if name.casefold() not in known:
                diags.warning(f"fleet-rule-unknown-{code}", f"{field_name} names {noun} {name!r}, declared on "
                              f"neither {link.from_} nor {link.to}", subject=fr.loaded.where("links", index, field_name),
                              path=f"fleet.links[{index}].{field_name}.{what}")


def derive(fr: FleetRun, diags: Diagnostics) -> None:
    """Add every link's objects to both ends' Desired (in memory only)."""
    for index, link in enumerate(fr.loaded.fleet.links):
        where = fr.loaded.where("links", index)
        local_org, remote_org = fr.host_orgs[link.from_], fr.host_orgs[link.to]
        remote, local = fr.desired[link.to], fr.desired[link.from_]
        email = link.sync_user.email
        put(remote, "organisations", local_org.name,
            Organisation(name=local_org.name, uuid=local_org.uuid, local=False), where, diags)
        put(remote, "users", email.casefold(), User(email=email, org=local_org.name, role=link.sync_user.role),
            where, diags)
        comment = link_comment(link)
        put(remote, "auth_keys", f"{email.casefold()}/{comment}", AuthKey(user=email, comment=comment), where,
            diags)
        server: dict[str, Any] = {"name": link.to, "url": fr.url_of(link.to),
                                  "remote_org": RemoteOrg(name=remote_org.name, uuid=remote_org.uuid),
                                  "authkey": SecretRef(env=secret_name(link.to)), "pull": link.pull,
                                  "push": link.push}
        if link.pull_rules is not None:
            server["pull_rules"] = link.pull_rules
        if link.push_rules is not None:
            server["push_rules"] = link.push_rules
        put(local, "servers", link.to, Server(**server), where, diags)


DEFAULT_HOST_ORG = "ORGNAME"  # a fresh MISP's host org: every sandbox has one of this name


async def read_host_orgs(fr: FleetRun) -> None:
    """Each instance's host org (its site admin's org). A fresh sandbox's ORGNAME is named after its instance
    first (sandbox provisioning), or every sandbox of the fleet would claim the same organisation name."""
    for name, desired in fr.desired.items():
        async with run.client_for(desired, fr.options_for(name)) as client:
            me = await client.get("/users/view/me")
            version = await client.get("/servers/getVersion")
            fr.versions[name] = str(version.get("version", "")) if isinstance(version, dict) else ""
            org = me.get("Organisation", {}) if isinstance(me, dict) else {}
            spec = fr.loaded.instance(name)
            if spec is not None and not spec.url and org.get("name") == DEFAULT_HOST_ORG:
                answer = await client.post(f"/admin/organisations/edit/{org['id']}", {"name": f"{name} host org"})
                org = answer.get("Organisation", org) if isinstance(answer, dict) else org
        fr.host_orgs[name] = HostOrg(name=str(org.get("name", "")), uuid=str(org.get("uuid", "")))


def check_versions(fr: FleetRun, diags: Diagnostics) -> None:
    """A remote whose MISP is below what the local end's manifests require (instance.requires)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    for index, link in enumerate(fr.loaded.fleet.links):
        for here, there in ((link.from_, link.to), (link.to, link.from_)):
            instance = fr.desired[here].instance
            requires, version = instance.requires if instance is not None else None, fr.versions.get(there, "")
            if not requires or not version:
                continue
            try:
                ok = Version(version) in SpecifierSet(requires)
            except (InvalidSpecifier, InvalidVersion):
                continue
            if not ok:
                diags.warning("fleet-version", f"{there} runs MISP {version}, below what {here} requires "
                              f"({requires})", subject=fr.loaded.where("links", index), path=f"fleet.links[{index}]")


def check_host_orgs(fr: FleetRun, diags: Diagnostics) -> None:
    for index, link in enumerate(fr.loaded.fleet.links):
        local, remote = fr.host_orgs[link.from_], fr.host_orgs[link.to]
        if not local.uuid or not remote.uuid:
            diags.error("fleet-host-org", f"{link.from_} → {link.to}: cannot read a host organisation's uuid",
                        subject=fr.loaded.where("links", index), path=f"fleet.links[{index}]")
        elif local.name == remote.name and local.uuid != remote.uuid:
            diags.error("fleet-host-org", f"{link.from_} and {link.to} both call their host organisation "
                        f"{local.name!r}: MISP needs distinct names to sync; rename one",
                        subject=fr.loaded.where("links", index), path=f"fleet.links[{index}]")


def load_checked(loaded: LoadedFleet, options: Options) -> tuple[FleetRun, Diagnostics]:
    """Every instance's manifests loaded and the links' topology checked: all that needs no MISP."""
    fr = FleetRun(loaded, options)
    diags = Diagnostics()
    load_instances(fr, diags)
    if not diags.has_errors():
        check_topology(fr, diags)
    return fr, diags


def validate_fleet(loaded: LoadedFleet, options: Options) -> Diagnostics:
    """Offline: every instance's manifests and the topology, without talking to any MISP."""
    fr, diags = load_checked(loaded, options)
    if not diags.has_errors():
        check_rule_tags(fr, diags)
    return diags


async def prepare(loaded: LoadedFleet, options: Options) -> tuple[FleetRun, Diagnostics]:
    fr, diags = load_checked(loaded, options)
    if not diags.has_errors():
        await read_host_orgs(fr)
        check_host_orgs(fr, diags)
        check_versions(fr, diags)
    if not diags.has_errors():
        check_rule_tags(fr, diags)
        derive(fr, diags)
    return fr, diags


# -- plan and apply -------------------------------------------------------------------------------------------
def apply_order(fr: FleetRun) -> list[str]:
    """Remotes before the instances that link to them (their keys must exist first); declared order otherwise."""
    names = [i.name for i in fr.loaded.fleet.instances]
    after = {n: {link.to for link in fr.loaded.fleet.links if link.from_ == n and link.to != n} for n in names}
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and after[n] <= set(order)]
        order.append(ready[0] if ready else next(n for n in names if n not in order))  # a loop: declared order
    return order


async def plan_fleet(loaded: LoadedFleet, options: Options) -> tuple[dict[str, Planned], Diagnostics]:
    fr, diags = await prepare(loaded, options)
    if diags.has_errors():
        return {}, diags
    return {name: await run.plan(fr.desired[name], fr.options_for(name)) for name in apply_order(fr)}, diags


@dataclass(slots=True)
class FleetApplied:
    applied: dict[str, Applied] = field(default_factory=dict)
    connections: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, status)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        results = [a.result for a in self.applied.values() if a.result is not None]
        return (self.stopped is None and all(r.ok for r in results)
                and all(status == "OK" for _, _, status in self.connections))


async def apply_fleet(loaded: LoadedFleet, options: Options, *, confirm: Callable[[str, Planned], bool]
                      ) -> tuple[FleetApplied, Diagnostics]:
    fr, diags = await prepare(loaded, options)
    out = FleetApplied()
    if diags.has_errors():
        return out, diags
    needing = await links_needing_keys(fr)
    for name in apply_order(fr):
        await reissue_keys(fr, name, needing)
        memory = {secret_name(link.to): fr.keys[(link.to, link_comment(link))]
                  for link in fr.loaded.fleet.links
                  if link.from_ == name and (link.to, link_comment(link)) in fr.keys}
        out.applied[name] = await run.apply(fr.desired[name], fr.options_for(name, memory),
                                            confirm=confirm_for(confirm, name))
        applied = out.applied[name]
        if applied.result is not None and not applied.result.ok:
            out.stopped = f"{name}: the apply failed; the instances after it were not applied"
            break
        if applied.result is None and (applied.planned.diagnostics.has_errors() or not applied.planned.plan.is_empty()):
            out.stopped = (f"{name}: not applied (declined or refused by its plan's errors); the instances after it "
                           "were not applied, their links may need its keys")
            break
    else:
        out.connections = await test_links(fr)
    fr.keys.clear()
    return out, diags


async def links_needing_keys(fr: FleetRun) -> list[Link]:
    """Links whose local server will be created (or its key reference changed): they need a key in hand."""
    needing = []
    for name in {link.from_ for link in fr.loaded.fleet.links}:
        planned = await run.plan(fr.desired[name], fr.options_for(name))
        for change in planned.plan.actionable:
            if change.kind != "servers" or change.action is Action.DELETE:
                continue
            if change.action is Action.CREATE or any(f.path == "authkey" for f in change.fields):
                needing += [link for link in fr.loaded.fleet.links if link.from_ == name and link.to == change.key]
    return needing


async def reissue_keys(fr: FleetRun, remote: str, needing: list[Link]) -> None:
    """A key MISP holds only hashed cannot be handed to a new local server: the link's old key is deleted
    on the remote, so this apply creates a fresh one (caught in memory)."""
    from reconciler.kinds._misp import rows, unwrap

    links = [link for link in needing if link.to == remote]
    if not links:
        return
    async with run.client_for(fr.desired[remote], fr.options_for(remote)) as client:
        for row in rows(await client.get("/auth_keys/index"), "AuthKey"):
            key = unwrap(row, "AuthKey")
            email = str((row.get("User") or {}).get("email") or "").casefold()
            for link in links:
                if key.get("comment") == link_comment(link) and email == link.sync_user.email.casefold():
                    await client.post(f"/auth_keys/delete/{key['id']}")


def confirm_for(confirm: Callable[[str, Planned], bool], name: str) -> Callable[[Planned], bool]:
    return lambda planned: confirm(name, planned)


async def test_links(fr: FleetRun) -> list[tuple[str, str, str]]:
    """MISP's connection test of every link, from its local end."""
    from reconciler.backend.errors import MispError
    from reconciler.kinds._misp import rows, unwrap

    statuses = []
    for link in fr.loaded.fleet.links:
        async with run.client_for(fr.desired[link.from_], fr.options_for(link.from_)) as client:
            servers = {str(unwrap(r, "Server").get("name")): str(unwrap(r, "Server").get("id"))
                       for r in rows(await client.get("/servers/index"), "Server")}
            if link.to not in servers:
                statuses.append((link.from_, link.to, "missing"))
                continue
            try:
                answer = await client.post(f"/servers/testConnection/{servers[link.to]}", idempotent=True)
            except MispError as exc:
                statuses.append((link.from_, link.to, f"failed: {exc}"))
                continue
            answer = answer if isinstance(answer, dict) else {}
            status = int(answer.get("status", 0) or 0)
            statuses.append((link.from_, link.to, run.CONNECTION_STATUS.get(status, f"status {status}")))
    return statuses
