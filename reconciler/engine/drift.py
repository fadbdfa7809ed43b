"""Drift: what moved since our last apply, on which side, and (for MISP's side) who moved it. Read-only.

For every object the ledger owns, each field is looked at three ways: its value in MISP now, its value in
the manifests now, and the fingerprint recorded when we last applied it (`engine/apply.py` writes one hash
per field, `fingerprint({"v": value})`). A field that MISP holds differently from that fingerprint was
changed in MISP; a field the manifests state differently was changed in the manifests; both is a conflict.
A field where MISP already holds what the manifests say is no drift, whatever the fingerprint.

Changes made in MISP are attributed from MISP's application log (`/admin/logs/index/model:X/model_id:N`):
the latest row whose change mentions the field says who, when and from which IP. An instance without that
endpoint (404) gives no attribution, said once in the notes. Ignore rules (`policy.ignore`) hide matching
fields, and every report lists them with their reason, so an ignored field stays a visible decision.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.backend.errors import Rejected
from reconciler.engine.diff import recorded_fingerprints
from reconciler.engine.live import Live, fingerprint
from reconciler.kinds import kind_named
from reconciler.kinds._kind import Kind, LiveObject
from reconciler.model.address import Address
from reconciler.plans.change import UNSET

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.engine.run import Options
    from reconciler.manifest.desired import Desired
    from reconciler.manifest.document import IgnoreRule
    from reconciler.state import OwnedObject

# MISP's model names in its logs, per kind.
LOG_MODELS = {"organisations": "Organisation", "roles": "Role", "users": "User", "auth_keys": "AuthKey",
              "tags": "Tag", "taxonomies": "Taxonomy", "servers": "Server", "sharing_groups": "SharingGroup",
              "feeds": "Feed", "templates": "Template", "regexps": "Regexp", "allowedlist": "Allowedlist"}
# Our field → the prefix of MISP's column names in a log row's `change` text ("gpgkey () => (…)").
LOG_COLUMNS = {"org": "org_id", "role": "role_id", "pgp_key": "gpgkey", "perms": "perm_", "user": "user_id"}


class Side(enum.Enum):
    MISP = "misp"  # changed in MISP since our last apply
    MANIFESTS = "manifests"  # changed in the manifests since our last apply
    BOTH = "both"  # changed on both sides, differently: a conflict a person must settle


@dataclass(frozen=True, slots=True)
class Attribution:
    who: str
    when: str
    ip: str
    action: str


@dataclass(frozen=True, slots=True)
class FieldDrift:
    path: str
    side: Side
    live: object  # MISP's value now; "(secret)" for secret fields
    declared: object  # the manifests' value now, UNSET when they no longer state it
    attribution: Attribution | None = None


@dataclass(frozen=True, slots=True)
class ObjectDrift:
    address: Address
    misp_id: str
    status: str  # "changed" · "deleted in MISP" · "removed from the manifests"
    fields: tuple[FieldDrift, ...] = ()


@dataclass(slots=True)
class DriftReport:
    instance: str
    objects: list[ObjectDrift] = field(default_factory=list)
    ignore_rules: list[IgnoreRule] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # the fields that matched a rule, for the report
    notes: list[str] = field(default_factory=list)

    def has_drift(self) -> bool:
        return bool(self.objects)


# -- comparing (pure) --------------------------------------------------------------------------------------
def compare_owned(desired: Desired, live: Live, ledger: Mapping[tuple[str, str], OwnedObject],
                  kinds: Sequence[Kind], *, instance: str) -> DriftReport:
    report = DriftReport(instance, ignore_rules=list(desired.policy.ignore))
    in_scope = {kind.name for kind in kinds if kind.adapter is not None}
    for (kind_name, key), owned in sorted(ledger.items()):
        if kind_name not in in_scope:
            continue
        drift = object_drift(kind_named(kind_name), key, owned, desired, live, report)
        if drift is not None:
            report.objects.append(drift)
    return report


def object_drift(kind: Kind, key: str, owned: OwnedObject, desired: Desired, live: Live,
                 report: DriftReport) -> ObjectDrift | None:
    address = Address(kind.name, key)
    obj = live.live(kind.name).get(key) or by_id(live, kind.name, owned.misp_id)
    if obj is None:
        return ObjectDrift(address, owned.misp_id, "deleted in MISP")
    located = desired.entries.get(kind.name, {}).get(key)
    if located is None:
        return ObjectDrift(address, owned.misp_id, "removed from the manifests")
    fields = tuple(field_drifts(kind, key, owned, located.entry, obj, live, report))
    return ObjectDrift(address, obj.id, "changed", fields) if fields else None


def by_id(live: Live, kind_name: str, misp_id: str) -> LiveObject | None:
    key = live.key_of(kind_name, misp_id)
    return live.live(kind_name).get(key) if key else None


def field_drifts(kind: Kind, key: str, owned: OwnedObject, entry: Any, obj: LiveObject, live: Live,
                 report: DriftReport) -> Iterator[FieldDrift]:
    assert kind.adapter is not None
    recorded = recorded_fingerprints(owned)
    want = kind.adapter.desired(entry, live)
    skip = entry.CREATE_ONLY | entry.WRITE_ONLY
    for name in sorted((set(recorded) | set(want)) - skip):
        now = obj.fields.get(name, UNSET)
        declared = want.get(name, UNSET)
        if name not in obj.fields or now == declared:
            continue  # not read from MISP (nothing to compare), or already what the manifests say
        side = which_side(recorded.get(name), now, declared)
        if side is None:
            continue
        if rule := ignoring(report.ignore_rules, kind, key, name):
            report.ignored.append(f"{Address(kind.name, key)}.{name}: {rule.reason}")
            continue
        secret = name in entry.SECRET_FIELDS
        yield FieldDrift(name, side, "(secret)" if secret else now, "(secret)" if secret else declared)


def which_side(recorded: str | None, now: object, declared: object) -> Side | None:
    in_misp = recorded is not None and fingerprint({"v": now}) != recorded
    in_manifests = declared is not UNSET and (recorded is None or fingerprint({"v": declared}) != recorded)
    if in_misp and in_manifests:
        return Side.BOTH
    if in_misp:
        return Side.MISP
    return Side.MANIFESTS if in_manifests else None


def ignoring(rules: Sequence[IgnoreRule], kind: Kind, key: str, name: str) -> IgnoreRule | None:
    for rule in rules:
        if rule.kind == kind.name and kind.normalise_key(rule.key) == key and (not rule.fields or name in rule.fields):
            return rule
    return None


# -- attribution from MISP's logs ---------------------------------------------------------------------------
async def attribute(client: MispClient, report: DriftReport) -> None:
    """Fill in who changed each field MISP-side, from MISP's application log; one request per object."""
    for index, drift in enumerate(report.objects):
        model = LOG_MODELS.get(drift.address.kind)
        if model is None or not any(f.side is not Side.MANIFESTS for f in drift.fields):
            continue
        try:
            rows = await log_rows(client, model, drift.misp_id)
        except Rejected as exc:
            if exc.status not in (403, 404, 405):
                raise
            report.notes.append(f"MISP's logs are not readable ({exc.status} from /admin/logs/index): "
                                "changes made in MISP are not attributed")
            return
        fields = tuple(with_attribution(f, rows) for f in drift.fields)
        report.objects[index] = ObjectDrift(drift.address, drift.misp_id, drift.status, fields)


