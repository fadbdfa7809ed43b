"""The one place that strings load → read → diff → apply together. The CLI calls these; so can scripts."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.backend.client import MispClient
from reconciler.diags import Diagnostics
from reconciler.engine.apply import Applier, ApplyResult, Hook, record_request
from reconciler.engine.bulk import gc_paused
from reconciler.engine.credentials import check_credentials
from reconciler.engine.diff import diff
from reconciler.engine.live import Live
from reconciler.engine.read import kinds_in_scope, read_live, served
from reconciler.engine.targets import open_client
from reconciler.kinds._kind import Kind
from reconciler.model.secrets import SecretRef
from reconciler.plans.plan import Plan
from reconciler.plans.planfile import SavedPlan

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired
    from reconciler.state import StateStore


class Refusal(Exception):
    """The engine will not go on (stale plan, lineage mismatch, lock held…). The message says why."""


@dataclass(slots=True)
class Options:
    state_dir: Path = Path("state")
    state_url: str | None = None
    kinds: tuple[str, ...] = ()  # --kind: restrict to these kinds (and what they reference)
    parallelism: int = 8
    allow_deletes: int | None = None
    insecure_http: bool = False
    allow_insecure_secret_files: bool = False
    maintenance: bool = False  # apply with MISP.live false, restored afterwards
    test_connections: bool = False  # plan: run MISP's connection test for every declared link that exists
    # fleet hooks: build the client (sandbox links, key capture) and resolve {env: NAME} from memory first
    client_factory: Callable[[Desired, Options], MispClient] | None = None
    memory_secrets: dict[str, str] | None = None


@dataclass(slots=True, repr=False)
class Planned:
    plan: Plan
    diagnostics: Diagnostics
    live: Live

    def __repr__(self) -> str:
        # A summary: asyncio.run computes the repr of the result it returns (Python 3.11), and a large
        # plan's full repr takes longer than the diff that made it.
        return f"Planned({len(self.plan.changes)} changes, {len(self.diagnostics)} diagnostics, {self.live!r})"


@dataclass(slots=True)
class Applied:
    planned: Planned
    result: ApplyResult | None = None  # None: nothing to do, or not confirmed
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)


def instance_name(desired: Desired) -> str:
    return desired.instance.name if desired.instance is not None and desired.instance.name else "sandbox"


def open_state(desired: Desired, options: Options) -> StateStore:
    from reconciler.state import StateStore

    url = options.state_url
    if url is None:
        options.state_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{options.state_dir / (instance_name(desired) + '.db')}"
    return StateStore.open(url)


def secret_resolver(desired: Desired, options: Options) -> Callable[..., str]:
    from reconciler.secrets import resolve

    def resolve_ref(ref: SecretRef) -> str:
        if options.memory_secrets and ref.env is not None and ref.env in options.memory_secrets:
            return options.memory_secrets[ref.env]
        return resolve(ref, base_dir=desired.base_dir, allow_insecure_files=options.allow_insecure_secret_files)

    return resolve_ref


def client_for(desired: Desired, options: Options) -> MispClient:
    if options.client_factory is not None:
        return options.client_factory(desired, options)
    client = open_client(desired.instance, state_dir=options.state_dir, base_dir=desired.base_dir,
                         resolve_secret=secret_resolver(desired, options), concurrency=options.parallelism,
                         on_request=record_request, insecure_http=options.insecure_http)
    configure_web_login(client, desired, secret_resolver(desired, options))
    return client


def configure_web_login(client: MispClient, desired: Desired, resolve: Callable[[SecretRef], str]) -> None:
    """Web credentials for the pages MISP refuses to API keys (allowedlist, regexps): instance.web_login,
    or the sandbox's seeded site admin. The password is resolved at login time only."""
    from reconciler.backend import web
    from reconciler.engine.targets import SANDBOX_URL

    login = desired.instance.web_login if desired.instance is not None else None
    if login is not None:
        password = login.password
        web.configure(client, login.email, lambda: resolve(password))
    elif client.base_url == SANDBOX_URL:
        web.configure_sandbox(client)


