"""Live MISP → minimal manifests: what `export`, `export --into` and `adopt --all` write.

An exported entry states only what differs from what a fresh MISP 2.5 gives a new object, so that applying
it to an empty instance gives back the same object, and names everything by natural key (never ids).
MISP's own objects (the host org, the six default roles, the site admin, taxonomies left disabled, settings
at their default) are left out unless asked for: they exist on every instance, so a rebuild needs nothing.

Secrets are never read from MISP (it does not return them): a required secret becomes `{env: NAME}` with a
comment naming the variable to set.

Kinds may offer two optional adapter methods, found with getattr so that no adapter must change:
`export(live: LiveObject) -> dict[str, object]` (canonical fields → manifest fields) and
`builtin(live: LiveObject) -> bool`. Without them the generic rules below apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import ValidationError

from reconciler.backend.errors import Rejected
from reconciler.backend.web import WebLoginMissing
from reconciler.engine.live import Live
from reconciler.engine.read import read_identity, served
from reconciler.kinds import KINDS
from reconciler.kinds._kind import Kind, LiveObject

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.engine.run import Options
    from reconciler.manifest.desired import Desired

# Canonical values MISP 2.5 gives an object created with only its natural key (sandbox identity seed,
# transcripts organisations--crud, users--crud-minimal, roles--crud). A field at this value is left out.
# A missing entry only makes the export less minimal, never wrong: the value is then stated.
FRESH_DEFAULTS: dict[str, dict[str, object]] = {
    "organisations": {"local": True},
    "roles": {"default": False, "enforce_rate_limit": False, "rate_limit_count": 0,
              "restricted_to_site_admin": False},
    "users": {"disabled": False, "autoalert": False, "contactalert": False, "termsaccepted": False,
              "change_pw": True, "nids_sid": 4000000},
    "auth_keys": {"read_only": False},
    "tags": {"exportable": True, "hide_tag": False, "local_only": False},
    "sharing_groups": {"active": True, "roaming": False},
    "taxonomies": {"required": False, "highlighted": False},
}
# Fields always written even at their default: they say what the object is for a reader.
ALWAYS: dict[str, frozenset[str]] = {
    "roles": frozenset({"permission", "perms"}),
    "taxonomies": frozenset({"enabled"}),
}
# Fields that identify an entry across instances: written first, in this order.
IDENTITY = ("name", "email", "namespace", "user", "comment", "url", "uuid")
# What a fresh MISP 2.5.1 install holds (sandbox/resources/identity.py mirrors it).
HOST_ORG = ("1", "ORGNAME")
DEFAULT_ROLES = frozenset({"admin", "Org Admin", "User", "Publisher", "Sync user", "Read Only"})
SITE_ADMIN = "admin@admin.test"
DEFAULT_BLOCKLIST_COMMENT = "default example"  # the two org_blocklist rows MISP seeds
# Settings that name one installation: a rebuilt instance is a new one (the state's lineage follows
# MISP.uuid, so copying it would make the new instance pass for the lost one).
INSTANCE_SETTINGS = frozenset({"MISP.uuid"})


@runtime_checkable
class Exporting(Protocol):
    """Optional adapter hook: canonical live fields → manifest fields of one entry."""

    def export(self, live: LiveObject) -> dict[str, object]: ...


@runtime_checkable
class KnowsBuiltins(Protocol):
    """Optional adapter hook: is this one of MISP's own objects (present on every fresh instance)?"""

    def builtin(self, live: LiveObject) -> bool: ...


@dataclass(frozen=True, slots=True)
class ExportedEntry:
    kind: str
    key: str
    values: dict[str, object]  # manifest fields, minimal, in writing order
    full: dict[str, object]  # manifest fields before defaults were left out (export --into compares these)
    comments: dict[str, str] = field(default_factory=dict)  # field → end-of-line comment


