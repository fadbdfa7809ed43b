"""load(paths, env) → (Desired, Diagnostics): YAML files → validated entries, every problem with its place.

Steps: find files (+ overlays/ENV), parse with ruamel.yaml (positions, YAML 1.2, duplicate keys refused),
expand ${VAR}, apply defaults, merge overlays by natural key, validate each entry with its kind's model, and
refuse duplicates across files. Nothing here touches the network or the state.
"""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.diags import Diagnostics, SourceRange
from reconciler.kinds import KINDS, kind_named
from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds.organisations import UUID_PATTERN
from reconciler.kinds.users import EMAIL_PATTERN
from reconciler.manifest import fastyaml
from reconciler.manifest.desired import Desired, Located
from reconciler.manifest.document import Instance, Policy
from reconciler.manifest.vars import expand
from reconciler.model.address import Address
from reconciler.model.fields import KeyedBy

TOP_LEVEL = ("instance", "policy", "defaults", "vars")


@dataclass(slots=True)
class Item:
    """One raw entry as written, with the file it came from."""

    kind: Kind
    node: CommentedMap
    file: Path
    overlay: bool = False

    def where(self, *path: str | int) -> SourceRange:
        return position(self.file, self.node, path)


@dataclass(slots=True)
class Collected:
    items: list[Item] = field(default_factory=list)
    singles: dict[str, tuple[Any, Path, CommentedMap]] = field(default_factory=dict)  # instance, policy…
    # (single, field) → the file that set the field, when an overlay (or a second `vars:`) merged into it
    origins: dict[tuple[str, str], Path] = field(default_factory=dict)
    documents: list[Any] = field(default_factory=list)


def manifest_files(paths: Sequence[Path], env: str | None) -> tuple[list[Path], list[Path]]:
    """(base files, overlay files). Directories are read recursively, overlays/ only with --env."""
    base: list[Path] = []
    overlays: list[Path] = []
    for path in paths:
        if path.is_file():
            base.append(path)
            continue
        for found in sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
            if "overlays" not in found.relative_to(path).parts:
                base.append(found)
        if env:
            overlay_dir = path / "overlays" / env
            overlays += sorted(p for p in overlay_dir.rglob("*") if p.suffix in (".yaml", ".yml"))
    return base, overlays


def parse(path: Path, diags: Diagnostics) -> CommentedMap | None:
    yaml = YAML(typ="rt")  # YAML 1.2: only true/false are booleans
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text("utf-8")
        fast = fastyaml.load(text)  # libyaml when it is sure to build what ruamel would, 10x faster
        document = yaml.load(text) if fast is None else (None if fast is fastyaml.EMPTY else fast)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = SourceRange(path, mark.line + 1, mark.column + 1) if mark else SourceRange(path, 1, 1)
        problem = (exc.problem or "invalid YAML").strip()
        hint = "YAML indentation uses spaces, never tabs" if "\\t" in problem or "tab" in problem else ""
        diags.error("yaml-syntax", f"invalid YAML: {problem}", subject=where, hint=hint)
        return None
    except (YAMLError, OSError, UnicodeDecodeError) as exc:
        diags.error("yaml-syntax", f"cannot read manifest: {exc}", subject=SourceRange(path, 1, 1))
        return None
    if document is None:
        return CommentedMap()
    if not isinstance(document, CommentedMap):
        diags.error("not-a-mapping", "a manifest file must be a mapping of top-level keys",
                    subject=SourceRange(path, 1, 1))
        return None
    return document


def position(file: Path, node: Any, path: Sequence[str | int]) -> SourceRange:
    """Where the value at `path` inside `node` was written; the nearest enclosing place otherwise."""
    line, col = (node.lc.line, node.lc.col) if hasattr(node, "lc") else (0, 0)
    for step in path:
        try:
            if isinstance(node, CommentedMap) and step in node:
                line, col = node.lc.value(step) if node[step] is not None else node.lc.key(step)
                if isinstance(node[step], CommentedMap | CommentedSeq) and node[step].lc.line is not None:
                    line, col = node.lc.key(step)
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
                line, col = node.lc.item(step)
                node = node[step]
            else:
                break
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return SourceRange(file, line + 1, col + 1)