def scope(desired: Desired, options: Options, owned_kinds: set[str]) -> list[str]:
    """Kinds named with --kind; otherwise those declared plus those we own objects of, so that removing
    the last entry of a kind from the manifests still plans its deletion."""
    if options.kinds:
        return list(options.kinds)
    return sorted({name for name, entries in desired.entries.items() if entries} | owned_kinds)


def check_signatures(desired: Desired, state: StateStore, instance: str) -> dict[str, object] | None:
    """policy.require_signatures and the approvers the state pinned (engine/approvals.py)."""
    from reconciler.engine import approvals

    try:
        return approvals.check(desired, state, instance)
    except approvals.NotApproved as exc:
        raise Refusal(str(exc)) from None


def check_push_rules(desired: Desired, live: Live) -> Diagnostics:
    """A sync link's push rule naming a tag or org that exists nowhere would filter nothing: refuse it."""
    from reconciler.kinds.servers import Server, remote_org_name, unknown_push_rule_references

    diags = Diagnostics()
    declared = {kind: set(entries) for kind, entries in desired.entries.items()}
    # A link's remote organisation is created locally when missing: a push rule may name it.
    declared.setdefault("organisations", set()).update(
        remote_org_name(loc.entry) for loc in desired.entries.get("servers", {}).values()
        if isinstance(loc.entry, Server))
    for key, located in desired.entries.get("servers", {}).items():
        if isinstance(located.entry, Server):
            for problem in unknown_push_rule_references(located.entry, declared, live):
                diags.error("unresolved-reference", problem, path=f'servers["{key}"].push_rules',
                            subject=located.field_where.get("push_rules", located.where))
    return diags


def resolve_files(desired: Desired) -> Diagnostics:
    """Files named by sync links (CA bundle, client certificate) are read relative to the manifests."""
    diags = Diagnostics()
    for key, located in desired.entries.get("servers", {}).items():
        entry: Any = located.entry
        for name in ("ca_file", "client_cert_file"):
            value = getattr(entry, name, None)
            if not value:
                continue
            path = (desired.base_dir / value).resolve()
            if not path.is_file():
                diags.error("missing-file", f"{name} {value!r} is not a readable file (read relative to the "
                            "manifests)", subject=located.field_where.get(name, located.where),
                            path=f'servers["{key}"].{name}')
                continue
            setattr(entry, name, str(path))
    return diags


def resolve_pgp_keys(desired: Desired) -> Diagnostics:
    """Users' pgp_key from a file or a keyserver become armored text, and every key is checked (parses, not
    expired or revoked, can encrypt, carries the user's e-mail) before anything is planned."""
    from reconciler.pgp import DEFAULT_KEYSERVER, PgpError, inspect_key, load_key_text, remember

    diags = Diagnostics()
    keyserver = desired.instance.keyserver if desired.instance and desired.instance.keyserver else DEFAULT_KEYSERVER
    for key, located in desired.entries.get("users", {}).items():
        entry: Any = located.entry
        if "pgp_key" not in entry.model_fields_set or entry.pgp_key is None:
            continue
        where = located.field_where.get("pgp_key", located.where)
        try:
            text = load_key_text(entry.pgp_key, email=entry.email, base_dir=desired.base_dir,
                                 keyserver_url=keyserver)
        except PgpError as exc:
            diags.error("pgp-key", str(exc), subject=where, path=f'users["{key}"].pgp_key')
            continue
        info = inspect_key(text, email=entry.email)
        remember(text, info)
        diags.extend(info.diagnostics(path=f'users["{key}"].pgp_key', subject=where))
        entry.pgp_key = text
    return diags