@dataclass(slots=True)
class Export:
    entries: dict[str, list[ExportedEntry]] = field(default_factory=dict)  # kind → entries sorted by key
    notes: list[str] = field(default_factory=list)  # kinds not readable, objects that could not be written
    secrets: list[str] = field(default_factory=list)  # environment variables the output refers to


async def read_kinds(client: MispClient, kinds: Sequence[Kind]) -> tuple[Live, list[str]]:
    """One list request per kind; a kind this MISP does not serve (404/405) is skipped with a note."""
    live, notes = Live(), []
    await read_identity(client, live)
    kept = {kind.name for kind in served(kinds, client)}
    for kind in kinds:
        if kind.adapter is None:
            continue
        if kind.name not in kept:
            notes.append(f"{kind.name}: not exported, MISP has no API for it (the embedded sandbox only)")
            continue
        try:
            rows = await kind.adapter.fetch(client, {})
        except Rejected as exc:
            if exc.status not in (404, 405):
                raise
            notes.append(f"{kind.name}: not exported, this MISP does not serve its list ({exc.status})")
            continue
        except WebLoginMissing as exc:  # MISP shows this kind only to a browser session
            notes.append(f"{kind.name}: not exported: {exc}")
            continue
        for raw in rows:
            obj = kind.adapter.parse(raw, live)
            if obj is not None:
                live.put(kind.name, obj)
    return live, notes


def exportable_kinds(names: Iterable[str] = ()) -> list[Kind]:
    """The kinds named (all with an adapter when none is), plus what they reference, in dependency order."""
    from reconciler.engine.read import kinds_in_scope

    wanted = list(names) or [kind.name for kind in KINDS if kind.adapter is not None]
    return [kind for kind in kinds_in_scope(wanted) if kind.adapter is not None]


def build_export(live: Live, kinds: Sequence[Kind], *, include_builtin: bool = False,
                 only: Iterable[str] = ()) -> Export:
    """Every live object of `only` (default: every kind in `kinds`) as a minimal manifest entry."""
    selected = set(only) or {kind.name for kind in kinds}
    result = Export()
    for kind in kinds:
        if kind.name not in selected:
            continue
        for key in sorted(live.live(kind.name), key=lambda k: (k.casefold(), k)):
            obj = live.live(kind.name)[key]
            if not include_builtin and is_builtin(kind, obj, live):
                continue
            entry = export_entry(kind, obj, live, result)
            if entry is not None:
                result.entries.setdefault(kind.name, []).append(entry)
    return result


def is_builtin(kind: Kind, obj: LiveObject, live: Live) -> bool:
    hook = kind.adapter
    if isinstance(hook, KnowsBuiltins):
        return hook.builtin(obj)
    name = kind.name
    if name == "organisations":
        return (obj.id, obj.key) == HOST_ORG
    if name == "roles":
        return obj.key in DEFAULT_ROLES and obj.id.isdigit() and int(obj.id) <= len(DEFAULT_ROLES)
    if name == "users":
        return obj.key == SITE_ADMIN
    if name == "auth_keys":  # the site admin's keys, and the first key MISP gives every new user
        first_key = {"comment": "", "allowed_ips": [], "read_only": False, "expiration": None}
        return str(obj.fields.get("user")) == SITE_ADMIN or all(obj.fields.get(k) == v for k, v in first_key.items())
    if name == "taxonomies":
        return not obj.fields.get("enabled")
    if name == "tags":  # a taxonomy's tags are written with their taxonomy (`tags:` of its entry)
        return obj.key.split(":", 1)[0] in live.live("taxonomies") and ":" in obj.key
    if name == "org_blocklist":
        return obj.fields.get("comment") == DEFAULT_BLOCKLIST_COMMENT
    if name == "settings":
        return setting_is_default(obj)
    if name == "feeds":  # the catalogue's `default` feeds a fresh MISP lists, until someone enables them
        return obj.key in default_feed_urls() and not obj.fields.get("enabled")
    return False


