"""`state`, `audit` and `runs`: inspect and move the state database, check the audit chain, list runs.

Every command takes `--state-url URL`, or `--instance NAME` (default `sandbox`) for the default SQLite file
`<state-dir>/<instance>.db`. Readable tables by default, `--format json` for machines.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from reconciler.cli.exits import EXIT_ERROR
from reconciler.state import AuditRecord, OwnedObject, StateError, StateStore
from reconciler.state.approvers import PinnedApprovers

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_INSTANCE = "sandbox"
ADDRESS = re.compile(r'^(?P<kind>[a-z_]+)\[(?P<key>".*")\]$')  # users["alice@example.org"]


PIPE_WIDTH = 160  # tables piped to a file or a CI log: wide enough for an address, a hash and a date


def _console(err: bool = False) -> Console:
    # Made per call so it writes to whatever sys.stdout is now (click's test runner swaps it).
    stream = sys.stderr if err else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(stderr=err, highlight=False, soft_wrap=True, width=width)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    instance: str
    state_dir: Path = Path("state")  # where a sandbox target keeps its database, next to the default state

    @property
    def shown(self) -> str:
        """The URL as it may be printed: never its password."""
        return make_url(self.url).render_as_string(hide_password=True)


def state_options(func: Callable[P, R]) -> Callable[P, R]:
    """--state-url / --state-dir / --instance, turned into one `target` argument."""

    @click.option("--instance", "instance", default=DEFAULT_INSTANCE, show_default=True,
                  help="Instance name: the manifest's instance.name.")
    @click.option("--state-dir", type=click.Path(path_type=Path), default=Path("state"), show_default=True,
                  help="Where the default SQLite state lives.")
    @click.option("--state-url", default=None,
                  help="SQLAlchemy URL of the state database (default: sqlite:///<state-dir>/<instance>.db).")
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        state_dir: Path = kwargs.pop("state_dir")  # type: ignore[assignment]
        state_url: str | None = kwargs.pop("state_url")  # type: ignore[assignment]
        instance: str = kwargs.pop("instance")  # type: ignore[assignment]
        kwargs["target"] = Target(state_url or f"sqlite:///{state_dir / f'{instance}.db'}", instance, state_dir)
        return func(*args, **kwargs)

    return wrapper


def fail(message: str) -> None:
    _console(err=True).print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(EXIT_ERROR)


def missing_sqlite_file(url: str) -> Path | None:
    """The SQLite file a URL names, if it does not exist (PostgreSQL databases are never 'missing' here)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    return None if path.exists() else path


@contextmanager
def opened(target: Target, *, upgrade: bool = True, connect_only: bool = False,
           create: bool = False) -> Iterator[StateStore]:
    """Open the store; a StateError anywhere inside becomes a message and exit code 1, here only.

    Commands that only read refuse a missing SQLite file rather than create an empty state for a typo.
    """
    if not create and (missing := missing_sqlite_file(target.url)) is not None:
        fail(f"there is no state at {missing}: check --instance and --state-dir, or pass --state-url")
    store: StateStore | None = None
    try:
        store = StateStore.connect(target.url) if connect_only else StateStore.open(target.url, upgrade=upgrade)
        yield store
    except StateError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:  # the database went away or refused a statement after opening
        fail(f"the state database {target.shown} failed: {getattr(exc, 'orig', None) or exc}")
    finally:
        if store is not None:
            store.close()


def format_option(func: Callable[P, R]) -> Callable[P, R]:
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="Output for people (tables) or machines (JSON).")(func)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def owned_json(obj: OwnedObject) -> dict[str, Any]:
    return {"kind": obj.kind, "key": obj.key, "misp_id": obj.misp_id, "uuid": obj.uuid,
            "fields": sorted(obj.fields), "fingerprint": obj.fingerprint, "updated_at": when(obj.updated_at)}


def address(obj: OwnedObject) -> str:
    return f"{obj.kind}[{json.dumps(obj.key, ensure_ascii=False)}]"


# -- state -------------------------------------------------------------------------------------------

@click.group()
def state() -> None:
    """Inspect, unlock, migrate and move the state database."""


@state.command("list")
@state_options
@click.option("--kind", default=None, help="Only objects of this kind.")
@format_option
def state_list(target: Target, kind: str | None, fmt: str) -> None:
    """List the objects this state owns in MISP."""
    with opened(target) as store:
        owned = [obj for obj in store.ledger(target.instance).values() if kind in (None, obj.kind)]
    if fmt == "json":
        emit_json([owned_json(obj) for obj in owned])
        return
    table = Table(title=f"Owned objects of {target.instance!r} ({len(owned)})")
    for column in ("address", "MISP id", "uuid", "managed fields"):
        table.add_column(column)
    for obj in owned:
        table.add_row(escape(address(obj)), obj.misp_id, obj.uuid or "", ", ".join(sorted(obj.fields)))
    _console().print(table)