async def make_plan(desired: Desired, client: MispClient, state: StateStore, options: Options) -> Planned:
    name = instance_name(desired)
    approvals = check_signatures(desired, state, name)
    pgp = resolve_pgp_keys(desired)
    pgp.extend(resolve_files(desired))
    kinds = served(kinds_in_scope(scope(desired, options, state.owned_kinds(name))), client)
    live = await read_live(client, kinds, desired)
    # The ledger is read once MISP has answered, and with the diff in one burst of allocations that stays
    # alive until the plan is done: the cyclic collector stays paused for all of it (bulk.py).
    with gc_paused():
        ledger = state.ledger(name, times=False)
        check_lineage(state, name, live)
        stale = stale_copies(live, kinds)
        result = diff(desired, live, {**ledger, **stale}, kinds, instance=name, allow_deletes=options.allow_deletes)
    result.plan.notes.extend(f"{kind}[{key!r}]: out of the manifest's order; deleted, the rule is re-created in "
                             "its place (MISP applies them by ascending id)" for kind, key in sorted(stale))
    result.diagnostics.extend(pgp)
    result.diagnostics.extend(check_push_rules(desired, live))
    result.diagnostics.extend(await check_credentials(desired, live, client))
    result.plan.notes.extend(unmanaged_notes(desired, kinds))
    result.plan.notes.extend(host_notes(desired, client, options.state_dir, name))
    result.plan.notes.extend(flagged_settings_notes(desired, live))
    if approvals is not None:
        result.plan.notes.append(f"approved by {', '.join(map(str, approvals['approvers']))}")  # type: ignore[call-overload]
        live.extra["approvals"] = approvals
    result.plan.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    return Planned(result.plan, result.diagnostics, live)


def stale_copies(live: Live, kinds: list[Kind]) -> dict[tuple[str, str], Any]:
    """Live rows an adapter marked as stale copies of declared entries (a regexp out of the manifest's
    order, see kinds/regexps.py) are ours to delete: the entry they copy is re-created where it belongs."""
    from reconciler.state import OwnedObject

    return {(kind.name, obj.key): OwnedObject(kind=kind.name, key=obj.key, misp_id=obj.id, uuid=None,
                                              fields=frozenset(), fingerprint="{}")
            for kind in kinds for obj in live.live(kind.name).values() if obj.raw.get("stale_copy_of")}


def flagged_settings_notes(desired: Desired, live: Live) -> list[str]:
    """Settings MISP flags as wrong at critical or recommended level that no manifest addresses: said, not
    changed (information for the admin)."""
    declared = desired.entries.get("settings", {})
    levels = {0: "critical", 1: "recommended"}
    notes = []
    for name, obj in sorted(live.live("settings").items()):
        level = obj.raw.get("level")
        if obj.raw.get("error") and level in levels and name not in declared:
            message = obj.raw.get("errorMessage") or "MISP flags its current value"
            notes.append(f"settings[{name!r}] ({levels[level]}): {message} — not addressed by the manifests")
    return notes


def unmanaged_notes(desired: Desired, kinds: list[Kind]) -> list[str]:
    """Declared kinds this version validates but cannot apply yet: said plainly, never silently skipped."""
    from reconciler.kinds import kind_named

    notes = []
    for name, entries in desired.entries.items():
        if entries and kind_named(name).adapter is None:
            notes.append(f"{name}: {len(entries)} declared entr{'y' if len(entries) == 1 else 'ies'} validated but "
                         "not planned: this version has no MISP adapter for this kind yet")
    return notes


def host_notes(desired: Desired, client: MispClient, state_dir: Path, name: str) -> list[str]:
    """What a real MISP keeps on its host rather than behind its API: the schedules (cron). The sandbox keeps a
    record of them (planned and applied as a kind); for a real MISP the plan says whether the last
    `schedules render` is still current (ops/schedules.py)."""
    from reconciler.kinds import kind_named
    from reconciler.kinds.schedules import Schedule
    from reconciler.ops.schedules import render_notes

    if served([kind_named("schedules")], client):
        return []
    declared = [loc.entry for loc in desired.entries.get("schedules", {}).values() if isinstance(loc.entry, Schedule)]
    return render_notes(state_dir, name, declared)


def check_lineage(state: StateStore, name: str, live: Live) -> None:
    lineage = state.lineage(name)
    if lineage is not None and live.misp_uuid and lineage.misp_uuid and lineage.misp_uuid != live.misp_uuid:
        raise Refusal(f"the state for {name!r} belongs to MISP instance {lineage.misp_uuid}, but the target "
                      f"answers as {live.misp_uuid}. Point --state-url at that instance's state, or move "
                      "this state away if the instance was rebuilt on purpose.")