def default_feed_urls() -> frozenset[str]:
    from reconciler.kinds.feeds import catalogue

    return frozenset(str(f.get("Feed", f).get("url")) for f in catalogue().values() if f.get("Feed", f).get("default"))


def setting_is_default(obj: LiveObject) -> bool:
    """Unset, redacted (never readable), host-only (cli_only) or at a default MISP ships: the catalogue's
    default or the value its config.default.php writes; options compare case-insensitively ("default")."""
    from reconciler.kinds.settings import canonical, catalogue

    spec = catalogue().get(obj.key, {})
    value = obj.fields.get("value")
    if value in (None, "") or spec.get("cli_only") or spec.get("redacted") or obj.key in INSTANCE_SETTINGS:
        return True
    defaults = {canonical(obj.key, spec.get("default")), canonical(obj.key, spec.get("config_default"))}
    folded = {str(d).casefold() for d in defaults}
    return value in defaults or (bool(spec.get("options")) and str(value).casefold() in folded)


def export_entry(kind: Kind, obj: LiveObject, live: Live, result: Export) -> ExportedEntry | None:
    full = manifest_fields(kind, obj, live)
    comments: dict[str, str] = {}
    for name in sorted(kind.model.SECRET_FIELDS):
        if name in kind.model.model_fields and kind.model.model_fields[name].is_required():
            variable = secret_variable(kind.name, obj.key, name)
            full[name] = {"env": variable}
            comments[name] = f"set {variable}"
            result.secrets.append(variable)
    values = minimal(kind.name, typed(kind, full))
    full = typed(kind, full)
    try:
        kind.model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        result.notes.append(f"{kind.name}[{obj.key!r}]: not exported, MISP holds a value the manifest format "
                            f"refuses ({where}: {first['msg']})")
        return None
    return ExportedEntry(kind.name, obj.key, values, full, comments)


def typed(kind: Kind, values: dict[str, object]) -> dict[str, object]:
    """Scalars in the model's type: canonical forms may keep MISP's text ("300" for an int field), and the
    manifest models are strict."""
    try:
        lax = kind.model.model_validate(values, strict=False)
    except ValidationError:
        return values  # export_entry reports it
    out = dict(values)
    for name, value in values.items():
        coerced = getattr(lax, name, value)
        if isinstance(value, str) and isinstance(coerced, int | float) and not isinstance(coerced, bool):
            out[name] = coerced
    return out


def manifest_fields(kind: Kind, obj: LiveObject, live: Live) -> dict[str, object]:
    """Canonical live fields → manifest fields, in writing order (identity first, then the model's order)."""
    hook = kind.adapter
    values = hook.export(obj) if isinstance(hook, Exporting) else generic_manifest_fields(kind, obj, live)
    order = [*IDENTITY, *kind.model.model_fields]
    return {name: values[name] for name in sorted(values, key=lambda n: order.index(n) if n in order else 999)}


def generic_manifest_fields(kind: Kind, obj: LiveObject, live: Live) -> dict[str, object]:
    model_fields = kind.model.model_fields
    values = {name: value for name, value in obj.fields.items() if name in model_fields}
    if kind.name == "settings":
        return {"name": obj.key, "value": obj.fields.get("value")}
    if kind.name == "sharing_groups":
        values["organisations"] = members(values.get("organisations"), "org", "extend")
        values["servers"] = members(values.get("servers"), "server", "all_orgs")
        if values["servers"] == [{"server": "local"}]:
            values["servers"] = []  # MISP adds this instance (all_orgs false) to every new group itself
    if kind.name == "taxonomies":
        everything = obj.raw.get("all_tags")
        if everything and sorted(everything) == values.get("tags"):
            values["tags"] = "all"
    if kind.name in ("organisations", "sharing_groups") and obj.uuid:
        values["uuid"] = obj.uuid  # pinned: sync partners know them by uuid, ids differ between instances
    return values