@state.command("show")
@state_options
@click.argument("object_address", required=False, metavar="[ADDRESS]")
@format_option
def state_show(target: Target, object_address: str | None, fmt: str) -> None:
    """Show the state's summary, or one owned object (ADDRESS like users["alice@example.org"])."""
    with opened(target) as store:
        if object_address is not None:
            show_object(store, target, object_address, fmt)
        else:
            show_summary(store, target, fmt)


def show_object(store: StateStore, target: Target, text: str, fmt: str) -> None:
    match = ADDRESS.match(text)
    if match is None:
        fail(f'{text!r} is not an address; write it as kind["key"], e.g. users["alice@example.org"]')
        return
    kind, key = match["kind"], json.loads(match["key"])
    obj = store.owned(target.instance, kind, key)
    if obj is None:
        fail(f"{text} is not owned by the state of {target.instance!r} (`state list` shows what is)")
        return
    data = owned_json(obj)
    if fmt == "json":
        emit_json(data)
        return
    for name, value in data.items():
        _console().print(f"[bold]{name:>12}[/] {escape(str(value))}")


def show_summary(store: StateStore, target: Target, fmt: str) -> None:
    lineage = store.lineage(target.instance)
    holder = store.lock_holder(target.instance)
    ledger = store.ledger(target.instance)
    per_kind: dict[str, int] = {}
    for kind, _key in ledger:
        per_kind[kind] = per_kind.get(kind, 0) + 1
    unfinished = store.unfinished_operations(target.instance)
    instances = store.instances()
    summary: dict[str, Any] = {
        "url": store.url, "instance": target.instance, "revision": store.revision(),
        "misp_uuid": lineage.misp_uuid if lineage else None, "serial": lineage.serial if lineage else 0,
        "lock": holder.describe() if holder else None, "owned": per_kind,
        "unfinished_operations": [op.as_json() for op in unfinished],
        "instances": instances,  # every instance this database holds state for
        "approvers": approvers_json(store.approvers(target.instance)),
    }
    if fmt == "json":
        emit_json(summary)
        return
    out = _console()
    for name in ("url", "instance", "revision", "misp_uuid", "serial"):
        out.print(f"[bold]{name:>22}[/] {escape(str(summary[name] if summary[name] is not None else '-'))}")
    out.print(f"[bold]{'lock':>22}[/] " + (f"[yellow]held by {escape(holder.describe())}[/]" if holder else "free"))
    owned = ", ".join(f"{n} {kind}" for kind, n in sorted(per_kind.items())) or "nothing"
    out.print(f"[bold]{'owned':>22}[/] {escape(owned)}")
    out.print(f"[bold]{'unfinished operations':>22}[/] {len(unfinished)}"
              + (" (the next apply re-reads these objects)" if unfinished else ""))
    out.print(f"[bold]{'instances here':>22}[/] {escape(', '.join(instances) or '-')}")
    pinned = summary["approvers"]
    out.print(f"[bold]{'pinned approvers':>22}[/] " + (escape(f"{pinned['min']} of {', '.join(pinned['fingerprints'])}")
                                                     if pinned else "none (no signed apply yet)"))


def approvers_json(pinned: PinnedApprovers | None) -> dict[str, Any] | None:
    if pinned is None:
        return None
    return {"fingerprints": list(pinned.fingerprints), "min": pinned.min, "run_id": pinned.run_id,
            "updated_at": when(pinned.updated_at)}


@state.command("unpin-approvers")
@state_options
@click.option("--force", is_flag=True, help="Required: you confirm the approvers cannot sign any more.")
def state_unpin_approvers(target: Target, force: bool) -> None:
    """Forget the approvers pinned by the last signed apply (all their keys lost). Recorded in the audit log;
    the next signed apply pins the approvers its manifests declare."""
    if not force:
        fail("`state unpin-approvers` needs --force: it lifts the guard that makes a change of the signature "
             "policy need the current approvers' signatures. Use it only when they can no longer sign.")
    with opened(target) as store:
        pinned = store.approvers(target.instance)
        if pinned is None or not store.unpin_approvers(target.instance):
            _console().print(f"No approvers are pinned for {target.instance!r}.")
            return
        store.audit_append(target.instance, None, {"kind": "approvers", "key": target.instance, "action": "unpin",
                                                   "by": "state unpin-approvers --force",
                                                   "fingerprints": list(pinned.fingerprints)})
    _console().print(f"Unpinned the approvers of {target.instance!r} ({', '.join(pinned.fingerprints)}); "
                     "recorded in the audit log.")