def collect(files: Sequence[Path], overlays: Sequence[Path], diags: Diagnostics) -> Collected:
    collected = Collected()
    kinds_by_name = {k.name: k for k in KINDS}
    for path, is_overlay in [*((f, False) for f in files), *((f, True) for f in overlays)]:
        document = parse(path, diags)
        if document is None:
            continue
        collected.documents.append((str(path), plain(document)))
        for key in document:
            if key in TOP_LEVEL:
                collect_single(collected, key, document, path, diags, overlay=is_overlay)
            elif key in kinds_by_name:
                collect_kind(collected, kinds_by_name[key], document, path, is_overlay, diags)
            else:
                close = difflib.get_close_matches(str(key), [*TOP_LEVEL, *kinds_by_name], n=1)
                diags.error("unknown-key", f"unknown top-level key {key!r}",
                            subject=key_position(path, document, key),
                            hint=f"did you mean {close[0]!r}?" if close else
                            "top-level keys are instance, policy, defaults, vars and the kinds")
    return collected


def key_position(path: Path, node: CommentedMap, key: Any) -> SourceRange:
    line, col = node.lc.key(key)
    return SourceRange(path, line + 1, col + 1)


def collect_single(collected: Collected, key: str, document: CommentedMap, path: Path,
                   diags: Diagnostics, *, overlay: bool = False) -> None:
    if key in collected.singles and (overlay or key == "vars"):
        merge_single(collected, key, document, path)
        return
    if key in collected.singles:
        first = collected.singles[key][1]
        diags.error("duplicate-key", f"`{key}` is already declared in {first}",
                    subject=key_position(path, document, key), hint="declare it once across the manifest set")
        return
    collected.singles[key] = (document[key], path, document)


def collect_kind(collected: Collected, kind: Kind, document: CommentedMap, path: Path, overlay: bool,
                 diags: Diagnostics) -> None:
    value = document[kind.name]
    if value is None:
        return
    if kind.singleton_map:
        if not isinstance(value, CommentedMap):
            diags.error("wrong-type", f"`{kind.name}` must be a mapping of name: value",
                        subject=key_position(path, document, kind.name))
            return
        for name in value:
            item = CommentedMap([("name", name), ("value", value[name])])
            item._yaml_set_line_col(*value.lc.key(name))
            item.lc.data = {"name": value.lc.key(name), "value": value.lc.value(name)}
            collected.items.append(Item(kind, item, path, overlay))
        return
    if not isinstance(value, CommentedSeq):
        diags.error("wrong-type", f"`{kind.name}` must be a list of entries",
                    subject=key_position(path, document, kind.name))
        return
    for index, node in enumerate(value):
        if kind.scalar_field and not isinstance(node, CommentedMap):
            wrapped = CommentedMap([(kind.scalar_field, node)])
            line, col = value.lc.item(index)
            wrapped._yaml_set_line_col(line, col)
            wrapped.lc.data = {kind.scalar_field: (line, col)}
            node = wrapped
        if not isinstance(node, CommentedMap):
            line, col = value.lc.item(index)
            diags.error("wrong-type", f"each entry of `{kind.name}` must be a mapping",
                        subject=SourceRange(path, line + 1, col + 1))
            continue
        collected.items.append(Item(kind, node, path, overlay))


def plain(node: Any) -> Any:
    """ruamel's commented containers → plain dicts and lists (what pydantic validates)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def raw_key(kind: Kind, data: Mapping[str, Any]) -> str | None:
    """The natural key from raw data (before validation), missing parts taken from the model's defaults."""
    fields = kind.model.model_fields
    parts = [data.get(name, None if fields[name].is_required() else fields[name].default)
             for name in kind.key_fields]
    if any(p is None for p in parts):
        return None
    return kind.normalise_key("/".join(str(p) for p in parts))