def members(value: object, key: str, flag: str) -> list[dict[str, object]]:
    """{name: {flag: bool}} (canonical) → [{key: name, flag: true}] (manifest), the flag only when set."""
    if not isinstance(value, Mapping):
        return []
    return [{key: name, **({flag: True} if (value[name] or {}).get(flag) else {})} for name in sorted(value)]


def minimal(kind_name: str, full: Mapping[str, object]) -> dict[str, object]:
    """Leave out empty values and values equal to a fresh object's."""
    defaults = FRESH_DEFAULTS.get(kind_name, {})
    always = ALWAYS.get(kind_name, frozenset())
    identity = {"name", "email", "namespace", "user", "comment", "url", "uuid"}
    kept: dict[str, object] = {}
    for name, value in full.items():
        if name in always or (name in identity and value not in (None, "")):
            kept[name] = value
        elif value in (None, "", [], {}) or (name in defaults and defaults[name] == value):
            continue
        else:
            kept[name] = value
    return kept


def secret_variable(kind_name: str, key: str, field_name: str) -> str:
    """The environment variable an exported secret reference names: MISP_SYNC_HUB_KEY for server hub."""
    slug = re.sub(r"[^A-Z0-9]+", "_", key.upper()).strip("_")
    if kind_name == "servers" and field_name == "authkey":
        return f"MISP_SYNC_{slug}_KEY"
    return f"MISP_{kind_name.upper()}_{slug}_{field_name.upper()}"


def as_document(export: Export, kind_name: str) -> Any:
    """The YAML value of one kind: a list of entries, or the `settings:` mapping name → value."""
    entries = export.entries.get(kind_name, [])
    kind = next(k for k in KINDS if k.name == kind_name)
    if kind.singleton_map:
        return {e.key: e.values.get("value") for e in entries}
    return [e.values for e in entries]


# -- YAML --------------------------------------------------------------------------------------------------
def yaml_rt() -> Any:
    """ruamel round-trip with the layout of examples/: `  - name: x` under a kind, nothing wrapped."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def to_node(value: object, comments: Mapping[str, str] | None = None) -> Any:
    """Plain values → ruamel nodes: block mappings, flow lists of scalars and flow one-line members."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, Mapping):
        node = CommentedMap((k, to_node(v)) for k, v in value.items())
        for name, text in (comments or {}).items():
            if name in node:
                node.yaml_add_eol_comment(text, name)
        if len(value) <= 2 and all(not isinstance(v, Mapping | list) for v in value.values()) and \
                any(k in value for k in ("env", "file", "gpg", "org", "server")):
            node.fa.set_flow_style()  # {env: X}, {org: CIRCL, extend: true}
        return node
    if isinstance(value, list):
        seq = CommentedSeq(to_node(v) for v in value)
        if all(not isinstance(v, Mapping | list) for v in value):
            seq.fa.set_flow_style()
        return seq
    return value


def schema_comment(directory: Path) -> str:
    import os

    from reconciler.manifest.jsonschema import SCHEMA_PATH

    return f"# yaml-language-server: $schema={os.path.relpath(SCHEMA_PATH, directory.resolve())}\n"


def kind_text(export: Export, kind_name: str, directory: Path) -> str:
    """One kind's file: the schema comment, then `kind:` and its entries with their comments."""
    import io

    from ruamel.yaml.comments import CommentedMap

    document = as_document(export, kind_name)
    by_key = {e.key: e for e in export.entries.get(kind_name, [])}
    if isinstance(document, list):
        node: Any = to_node([])
        for entry in document:
            key = next(k for k, e in by_key.items() if e.values is entry)
            node.append(to_node(entry, by_key[key].comments))
        node.fa.set_block_style()
    else:
        node = to_node(document)
    stream = io.StringIO()
    yaml_rt().dump(CommentedMap([(kind_name, node)]), stream)
    return schema_comment(directory) + stream.getvalue()