@state.command("unlock")
@state_options
@click.option("--force", is_flag=True, help="Required: you confirm no other run is alive.")
def state_unlock(target: Target, force: bool) -> None:
    """Remove the lock of a run that died. Risky if that run is in fact still going."""
    if not force:
        fail("`state unlock` needs --force: removing the lock of a run that is still going lets two applies "
             "write to MISP and the state at once. Check first that it is not running.")
    with opened(target, upgrade=False) as store:  # unlocking must work whatever the schema state
        removed = store.force_unlock(target.instance)
    if removed is None:
        _console().print(f"The state of {target.instance!r} was not locked.")
    else:
        _console().print(f"Removed the lock held by {escape(removed.describe())}.")


@state.command("migrate")
@state_options
@click.option("--to", "to_url", default=None, help="Also copy the whole state into this (empty) database.")
def state_migrate(target: Target, to_url: str | None) -> None:
    """Upgrade the schema to this version's newest; with --to, move the state to another database."""
    with opened(target, connect_only=True, create=True) as store:
        before, after = store.migrate()
        _console().print(f"{escape(store.url)}: schema {before or 'empty'} → {after}"
                         + (" (already up to date)" if before == after else ""))
        if to_url is not None:
            copy_state(store, to_url)


def copy_state(source: StateStore, to_url: str) -> None:
    """Export into a temporary file (bounded memory), import, then prove every audit chain survived."""
    import tempfile

    with tempfile.TemporaryFile("w+", encoding="utf-8") as dump:
        source.export_all(dump)
        dump.seek(0)
        with opened(Target(to_url, ""), create=True) as target_store:
            counts = target_store.import_all(dump)
            report_import(target_store, counts)


def report_import(store: StateStore, counts: dict[str, int]) -> None:
    out = _console()
    out.print(f"Imported into {escape(store.url)}: "
              + ", ".join(f"{n} {table}" for table, n in counts.items()))
    broken = False
    for instance in store.instances():
        result = store.audit_verify(instance)
        broken |= not result.ok
        out.print(f"  audit of {instance!r}: " + ("[green]verified[/]" if result.ok
                                                   else "[red]BROKEN[/] " + escape("; ".join(result.problems))))
    if broken:
        sys.exit(EXIT_ERROR)