def load(paths: Sequence[Path], *, env: str | None = None,
         environ: Mapping[str, str] | None = None) -> tuple[Desired, Diagnostics]:
    diags = Diagnostics()
    files, overlays = manifest_files(paths, env)
    if env and not overlays:
        diags.error("unknown-env", f"no overlay files for --env {env}: expected overlays/{env}/*.yaml")
    collected = collect(files, overlays, diags)
    variables = mapping_single(collected, "vars", "a mapping of NAME: value", diags)
    env_vars = dict(os.environ if environ is None else environ)
    desired = Desired(files=[*files, *overlays], vars=variables,
                      base_dir=paths[0] if paths and paths[0].is_dir() else (paths[0].parent if paths else Path()))
    desired.instance = validate_single(collected, "instance", Instance, variables, env_vars, diags)
    desired.policy = validate_single(collected, "policy", Policy, variables, env_vars, diags) or Policy()
    defaults = checked_defaults(collected, diags)
    merged = merge_overlays(collected.items, diags)
    for item, data in merged:
        validate_item(desired, item, data, defaults or {}, variables, env_vars, diags)
    check_policy_kinds(desired, collected, diags)
    desired.manifest_hash = hashlib.sha256(json.dumps(collected.documents, sort_keys=True, default=str)
                                           .encode()).hexdigest()
    return desired, diags


def merge_single(collected: Collected, key: str, document: CommentedMap, path: Path) -> None:
    """An overlay's `instance:`/`policy:`/`defaults:` (or a second file's `vars:`) on top of the first: its
    fields replace the base's (an overlay gives production its own `instance.url`); each field keeps its place."""
    base, base_path, base_document = collected.singles[key]
    value = document[key]
    if not isinstance(base, CommentedMap) or not isinstance(value, CommentedMap):
        collected.singles[key] = (value, path, document)
        return
    merged = CommentedMap()
    merged._yaml_set_line_col(base.lc.line, base.lc.col)
    for source, source_path in ((base, None), (value, path)):
        for name in source:
            merged[name] = source[name]
            merged.lc.add_kv_line_col(name, source.lc.data[name])
            if source_path is not None:
                collected.origins[(key, str(name))] = source_path
    holder = CommentedMap([(key, merged)])
    holder.lc.add_kv_line_col(key, base_document.lc.data[key])
    collected.singles[key] = (merged, base_path, holder)


def single_position(collected: Collected, key: str, loc: Sequence[str | int]) -> SourceRange:
    """Where a field of instance/policy/… was written, in whichever file set it last."""
    _, path, document = collected.singles[key]
    path = collected.origins.get((key, str(loc[0])), path) if loc else path
    return position(path, document, [key, *loc])


def mapping_single(collected: Collected, key: str, expected: str, diags: Diagnostics) -> dict[str, Any]:
    """`vars:` or `defaults:` as a plain dict; anything but a mapping is an error (and counts as empty)."""
    if key not in collected.singles:
        return {}
    value = plain(collected.singles[key][0])
    if value is None:
        return {}
    if not isinstance(value, dict):
        diags.error("wrong-type", f"expected {expected}, got {shown_value(value)}", path=key,
                    subject=single_position(collected, key, []))
        return {}
    return value


def checked_defaults(collected: Collected, diags: Diagnostics) -> dict[str, Any]:
    """`defaults:` maps kind names to field values; a typo in a kind name would silently default nothing."""
    defaults = mapping_single(collected, "defaults", "a mapping of kind: {field: value}", diags)
    names = [k.name for k in KINDS if not k.singleton_map]
    for name, value in list(defaults.items()):
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            diags.error("unknown-kind", f"defaults names {name!r}, which is not a kind", path=f"defaults.{name}",
                        subject=single_position(collected, "defaults", [name]),
                        hint=f"did you mean {close[0]!r}?" if close else f"kinds are: {', '.join(names)}")
            del defaults[name]
        elif not isinstance(value, dict):
            diags.error("wrong-type", f"expected a mapping of field: value, got {shown_value(value)}",
                        path=f"defaults.{name}", subject=single_position(collected, "defaults", [name]))
            del defaults[name]
    return defaults