def write_export(export: Export, directory: Path, *, instance: Mapping[str, object] | None = None) -> list[Path]:
    """One file per kind (organisations.yaml, …), plus instance.yaml when the source named an instance."""
    import io

    from ruamel.yaml.comments import CommentedMap

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if instance:
        stream = io.StringIO()
        yaml_rt().dump(CommentedMap([("instance", to_node(instance))]), stream)
        path = directory / "instance.yaml"
        path.write_text(schema_comment(directory) + stream.getvalue(), "utf-8")
        written.append(path)
    for kind in KINDS:
        if export.entries.get(kind.name):
            path = directory / f"{kind.name}.yaml"
            path.write_text(kind_text(export, kind.name, directory), "utf-8")
            written.append(path)
    return written


# -- export --into: update a hand-written directory in place -------------------------------------------------
@dataclass(slots=True)
class Declared:
    """Where one kind's entries are written in an existing manifest directory."""

    path: Path
    container: Any  # the CommentedSeq (or, for settings, the CommentedMap) holding the entries
    entries: dict[str, Any] = field(default_factory=dict)  # natural key → CommentedMap (or setting name)


def merge_into(export: Export, live: Live, directory: Path, *, update: bool = True) -> list[str]:
    """Bring the values the manifests state up to date and add missing objects to the file of their kind.

    ruamel round-trip keeps comments, key order, anchors and the file layout. Fields an entry does not
    state stay unstated (they are not managed: the manifest's choice). Secret references and values with
    ${VAR} are never touched; `update=False` only adds (adopt --all). Returns what changed, for people.
    """
    from reconciler.manifest.load import manifest_files

    yaml = yaml_rt()
    documents: dict[Path, Any] = {}
    declared: dict[str, Declared] = {}
    for path in manifest_files([directory], None)[0]:
        document = yaml.load(path.read_text("utf-8"))
        if document is None or not hasattr(document, "items"):
            continue
        keep_anchors(document)
        documents[path] = document
        for kind in KINDS:
            if document.get(kind.name) is not None:
                index_kind(declared, kind, path, document[kind.name])
    changed_files: set[Path] = set()
    lines: list[str] = []
    for kind in KINDS:
        for entry in export.entries.get(kind.name, []):
            place = declared.get(kind.name)
            if place is not None and entry.key in place.entries:
                if update and update_entry(kind, entry, place, live, lines):
                    changed_files.add(place.path)
            elif place is not None:
                add_entry(kind, entry, place)
                changed_files.add(place.path)
                lines.append(f"+ {kind.name}[{entry.key!r}] added to {place.path.name}")
    new_kinds = [k for k in KINDS if export.entries.get(k.name) and k.name not in declared]
    for path in sorted(changed_files):
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump(documents[path], handle)
    if new_kinds:
        subset = Export(entries={k.name: export.entries[k.name] for k in new_kinds})
        for path in write_export(subset, directory):
            lines.append(f"+ {path.name} written: " + ", ".join(
                f"{e.kind}[{e.key!r}]" for e in subset.entries.get(path.stem, [])))
    return lines


def index_kind(declared: dict[str, Declared], kind: Kind, path: Path, value: Any) -> None:
    from reconciler.manifest.load import plain, raw_key

    place = declared.setdefault(kind.name, Declared(path, value))
    if kind.singleton_map:
        place.entries.update({str(name): name for name in value})
        return
    for node in value:
        if kind.scalar_field and not hasattr(node, "items"):
            continue  # a bare scalar entry has nothing to update
        key = raw_key(kind, plain(node))
        if key is not None:
            place.entries.setdefault(key, node)