async def log_rows(client: MispClient, model: str, misp_id: str) -> list[dict[str, Any]]:
    """Log rows of one object, oldest first (MISP's shape: transcript logs--org-lifecycle)."""
    body = await client.get(f"/admin/logs/index/model:{model}/model_id:{misp_id}")
    found = body if isinstance(body, list) else []
    rows = [dict(r.get("Log", r)) for r in found if isinstance(r, Mapping)]
    return sorted(rows, key=lambda r: (str(r.get("created", "")), int(str(r.get("id") or 0))))


def with_attribution(drift: FieldDrift, rows: Sequence[Mapping[str, Any]]) -> FieldDrift:
    if drift.side is Side.MANIFESTS:
        return drift
    column = LOG_COLUMNS.get(drift.path, drift.path)
    # The latest write of the field is the one that made MISP differ: our apply would have matched.
    for row in reversed(rows):
        if any(part.strip().startswith(column) for part in str(row.get("change") or "").split(", ")):
            return FieldDrift(drift.path, drift.side, drift.live, drift.declared, Attribution(
                who=str(row.get("email") or f"user {row.get('user_id')}"), when=str(row.get("created") or ""),
                ip=str(row.get("ip") or ""), action=str(row.get("action") or "")))
    return drift


# -- running ------------------------------------------------------------------------------------------------
async def drift(desired: Desired, options: Options) -> DriftReport:
    """Read the owned kinds once (one list per kind), compare, then attribute. Writes nothing."""
    from reconciler.engine.read import kinds_in_scope, read_live, served
    from reconciler.engine.run import client_for, instance_name, open_state, scope

    state = open_state(desired, options)
    name = instance_name(desired)
    ledger = state.ledger(name)
    async with client_for(desired, options) as client:
        kinds = served(kinds_in_scope(scope(desired, options, {kind for kind, _ in ledger})), client)
        live = await read_live(client, kinds, desired)
        report = compare_owned(desired, live, ledger, kinds, instance=name)
        await attribute(client, report)
    if not ledger:
        report.notes.append(f"the state owns nothing on {name!r} yet: apply or adopt first")
    return report