def validate_single(collected: Collected, key: str, model: type[BaseModel], variables: dict[str, Any],
                    env_vars: dict[str, str], diags: Diagnostics) -> Any:
    if key not in collected.singles:
        return None
    value = collected.singles[key][0]
    data = expand(plain(value), variables, env_vars, lambda p: single_position(collected, key, p), diags)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for error in explained_missing(collapse_unions(exc.errors()), model):
            report(diags, error, path_text=key, where=single_position(collected, key, error["loc"]),
                   model=model)
        return None


def merge_overlays(items: list[Item], diags: Diagnostics) -> list[tuple[Item, dict[str, Any]]]:
    """Base entries by natural key, overlay entries merged on top (scalars replace; `remove: true`)."""
    result: dict[tuple[str, str], tuple[Item, dict[str, Any]]] = {}
    anonymous: list[tuple[Item, dict[str, Any]]] = []
    for item in items:
        data = plain(item.node)
        key = raw_key(item.kind, data)
        if key is None:
            anonymous.append((item, data))
            continue
        slot = (item.kind.name, key)
        if item.overlay and slot in result:
            if data.get("remove") is True:
                del result[slot]
            else:
                _, base = result[slot]
                result[slot] = (item, {**base, **data})
            continue
        if item.overlay and data.get("remove") is True:  # a typo in the key would otherwise pass silently
            diags.warning("remove-nothing", f"{Address(item.kind.name, key)} is not declared in the base manifests",
                          subject=item.where(), hint="nothing to remove; check the spelling of the key")
            continue
        if slot in result:
            first = result[slot][0]
            diags.error("duplicate-entry",
                        f"{Address(item.kind.name, key)} is already declared at {first.where()}",
                        subject=item.where(), hint="each natural key may appear once across all manifest files")
            continue
        result[slot] = (item, data)
    return [*result.values(), *anonymous]


def validate_item(desired: Desired, item: Item, data: dict[str, Any], defaults: Mapping[str, Any],
                  variables: dict[str, Any], env_vars: dict[str, str], diags: Diagnostics) -> None:
    kind = item.kind
    written = raw_key(kind, data)  # the key as written, for messages raised while expanding
    data = expand(data, variables, env_vars, lambda p: item.where(*p), diags, secret_fields=kind.model.SECRET_FIELDS,
                  label=str(Address(kind.name, written)) if written is not None else kind.name)
    base = defaults.get(kind.name) if isinstance(defaults, Mapping) else None
    if isinstance(base, Mapping):
        data = {**base, **data}
    label = raw_key(kind, data)
    path_text = str(Address(kind.name, label)) if label is not None else kind.name
    try:
        entry = kind.model.model_validate(data)
    except ValidationError as exc:
        for error in explained_missing(collapse_unions(exc.errors()), kind.model):
            report(diags, error, path_text=path_text, where=item.where(*error["loc"]), model=kind.model)
        return
    if not unique_members(entry, item, path_text, diags):
        return
    key = kind.key_of(entry)
    entries = desired.entries.setdefault(kind.name, {})
    uuid = uuid_of(entry)
    for other_key, other in entries.items() if uuid else ():  # most kinds pin no uuid: skip the scan
        if uuid_of(other.entry) == uuid:
            diags.error("duplicate-uuid", f"uuid {uuid} is already used by {Address(kind.name, other_key)} "
                        f"at {other.where}", subject=item.where("uuid"), path=f"{Address(kind.name, key)}.uuid")
            return
    if key in entries:
        diags.error("duplicate-entry", f"{Address(kind.name, key)} is already declared at {entries[key].where}",
                    subject=item.where(), hint="each natural key may appear once across all manifest files")
        return
    field_where = {".".join(map(str, steps)): item.where(*steps) for steps in value_paths(data)}
    entries[key] = Located(entry, item.where(), field_where)
    for warning in entry.warnings():
        diags.warning("advice", warning, subject=item.where(), path=str(Address(kind.name, key)))


def value_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every field path inside an entry, nested ones too: ("org",), ("organisations", 0, "org")."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for step, inner in items:
        yield (*prefix, step)
        yield from value_paths(inner, (*prefix, step))