def update_entry(kind: Kind, entry: ExportedEntry, place: Declared, live: Live, lines: list[str]) -> bool:
    from reconciler.manifest.load import plain

    obj = live.live(kind.name).get(entry.key)
    if obj is None or kind.adapter is None:
        return False
    if kind.singleton_map:
        mapping, name = place.container, place.entries[entry.key]
        written = {"name": entry.key, "value": plain(mapping[name])}
        if uses_variables(written["value"]) or isinstance(written["value"], Mapping):
            return False
        if canonical_differs(kind, written, obj, live, "value"):
            lines.append(f"~ {kind.name}[{entry.key!r}]: {written['value']!r} → {entry.full.get('value')!r}")
            mapping[name] = to_node(entry.full.get("value"))
            return True
        return False
    node = place.entries[entry.key]
    changed = False
    for name in list(node):
        value = plain(node[name])
        if name not in entry.full or name in kind.model.SECRET_FIELDS or uses_variables(value):
            continue
        if canonical_differs(kind, plain(node), obj, live, str(name)):
            lines.append(f"~ {kind.name}[{entry.key!r}].{name}: {value!r} → {entry.full[name]!r}")
            node[name] = to_node(entry.full[name])
            changed = True
    return changed


def canonical_differs(kind: Kind, written: Mapping[str, Any], obj: LiveObject, live: Live, name: str) -> bool:
    """Compare as the plan does (canonical form), so `perms` in another order or an e-mail's case is no change."""
    assert kind.adapter is not None
    try:
        model = kind.model.model_validate(dict(written))
    except ValidationError:
        return False  # `validate` reports it; export --into does not guess
    if name in model.CREATE_ONLY or name in model.WRITE_ONLY:
        return False
    want = kind.adapter.desired(model, live)
    return name in want and want[name] != obj.fields.get(name)


def uses_variables(value: object) -> bool:
    return "${" in str(value)


def add_entry(kind: Kind, entry: ExportedEntry, place: Declared) -> None:
    if kind.singleton_map:
        place.container[entry.key] = to_node(entry.values.get("value"))
        return
    node = to_node(entry.values, entry.comments)
    if place.container:
        move_blank_lines(place.container[-1], node)
    place.container.append(node)


def move_blank_lines(previous: Any, node: Any) -> None:
    """Blank lines that ended the kind's list belong after the new last entry, not before it: ruamel
    keeps them in the comment token of the previous entry's last key."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if not hasattr(previous, "ca") or not previous or not node or not hasattr(node, "ca"):
        return
    items = previous.ca.items.get(list(previous)[-1])
    token = items[2] if items and len(items) > 2 else None
    if token is None or not isinstance(token.value, str) or not token.value.endswith("\n\n"):
        return
    text = token.value.rstrip("\n")
    blank = token.value[len(text):]
    token.value = text + "\n" if text else "\n"
    node.ca.items[list(node)[-1]] = [None, None, CommentToken(blank, CommentMark(0), None), None]


def keep_anchors(node: Any) -> None:
    """ruamel drops an anchor nothing refers to when dumping; the user wrote it, so it stays."""
    anchor = getattr(node, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        anchor.always_dump = True
    if isinstance(node, Mapping):
        for value in node.values():
            keep_anchors(value)
    elif isinstance(node, list):
        for value in node:
            keep_anchors(value)


# -- reading a live instance for export ------------------------------------------------------------------
def instance_block(desired: Desired) -> dict[str, object] | None:
    """The source's `instance:` as written (secret references stay references), for instance.yaml."""
    if desired.instance is None:
        return None
    dumped = desired.instance.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    return dumped or None


async def export_live(desired: Desired, options: Options, *, include_builtin: bool = False,
                      only: Iterable[str] = ()) -> tuple[Export, Live]:
    """Read the instance the manifests point at (one list per kind) and build the minimal export."""
    from reconciler.engine.run import client_for

    kinds = exportable_kinds(options.kinds or only)
    async with client_for(desired, options) as client:
        live, notes = await read_kinds(client, kinds)
    export = build_export(live, kinds, include_builtin=include_builtin, only=options.kinds or only)
    export.notes[:0] = notes
    return export, live