async def plan(desired: Desired, options: Options) -> Planned:
    state = open_state(desired, options)
    async with client_for(desired, options) as client:
        planned = await make_plan(desired, client, state, options)
        if options.test_connections:  # plan --test-connections: the declared links that exist already
            links = [(f'servers["{key}"]', obj.id) for key, obj in sorted(planned.live.live("servers").items())
                     if key in desired.entries.get("servers", {})]
            planned.plan.notes.extend(await connection_notes(client, links))
        return planned


async def apply(desired: Desired, options: Options, *, confirm: Callable[[Planned], bool],
                saved: SavedPlan | None = None, hook: Hook | None = None,
                plan_signature: dict[str, object] | None = None) -> Applied:
    """Plan (or check a saved plan), confirm, then apply under the state lock."""
    state = open_state(desired, options)
    name = instance_name(desired)
    stale_note = take_over_stale_lock(state, name)
    with state.lock(name, who=getpass.getuser(), host=socket.gethostname(), pid=os.getpid()):
        async with client_for(desired, options) as client:
            recovered = await recover_interrupted(desired, client, state, options)
            planned = await make_plan(desired, client, state, options)
            planned.plan.notes.extend([*stale_note, *recovered])
            if saved is not None:
                check_saved(saved, planned.plan)
            if planned.diagnostics.has_errors():
                return Applied(planned)
            if planned.plan.is_empty():  # a change of the signature policy alone still takes effect
                pin_approvers(desired, state, name, None)
                return Applied(planned)
            if not confirm(planned):
                return Applied(planned)
            planned.live.resolve_secret = secret_resolver(desired, options)
            preflight_secrets(desired, planned.plan, planned.live.resolve_secret)
            run_id = state.start_run(name, command="apply", who=getpass.getuser(), host=socket.gethostname(),
                                     git_commit=git_commit(desired.files), manifest_hash=desired.manifest_hash,
                                     plan_hash=planned.plan.changes_hash())
            if plan_signature is not None:
                state.audit_append(name, run_id, {"kind": "plan-signature", "key": planned.plan.changes_hash(),
                                                  "action": "verify", **plan_signature})
            if "approvals" in planned.live.extra:
                state.audit_append(name, run_id, {"kind": "signatures", "key": desired.manifest_hash,
                                                  "action": "verify", **planned.live.extra["approvals"]})
            applier = Applier(client, planned.live, desired, state, name, run_id, options.parallelism, hook)
            outcome, result = "interrupted", ApplyResult()
            try:
                async with maintenance(client, enabled=options.maintenance):
                    result = await applier.run(planned.plan)
                outcome = "ok" if result.ok else "failed"
            finally:
                state.finish_run(run_id, outcome=outcome, counts=result.counts())
            pin_approvers(desired, state, name, run_id)
            if planned.live.misp_uuid:
                state.set_lineage(name, planned.live.misp_uuid)
            state.bump_serial(name)
            return Applied(planned, result, run_id, notes=await test_connections(client, result))


def pin_approvers(desired: Desired, state: StateStore, name: str, run_id: int | None) -> None:
    """After an approved apply, the approvers it declares guard the next change (engine/approvals.py)."""
    from reconciler.engine import approvals

    record = approvals.pin(desired, state, name, run_id)
    if record is not None:
        state.audit_append(name, run_id, record)


@asynccontextmanager
async def maintenance(client: MispClient, *, enabled: bool) -> AsyncIterator[None]:
    """`apply --maintenance`: MISP.live false while applying (only site admins get in, sync stops), put back
    as it was afterwards, also when the apply fails. MISP's own test refuses live=false without `force`."""
    if not enabled:
        yield
        return
    before = await client.get("/servers/getSetting/MISP.live")
    was_live = bool(before.get("value", True)) if isinstance(before, dict) else True
    await client.post("/servers/serverSettingsEdit/MISP.live", {"value": False, "force": True})
    try:
        yield
    finally:
        await client.post("/servers/serverSettingsEdit/MISP.live", {"value": was_live, "force": True})


CONNECTION_STATUS = {1: "OK", 2: "unreachable", 3: "unexpected answer", 4: "authentication failed",
                     5: "password change required", 6: "terms not accepted", 7: "remote user is not a sync user",
                     8: "remote user's role cannot sync"}