def unique_members(entry: Entry, item: Item, path_text: str, diags: Diagnostics) -> bool:
    """A list keyed by a field (a sharing group's members) names each member once: the diff pairs them by it."""
    ok = True
    for name, info in type(entry).model_fields.items():
        for marker in (m for m in info.metadata if isinstance(m, KeyedBy)):
            seen: dict[Any, int] = {}
            for index, member in enumerate(getattr(entry, name) or []):
                member_key = getattr(member, marker.field)
                if member_key in seen:
                    ok = False
                    diags.error("duplicate-member", f"{member_key!r} is already listed as {name}[{seen[member_key]}]",
                                subject=item.where(name, index, marker.field),
                                path=f"{path_text}.{name}[{index}].{marker.field}", hint="list each member once")
                seen.setdefault(member_key, index)
    return ok


def uuid_of(entry: Any) -> str:
    """The pinned uuid of an entry (organisations, sharing groups), lower-cased; "" when none."""
    return str(getattr(entry, "uuid", None) or "").lower()


def check_policy_kinds(desired: Desired, collected: Collected, diags: Diagnostics) -> None:
    """`policy.protect` and `policy.authoritative` may only name kinds of the format."""
    if "policy" not in collected.singles:
        return
    names = [k.name for k in KINDS]
    for section, kinds in (("protect", list(desired.policy.protect)), ("authoritative", desired.policy.authoritative)):
        for index, name in enumerate(kinds):
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                step: str | int = name if section == "protect" else index
                diags.error("unknown-kind", f"policy.{section} names {name!r}, which is not a kind",
                            subject=single_position(collected, "policy", [section, step]), path=f"policy.{section}",
                            hint=f"did you mean {close[0]!r}?" if close else f"kinds are: {', '.join(names)}")


def is_union_tag(part: object) -> bool:
    """pydantic names the branch of a union in the error path: `str`, `RemoteOrg`, `list[str]`, `literal['all']`."""
    return isinstance(part, str) and (part[:1].isupper() or part in ("str", "int", "bool") or "[" in part)


def collapse_unions(errors: list[Any]) -> list[Any]:
    """One message per field for a union: the branch that matches the kind of value written (a mapping → the
    model branches, anything else → the scalar branches), with the branch name left out of the path."""
    result: list[Any] = []
    groups: dict[tuple[Any, ...], list[tuple[str, Any]]] = {}  # union's loc → (branch, error) kept
    for error in errors:
        loc = list(error["loc"])
        tags = [i for i, part in enumerate(loc) if is_union_tag(part)]
        if not tags:
            result.append(error)
            continue
        at = tags[0]
        branch = str(loc[at])
        # a model or list branch holds a container: its errors may sit deeper than the union itself. A
        # container written → only container branches speak; a scalar → every branch says what it takes.
        is_container_branch = branch[:1].isupper() or branch.startswith(("list[", "dict["))
        given_container = isinstance(error.get("input"), dict | list) or len(loc) > at + 1
        if given_container and not is_container_branch:
            continue
        cleaned = {**error, "loc": tuple(loc[:at] + loc[at + 1:])}
        groups.setdefault(tuple(loc[:at]), []).append((branch, cleaned))
    for union_loc, branches in groups.items():
        result += one_branch(union_loc, branches)
    return result or errors


def one_branch(union_loc: tuple[Any, ...], branches: list[tuple[str, Any]]) -> list[Any]:
    """The errors of the union branch closest to what was written; several scalar branches → one message."""
    names = list(dict.fromkeys(name for name, _ in branches))
    if len(names) == 1:
        return dedupe([error for _, error in branches])
    first = branches[0][1]
    numeric = [e for _, e in branches if e["type"] == "string_type" and isinstance(e.get("input"), int)
               and union_loc and str(union_loc[-1]) in REFERENCE_FIELDS]
    if numeric:  # `remote_org: 5`: the numeric-id mistake says more than "text or a mapping"
        return numeric[:1]
    if all(len(error["loc"]) == len(union_loc) for _, error in branches):  # scalar branches: name them all
        words = " or ".join(dict.fromkeys(branch_word(error) for _, error in branches))
        return [{**first, "type": "union_type", "msg": f"expected {words}", "loc": union_loc}]
    by_branch = {name: [error for n, error in branches if n == name] for name in names}
    unknown = [{e["loc"][-1] for e in errs if e["type"] == "extra_forbidden"} for errs in by_branch.values()]
    shared = set.intersection(*unknown)
    if shared:  # a key no branch knows: say so once, naming the keys every branch offers
        key = sorted(shared, key=str)[0]
        error = next(e for _, e in branches if e["type"] == "extra_forbidden" and e["loc"][-1] == key)
        return [error]  # the hint lists the fields of every branch (model_fields)
    return dedupe(min(by_branch.values(), key=len))  # fewest complaints: the branch the author meant