@state.command("export")
@state_options
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="Where to write the JSON lines.")
def state_export(target: Target, output: IO[str]) -> None:
    """Write the whole state database (every instance in it) as JSON lines."""
    with opened(target) as store:
        counts = store.export_all(output)
    _console(err=True).print("Exported " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@state.command("import")
@state_options
@click.argument("source", type=click.File("r", encoding="utf-8"))
def state_import(target: Target, source: IO[str]) -> None:
    """Load an export (from `state export`) into an empty state database, then verify the audit chains."""
    with opened(target, create=True) as store:
        report_import(store, store.import_all(source))


# -- audit -------------------------------------------------------------------------------------------

@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("show")
@state_options
@click.option("--run", "run_id", type=int, default=None, help="Only this run's records.")
@click.option("--limit", type=int, default=50, show_default=True, help="The newest N records (0: all).")
@format_option
def audit_show(target: Target, run_id: int | None, limit: int, fmt: str) -> None:
    """Show audit records, oldest first."""
    with opened(target) as store:
        records = store.audit(target.instance, run_id=run_id, limit=limit or None)
    if fmt == "json":
        emit_json([record.as_json() for record in records])
        return
    table = Table(title=f"Audit of {target.instance!r}")
    for column in ("seq", "at", "run", "object", "action", "status", "hash"):
        table.add_column(column)
    for record in records:
        body = record.record
        obj = f"{body.get('kind', '')}[{json.dumps(body.get('key', ''), ensure_ascii=False)}]" \
            if "kind" in body else ""
        table.add_row(str(record.seq), when(record.at), str(record.run_id or ""), escape(obj),
                      escape(str(body.get("action", ""))), escape(str(body.get("status", ""))), record.hash[:12])
    _console().print(table)


def parse_pins(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[int, str]:
    pins: dict[int, str] = {}
    for value in values:
        seq, _, digest = value.partition(":")
        if not (seq.isdigit() and re.fullmatch(r"[0-9a-f]{64}", digest)):
            raise click.BadParameter(f"{value!r} is not SEQ:SHA256 (e.g. 42:9f86d0…, as `audit verify` prints)")
        pins[int(seq)] = digest
    return pins


@audit.command("verify")
@state_options
@click.option("--pin", "pins", multiple=True, callback=parse_pins, metavar="SEQ:HASH",
              help="A head printed by an earlier verify and kept elsewhere: catches a rewritten chain.")
@format_option
def audit_verify(target: Target, pins: dict[int, str], fmt: str) -> None:
    """Check the hash chain; exits 1 if any record was edited, inserted or deleted."""
    with opened(target) as store:
        result = store.audit_verify(target.instance, pins=pins)
    if fmt == "json":
        emit_json({"ok": result.ok, "records": result.count, "head": result.head, "problems": result.problems})
    elif result.ok:
        _console().print(f"[green]Audit chain of {target.instance!r} verified:[/] {result.count} records, "
                         f"head {result.count}:{result.head}")
    else:
        out = _console(err=True)
        out.print(f"[red]Audit chain of {target.instance!r} is broken[/] ({result.count} records):")
        for problem in result.problems:
            out.print(f"  - {escape(problem)}")
    if not result.ok:
        sys.exit(EXIT_ERROR)


@audit.command("export")
@state_options
@click.option("--jsonl", is_flag=True, required=True, help="JSON lines, one record per line (the only format).")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", show_default=True)
def audit_export(target: Target, jsonl: bool, output: IO[str]) -> None:
    """Export the audit log with its hashes, so it can be verified elsewhere."""
    with opened(target) as store:
        count = store.audit_export_jsonl(target.instance, output)
    _console(err=True).print(f"Exported {count} audit records.")


# -- runs --------------------------------------------------------------------------------------------

@click.group(invoke_without_command=True)
@click.option("--instance", default=DEFAULT_INSTANCE, show_default=True, help="Instance name.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=Path("state"), show_default=True)
@click.option("--state-url", default=None, help="SQLAlchemy URL of the state database.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def runs(ctx: click.Context, /, **options: Any) -> None:
    """Past runs: who, when, git commit, plan hash, outcome, counts. `runs` alone is `runs list`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(runs_list, **options)


@runs.command("list")
@state_options
@click.option("--limit", type=int, default=20, show_default=True)
@format_option
def runs_list(target: Target, limit: int, fmt: str) -> None:
    """List the newest runs."""
    with opened(target) as store:
        records = store.runs(target.instance, limit=limit)
    if fmt == "json":
        emit_json([run.as_json() for run in records])
        return
    table = Table(title=f"Runs of {target.instance!r}")
    for column in ("id", "started", "who", "command", "git commit", "plan hash", "outcome", "counts"):
        table.add_column(column)
    for run in records:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(run.counts.items()))
        table.add_row(str(run.id), when(run.started_at), escape(f"{run.who}@{run.host}"), run.command,
                      (run.git_commit or "")[:12], (run.plan_hash or "")[:12], outcome_text(run.outcome),
                      escape(counts))
    _console().print(table)


def outcome_text(outcome: str | None) -> str:
    colour = {"ok": "green", "failed": "red", "interrupted": "yellow"}.get(outcome or "", "cyan")
    return f"[{colour}]{outcome or 'running'}[/]"


@runs.command("show")
@state_options
@click.argument("run_id", type=int)
@click.option("--misp", "misp_paths", multiple=True, type=click.Path(exists=True, path_type=Path),
              metavar="PATHS", help="The manifests of the run's MISP instance: also show MISP's own log rows "
              "of this run (matched by X-Request-Id). Repeatable.")
@format_option
def runs_show(target: Target, run_id: int, misp_paths: tuple[Path, ...], fmt: str) -> None:
    """One run: its details, each operation of its journal with MISP's request id, its audit records; with
    --misp, MISP's own audit and application log rows for the run's requests."""
    with opened(target) as store:
        run = store.run(run_id)
        operations = store.journal(run_id)
        records = store.audit(run.instance, run_id=run_id)
    misp = misp_rows(target, run_id, run.instance, records, misp_paths)
    if fmt == "json":
        emit_json({"run": run.as_json(), "operations": [op.as_json() for op in operations],
                   "audit": [record.as_json() for record in records], "misp": misp})
        return
    out = _console()
    for name, value in run.as_json().items():
        out.print(f"[bold]{name:>14}[/] {escape(str(value if value is not None else '-'))}")
    table = Table(title=f"Operations of run {run_id}")
    for column in ("object", "action", "status", "MISP id", "X-Request-Id", "error"):
        table.add_column(column)
    request_ids = requests_by_object(records)
    for op in operations:
        ids = [op.request_id] if op.request_id else request_ids.get((op.kind, op.key), [])
        table.add_row(escape(f"{op.kind}[{json.dumps(op.key, ensure_ascii=False)}]"), op.action, op.status.value,
                      op.misp_id or "", escape(" ".join(ids)), escape(op.error or ""))
    out.print(table)
    show_misp_rows(misp)


MISP_AUDIT_COLUMNS = ("id", "created", "user_id", "model", "model_id", "action", "model_title", "request_id")
MISP_LOG_COLUMNS = ("id", "created", "email", "model", "model_id", "action", "title")
MISP_ROWS_LIMIT = 1000  # one page of MISP's rows; `logs --run ID --page N` pages further


def misp_rows(target: Target, run_id: int, instance: str, records: list[AuditRecord],
              paths: tuple[Path, ...]) -> dict[str, Any]:
    """MISP's audit-log rows written while serving this run's requests (and their application-log twins),
    found by `reconciler.ops.logs` as `logs --run` does. Never fails the command: what our state holds is
    shown whatever MISP answers, and a note says why MISP's side is missing."""
    from reconciler.ops.logs import run_request_ids

    request_ids = run_request_ids(records)
    found: dict[str, Any] = {"request_ids": len(request_ids), "audit_log": None, "application_log": None,
                             "notes": []}
    notes: list[str] = found["notes"]
    if not paths:
        notes.append(f"MISP's own log rows of this run: add --misp MANIFESTS (the manifests of instance "
                     f"{instance!r}), or run `misp-reconcile logs --run {run_id} MANIFESTS`")
        return found
    if not request_ids:
        notes.append(f"run {run_id} recorded no request to MISP: MISP has no log row of it")
        return found
    from reconciler.backend.errors import MispError
    from reconciler.engine.run import Refusal
    from reconciler.model.secrets import REDACTOR
    from reconciler.secrets import SecretError

    try:
        page = fetch_misp_rows(target, instance, request_ids, paths)
    except (MispError, Refusal, SecretError, ValueError, OSError) as exc:  # unreachable, refused, bad input

        notes.append(f"MISP's log rows could not be read: {REDACTOR.scrub(str(exc) or type(exc).__name__)}")
        return found
    # MISP's rows carry the changed fields: scrubbed as `logs` does, so no secret reaches a CI log
    found["audit_log"], found["application_log"] = REDACTOR.scrub_obj(page.rows), REDACTOR.scrub_obj(page.related)
    notes += page.notes
    if page.has_more:
        notes.append(f"more than {MISP_ROWS_LIMIT} MISP rows: `misp-reconcile logs --run {run_id} MANIFESTS "
                     "--page 2` shows the next")
    return found


def fetch_misp_rows(target: Target, instance: str, request_ids: list[str], paths: tuple[Path, ...]) -> Any:
    import asyncio

    from reconciler.engine.run import Options, client_for, instance_name
    from reconciler.manifest.load import load
    from reconciler.ops.logs import LogQuery, rows_for_requests

    desired, diags = load(list(paths))
    if diags.has_errors():
        raise ValueError("the manifests have errors (`misp-reconcile validate` shows them)")
    if instance_name(desired) != instance:
        raise ValueError(f"the manifests target instance {instance_name(desired)!r}, the run was on {instance!r}")
    query = LogQuery(audit=True, limit=MISP_ROWS_LIMIT)

    async def work() -> Any:
        async with client_for(desired, Options(state_dir=target.state_dir)) as client:
            return await rows_for_requests(client, request_ids, query)

    return asyncio.run(work())


def show_misp_rows(misp: dict[str, Any]) -> None:
    out = _console()
    for title, columns, rows in (("MISP's audit log rows of this run (by X-Request-Id)", MISP_AUDIT_COLUMNS,
                                  misp["audit_log"]),
                                 ("The same requests in MISP's application log", MISP_LOG_COLUMNS,
                                  misp["application_log"])):
        if rows is None:
            continue
        table = Table(title=f"{title}: {len(rows)} row(s)")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(str(row.get(column) if row.get(column) is not None else "")) for column in columns))
        out.print(table)
    for note in misp["notes"]:
        out.print(f"[yellow]note:[/] {escape(note)}")


def requests_by_object(records: list[AuditRecord]) -> dict[tuple[str, str], list[str]]:
    """X-Request-Ids the audit recorded per object: MISP writes the same id into its own logs."""
    found: dict[tuple[str, str], list[str]] = {}
    for record in records:
        body = record.record
        ids = body.get("request_ids") or []
        if "kind" in body and "key" in body and isinstance(ids, list):
            found.setdefault((str(body["kind"]), str(body["key"])), []).extend(str(i) for i in ids)
    return found


commands = [state, audit, runs]