async def test_connections(client: MispClient, result: ApplyResult) -> list[str]:
    """MISP's own connection test for every sync link this apply created or changed."""
    links = [(str(o.change.address), o.misp_id) for o in result.outcomes
             if o.change.kind == "servers" and o.status == "ok" and o.change.action.value != "delete"]
    return await connection_notes(client, links)


async def connection_notes(client: MispClient, links: Sequence[tuple[str, str | None]]) -> list[str]:
    """One line per sync link: MISP's testConnection status, the remote's version and any mismatch."""
    from reconciler.backend.errors import MispError

    notes = []
    for address, misp_id in links:
        try:
            answer = await client.post(f"/servers/testConnection/{misp_id}", idempotent=True)
        except MispError as exc:
            notes.append(f"{address}: connection test failed: {exc}")
            continue
        answer = answer if isinstance(answer, dict) else {}
        status = CONNECTION_STATUS.get(int(answer.get("status", 0) or 0), f"status {answer.get('status')}")
        version = f", remote MISP {answer['version']}" if answer.get("version") else ""
        mismatch = f" ({answer['mismatch']} version mismatch)" if answer.get("mismatch") else ""
        notes.append(f"{address}: connection {status}{version}{mismatch}")
    return notes


def preflight_secrets(desired: Desired, plan: Plan, resolve: Callable[[SecretRef], str]) -> None:
    """Resolve every secret this plan will send before the first write: a missing one is bad input, and bad
    input never half-applies."""
    from reconciler.secrets import SecretError

    problems = []
    for change in plan.actionable:
        located = desired.entries.get(change.kind, {}).get(change.key)
        if located is None:
            continue
        for value in located.entry.__dict__.values():
            if isinstance(value, SecretRef):
                try:
                    resolve(value)
                except SecretError as exc:
                    problems.append(f"{change.address}: {exc}")
    if problems:
        raise Refusal("secrets this plan needs cannot be read, nothing was changed:\n  " + "\n  ".join(problems))


def take_over_stale_lock(state: StateStore, name: str) -> list[str]:
    """A lock whose holder died on this very machine (kill -9, power loss) is released, and said so.
    A holder on another host is never presumed dead: that needs `state unlock --force` by a person."""
    holder = state.lock_holder(name)
    if holder is None or not holder.looks_dead():
        return []
    state.force_unlock(name)
    return [f"released a stale lock left by {holder.describe()}: that process is gone"]


async def recover_interrupted(desired: Desired, client: MispClient, state: StateStore,
                              options: Options) -> list[str]:
    """Operations a crashed run left unconfirmed: objects we created are taken into the ledger."""
    name = instance_name(desired)
    pending = state.unfinished_operations(name)
    if not pending:
        return []
    from reconciler.state import OwnedObject

    kinds = kinds_in_scope({op.kind for op in pending})
    live = await read_live(client, kinds, desired)
    notes = []
    for op in pending:
        obj = live.live(op.kind).get(op.key)
        if obj is not None and op.action in ("create", "adopt", "update"):
            if (op.kind, op.key) not in state.ledger(name):
                state.own(name, OwnedObject(kind=op.kind, key=op.key, misp_id=str(obj.id), uuid=obj.uuid,
                                            fields=frozenset(), fingerprint="{}", updated_at=None))
            state.resolve_operation(op, "recovered: found in MISP")
        else:
            state.resolve_operation(op, "recovered: not found in MISP" if obj is None else "recovered")
        notes.append(f"recovered an interrupted {op.action} of {op.kind}[{op.key!r}] from an earlier run")
    return notes


def check_saved(saved: SavedPlan, current: Plan) -> None:
    if saved.is_expired():
        raise Refusal(f"the saved plan expired at {saved.expires_at.isoformat()}: plan again")
    if saved.manifest_hash != current.manifest_hash:
        raise Refusal("the saved plan was made from different manifests: plan again")
    if saved.misp_uuid and current.misp_uuid and saved.misp_uuid != current.misp_uuid:
        raise Refusal("the saved plan was made against another MISP instance")
    if saved.changes_hash != current.changes_hash():
        raise Refusal("the saved plan is stale: objects it touches changed in MISP since it was made "
                      "(or the state was changed by another apply). Plan again and review.")


def git_commit(files: Sequence[Path]) -> str | None:
    if not files:
        return None
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(files[0]).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