def branch_word(error: Any) -> str:
    if error["type"] == "literal_error":
        return str(error.get("ctx", {}).get("expected", ""))
    return BRANCH_WORDS.get(error["type"], str(error["msg"]))


def explained_missing(errors: list[Any], model: type[BaseModel]) -> list[Any]:
    """`usr: x` gives "unknown field 'usr' (did you mean 'user'?)" and "user: missing"; the first says it all."""
    typo_of: set[tuple[str, ...]] = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            loc = [str(p) for p in error["loc"]]
            close = difflib.get_close_matches(loc[-1], list(model_fields(model, loc[:-1])), n=1)
            typo_of.update((*loc[:-1], name) for name in close)
    return [e for e in errors if not (e["type"] == "missing" and tuple(map(str, e["loc"])) in typo_of)]


def dedupe(errors: list[Any]) -> list[Any]:
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for error in errors:
        marker = (tuple(error["loc"]), error["msg"])
        if marker not in seen:
            seen.add(marker)
            kept.append(error)
    return kept


BRANCH_WORDS = {  # pydantic error type → what a value of that branch looks like
    "list_type": "a list", "string_type": "text", "int_type": "a whole number",
    "bool_type": "true or false", "dict_type": "a mapping", "model_type": "a mapping", "float_type": "a number",
    "date_type": "a date (YYYY-MM-DD)", "none_required": "nothing",
}


def report(diags: Diagnostics, error: Any, *, path_text: str, where: SourceRange, model: type[BaseModel]) -> None:
    """One pydantic error → one diagnostic in manifest words, with what was expected and found."""
    loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
    # digits are list positions, except the last step of an unknown key (a mapping key written `1:`)
    is_key = [error["type"] == "extra_forbidden" and i == len(loc) - 1 for i in range(len(loc))]
    field_path = ".".join(p if not p.isdigit() or k else f"[{p}]" for p, k in zip(loc, is_key, strict=True))
    field_path = field_path.replace(".[", "[")
    full_path = f"{path_text}{'' if field_path.startswith('[') else '.'}{field_path}" if field_path else path_text
    kind = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        known = sorted(model_fields(model, loc[:-1]))
        close = difflib.get_close_matches(loc[-1], known, n=1)
        diags.error("unknown-field", f"unknown field {loc[-1]!r}", subject=where, path=full_path,
                    hint=f"did you mean {close[0]!r}?" if close else
                    f"known fields: {', '.join(known)}" if known else "")
    elif kind == "missing":
        diags.error("missing-field", "required field is missing", subject=where, path=full_path)
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        options = [o.strip(" '") for o in expected.replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(given), options, n=1)
        shown = str(given).lower() if isinstance(given, bool) else repr(given)  # YAML words, not Python's
        if isinstance(given, bool):
            expected = expected.replace("True", "true").replace("False", "false")
        diags.error("not-an-option", f"expected one of {expected}, got {shown}", subject=where,
                    path=full_path, hint=f"did you mean {close[0]!r}?" if close else "")
    elif kind in ("model_type", "model_attributes_type", "dict_type") and secret_field(model, loc):
        diags.error("literal-secret", "a secret is written as a reference, never as the value", subject=where,
                    path=full_path, hint="write {env: NAME}, {file: path} or {gpg: path.asc}")
    elif kind in ("string_type",) and isinstance(given, int) and loc and loc[-1] in REFERENCE_FIELDS:
        diags.error("numeric-reference", f"references name an object by its natural key, not a numeric id "
                    f"({given})", subject=where, path=full_path, hint=f"write the name, e.g. {loc[-1]}: {REFERENCE_EXAMPLES.get(loc[-1], 'User')}")
    elif kind in TYPE_WORDS:
        diags.error("wrong-type", f"expected {TYPE_WORDS[kind]}, got {shown_value(given)}", subject=where,
                    path=full_path, hint=YAML_1_2_HINT if kind == "bool_type" and str(given).lower() in YAML_1_1_BOOLS
                    else "")
    elif kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        expected = PATTERN_WORDS.get(pattern, f"text matching {pattern}")
        diags.error("bad-format", f"expected {expected}, got {given!r}", subject=where, path=full_path)
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        plain_value = (not isinstance(given, dict | list) and given is not None and "got " not in message
                       and repr(given) not in message)
        shown = f", got {given!r}" if plain_value else ""
        diags.error(kind.replace("_", "-"), f"{message}{shown}", subject=where, path=full_path)