# -- rendering ----------------------------------------------------------------------------------------------
SIDE_TEXT = {Side.MISP: "changed in MISP", Side.MANIFESTS: "changed in the manifests",
             Side.BOTH: "changed in MISP and in the manifests"}


def show(value: object) -> str:
    return "(not stated)" if value is UNSET else json.dumps(value, ensure_ascii=False, default=str)


def field_line(drift: FieldDrift) -> str:
    line = f"{drift.path}: MISP {show(drift.live)}, manifests {show(drift.declared)} ({SIDE_TEXT[drift.side]}"
    who = drift.attribution
    if who is not None:
        line += f" by {who.who} at {who.when}" + (f" from {who.ip}" if who.ip else "")
    return line + ")"


def render_text(report: DriftReport) -> str:
    lines = [f"Drift on instance {report.instance!r}:" if report.objects else
             f"No drift on instance {report.instance!r}."]
    for obj in report.objects:
        lines.append(f"  {obj.address}: {obj.status}")
        lines.extend(f"      {field_line(f)}" for f in obj.fields)
    lines.extend(ignore_lines(report, "  "))
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines) + "\n"


def ignore_lines(report: DriftReport, indent: str) -> list[str]:
    lines = [f"Ignore rules ({len(report.ignore_rules)}):"]
    for rule in report.ignore_rules:
        fields = ", ".join(rule.fields) if rule.fields else "all fields"
        lines.append(f"{indent}{rule.kind}[{json.dumps(rule.key)}] {fields}: {rule.reason}")
    lines.extend(f"{indent}ignored now: {hit}" for hit in report.ignored)
    return lines


def render_markdown(report: DriftReport) -> str:
    lines = [f"### Drift on `{report.instance}`", ""]
    if not report.objects:
        lines.append("No drift.")
    for obj in report.objects:
        lines.append(f"- `{obj.address}`: {obj.status}")
        lines.extend(f"  - {field_line(f)}" for f in obj.fields)
    lines += ["", *ignore_lines(report, "- "), *(f"> {note}" for note in report.notes)]
    return "\n".join(lines) + "\n"


def as_json(report: DriftReport) -> str:
    def field_json(drift: FieldDrift) -> dict[str, Any]:
        who = drift.attribution
        return {"path": drift.path, "side": drift.side.value, "live": plain(drift.live),
                "declared": plain(drift.declared),
                "attribution": None if who is None else {"who": who.who, "when": who.when, "ip": who.ip,
                                                         "action": who.action}}

    return json.dumps({
        "format_version": 1, "instance": report.instance, "drift": report.has_drift(),
        "objects": [{"address": str(o.address), "kind": o.address.kind, "key": o.address.key,
                     "status": o.status, "fields": [field_json(f) for f in o.fields]} for o in report.objects],
        "ignore": [{"kind": r.kind, "key": r.key, "fields": r.fields, "reason": r.reason}
                   for r in report.ignore_rules],
        "ignored": report.ignored, "notes": report.notes,
    }, indent=2, ensure_ascii=False, default=str) + "\n"


def plain(value: object) -> object:
    return None if value is UNSET else value