TYPE_WORDS = {  # pydantic's strict type errors → what the manifest author should write
    "bool_type": "true or false", "int_type": "a whole number", "string_type": "text", "list_type": "a list",
    "float_type": "a number", "date_type": "a date (YYYY-MM-DD)", "model_type": "a mapping", "dict_type": "a mapping",
}
YAML_1_1_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})
YAML_1_2_HINT = "manifests are YAML 1.2: only true and false are booleans"


def shown_value(given: Any) -> str:
    if given is None:
        return "nothing (null)"
    if isinstance(given, date):  # a YAML timestamp: show it as written, not as Python's repr
        return given.isoformat()
    if isinstance(given, dict):
        return "a mapping"
    if isinstance(given, list):
        return "a list"
    return repr(given)


REFERENCE_FIELDS = frozenset({"org", "role", "user", "server", "tag", "sharing_group", "remote_org"})
REFERENCE_EXAMPLES = {"org": "ORGNAME", "role": "User", "user": "admin@admin.test", "server": "hub",
                      "tag": "tlp:white", "sharing_group": "Training community", "remote_org": "Hub Org"}
PATTERN_WORDS = {  # pydantic patterns → what people call them
    UUID_PATTERN: "a UUID like 5d6e7f80-1a2b-4c3d-8e9f-a0b1c2d3e4f5",
    EMAIL_PATTERN: "an e-mail address like analyst@example.org",
    r"^#[0-9a-fA-F]{6}$": "a colour written #rrggbb",
    r"^https?://": "an http:// or https:// URL",
    r"^https?://[^\s/]+": "an http:// or https:// URL",
    r"^(-1|\d+[MG])$": "a memory size such as 512M, 2G or -1",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name",
    r"^[a-z0-9][a-z0-9-]*$": "lower-case letters, digits and dashes",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$": "letters, digits, dots, dashes and underscores",
}


def secret_field(model: type[BaseModel], loc: list[str]) -> bool:
    """Whether the field at `loc` takes a secret reference (a literal there is a leaked secret)."""
    from reconciler.model.secrets import SecretRef

    current: Any = model
    for step in loc:
        if step.isdigit() or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        info = current.model_fields.get(step)
        if info is None:
            return False
        if SecretRef in getattr(info.annotation, "__args__", ()) or info.annotation is SecretRef:
            return True
        current = nested_model(info.annotation)
    return False


def model_fields(model: type[BaseModel], loc: list[str]) -> Iterator[str]:
    """Field names of the (nested) model at `loc`, for "did you mean" hints."""
    current: Any = model
    choices: list[Any] = [model]  # every model a union field offers (pgp_key: {file} or {keyserver})
    for step in loc:
        if step.isdigit():
            continue
        info = current.model_fields.get(step) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if info is None:
            return iter(())
        choices = nested_models(info.annotation)
        current = choices[0] if choices else None
    return iter(dict.fromkeys(name for choice in choices for name in choice.model_fields))


def nested_models(annotation: Any) -> list[Any]:
    found: list[Any] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += nested_models(arg)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    return found


def nested_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = nested_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


__all__ = ["kind_named", "load"]
