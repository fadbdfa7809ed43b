"""Operations commands: `schedules render|status`, `settings host-script`, `doctor`, `logs`.

They load the manifests only to know the instance (and its schedules); none of them writes to MISP.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.cli.exits import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.cli.options import PATHS, target_options
from reconciler.cli.output import console, err_console
from reconciler.cli.plan import load_or_exit, run_engine
from reconciler.engine.run import Options, client_for, instance_name

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient
    from reconciler.kinds.schedules import Schedule
    from reconciler.manifest.desired import Desired

T = TypeVar("T")
def options_from(kw: dict[str, Any]) -> Options:
    return Options(state_dir=kw["state_dir"], insecure_http=kw["insecure_http"],
                   allow_insecure_secret_files=kw["allow_insecure_secret_files"])


def with_client(desired: Desired, options: Options, work: Callable[[MispClient], Awaitable[T]]) -> T:
    """Run `work` with a client for the manifests' instance; MISP errors become messages and exit codes."""
    async def run() -> T:
        async with client_for(desired, options) as client:
            return await work(client)

    result: T = run_engine(run())
    return result


# -- schedules ----------------------------------------------------------------------------------------------

@click.group()
def schedules() -> None:
    """Periodic MISP jobs (cron on the MISP host): render them, or check a render is current."""


def declared_schedules(desired: Desired) -> list[Schedule]:
    from reconciler.kinds.schedules import Schedule

    found = [located.entry for located in desired.entries.get("schedules", {}).values()]
    return [entry for entry in found if isinstance(entry, Schedule)]


def rendered_for(desired: Desired, options: Options, render_options: Any) -> Any:
    from reconciler.ops import schedules as ops

    declared = declared_schedules(desired)
    needs_misp = any(s.user is not None and not s.user.isdigit() for s in declared)
    try:
        if needs_misp:
            paired = with_client(desired, options, lambda client: ops.user_ids(client, declared))
        else:
            paired = run_engine(ops.user_ids(None, declared))
        return ops.render(paired, render_options)
    except ops.ScheduleError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)


@schedules.command("render")
@PATHS
@target_options
@click.option("--format", "fmt", type=click.Choice(["crontab", "systemd"]), default="crontab", show_default=True)
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Write the file(s) into this directory instead of printing them.")
@click.option("--user", "os_user", default="www-data", show_default=True, help="The MISP web server's OS user.")
@click.option("--misp-dir", default="/var/www/MISP", show_default=True, help="MISP's install directory.")
def schedules_render(paths: tuple[Path, ...], fmt: str, out_dir: Path | None, os_user: str, misp_dir: str,
                     **kw: Any) -> None:
    """Write the manifests' schedules as /etc/cron.d lines or systemd service + timer units."""
    from reconciler.ops import schedules as ops

    desired = load_or_exit(paths, kw["env"])
    options = options_from(kw)
    render_options = ops.RenderOptions(fmt=fmt, os_user=os_user, misp_dir=misp_dir)
    rendered = rendered_for(desired, options, render_options)
    declared = declared_schedules(desired)
    if not declared:
        err_console.print("note: the manifests declare no schedules: the output installs nothing")
    for warning in filter(None, map(ops.irregular, declared)):
        err_console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if out_dir is None:
        click.echo(rendered.text(), nl=False)
    else:
        for path in ops.write(rendered, out_dir):
            err_console.print(f"wrote {path}")
    ops.save_record(options.state_dir, instance_name(desired), rendered, render_options, declared)


@schedules.command("status")
@PATHS
@target_options
def schedules_status(paths: tuple[Path, ...], **kw: Any) -> None:
    """Whether the manifests' schedules changed since the last `schedules render` (exit 2 when they did)."""
    from reconciler.ops import schedules as ops

    desired = load_or_exit(paths, kw["env"])
    options = options_from(kw)
    record = ops.load_record(options.state_dir, instance_name(desired))
    if record is None:
        console.print("schedules were never rendered for this instance: run `misp-reconcile schedules render`")
        sys.exit(EXIT_CHANGES)
    render_options = ops.RenderOptions(fmt=str(record["format"]), os_user=str(record["os_user"]),
                                       misp_dir=str(record["misp_dir"]))
    rendered = rendered_for(desired, options, render_options)
    if rendered.digest == record["digest"]:
        console.print(f"schedules: up to date with the {record['format']} render of {record['rendered_at']}")
        sys.exit(EXIT_OK)
    details = ops.changes_since(record, declared_schedules(desired))
    console.print(f"schedules: changed since the {record['format']} render of {record['rendered_at']}; "
                  f"render again and install the result on the MISP host", soft_wrap=True)
    for line in details:
        console.print(f"  {line}", highlight=False)
    sys.exit(EXIT_CHANGES)


# -- settings host-script ---------------------------------------------------------------------------------

@click.group()
def settings() -> None:
    """MISP settings beyond the manifests' `settings:`."""


@settings.command("host-script")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
              help="A host-only setting and its value (repeat). A secret one is written without =VALUE.")
@click.option("--user", "os_user", default="www-data", show_default=True, help="The MISP web server's OS user.")
@click.option("--misp-dir", default="/var/www/MISP", show_default=True, help="MISP's install directory.")
def host_script(assignments: tuple[str, ...], os_user: str, misp_dir: str) -> None:
    """Print one shell script setting MISP's host-only (cli_only) settings with `cake Admin setSetting`."""
    from reconciler.ops import host_settings

    checked, problems = [], []
    for assignment in assignments:
        try:
            checked.append(host_settings.check(assignment))
        except host_settings.HostSettingError as exc:
            problems.append(str(exc))
    for problem in problems:
        err_console.print(f"[red]error:[/] {problem}", soft_wrap=True)
    if problems:
        sys.exit(EXIT_ERROR)
    if not checked:
        names = sorted(n for n, s in catalogue_items() if s.get("cli_only"))
        err_console.print("nothing to set: pass --set NAME=VALUE for any of " + ", ".join(names), soft_wrap=True)
        sys.exit(EXIT_ERROR)
    click.echo(host_settings.script(checked, os_user=os_user, misp_dir=misp_dir), nl=False)


def catalogue_items() -> list[tuple[str, dict[str, Any]]]:
    from reconciler.kinds.settings import catalogue

    return list(catalogue().items())


# -- doctor -----------------------------------------------------------------------------------------------

@click.command()
@PATHS
@target_options
@click.option("--dump", "dump_file", type=click.Path(path_type=Path), default=None,
              help="Also write a sanitised settings dump (no secret in it) to FILE, to share when asking for help.")
def doctor(paths: tuple[Path, ...], dump_file: Path | None, **kw: Any) -> None:
    """Read-only diagnostics of the instance: version, flagged settings, files, PHP, database, workers.
    Exits 1 when a critical finding exists."""
    from reconciler.ops import doctor as ops

    desired = load_or_exit(paths, kw["env"])
    requires = desired.instance.requires if desired.instance is not None else None
    report: ops.Report = with_client(desired, options_from(kw), lambda client: ops.diagnose(client, requires))
    show_report(report, instance_name(desired))
    if dump_file is not None:
        import json

        dump_file.write_text(json.dumps(ops.sanitised_dump(report), indent=2, sort_keys=True) + "\n")
        dump_file.chmod(0o600)
        err_console.print(f"wrote a sanitised settings dump to {dump_file}")
    sys.exit(EXIT_ERROR if report.critical else EXIT_OK)


def show_report(report: Any, name: str) -> None:
    """One screen: a headline per area, then the findings, worst first (optional ones only counted)."""
    from rich.markup import escape
    from rich.table import Table

    from reconciler.ops.doctor import CRITICAL, LEVEL_NAMES, OPTIONAL, RECOMMENDED

    meets = {True: "[green]meets[/]", False: "[red]does NOT meet[/]", None: ""}[report.meets_requirement]
    requirement = f" ({meets} {escape(report.requires)})" if report.requires else ""
    console.print(f"[bold]MISP {escape(report.version or '?')}[/]{requirement} · instance {escape(name)}")
    console.print(f"workers: {escape('; '.join(report.workers))}", soft_wrap=True)
    counts = {level: len(report.by_level(level)) for level in LEVEL_NAMES}
    colours = {CRITICAL: "red", RECOMMENDED: "yellow", OPTIONAL: "cyan"}
    console.print("findings: " + ", ".join(f"[{colours[lvl]}]{n} {LEVEL_NAMES[lvl]}[/]" for lvl, n in counts.items()))
    table = Table(show_edge=False, pad_edge=False)
    for column in ("level", "area", "subject", "finding"):
        table.add_column(column)
    for finding in sorted(report.findings, key=lambda f: (f.level, f.area, f.subject)):
        if finding.level == OPTIONAL:
            continue
        table.add_row(f"[{colours[finding.level]}]{LEVEL_NAMES[finding.level]}[/]", finding.area,
                      escape(finding.subject), escape(finding.message))
    if table.row_count:
        console.print(table)
    if counts[OPTIONAL]:
        console.print(f"{counts[OPTIONAL]} optional setting(s) flagged too: see --dump, or MISP's settings page")


# -- logs -------------------------------------------------------------------------------------------------

LOG_COLUMNS = ("id", "created", "email", "model", "model_id", "action", "title")
AUDIT_COLUMNS = ("id", "created", "user_id", "model", "model_id", "action", "model_title", "request_id")


@click.command()
@PATHS
@target_options
@click.option("--model", default=None, help="MISP model (User, Organisation, Server, …).")
@click.option("--action", default=None, help="MISP action (add, edit, delete, login, …).")
@click.option("--user", "email", default=None, help="The acting user's e-mail.")
@click.option("--since", default=None, help="From this ISO 8601 date or time.")
@click.option("--until", default=None, help="Up to this ISO 8601 date or time.")
@click.option("--text", default=None, help="Rows whose title, change or description contain this text.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--audit", is_flag=True, help="Search the audit log (audit_logs) instead of the application log.")
@click.option("--run", "run_id", type=int, default=None,
              help="MISP's audit rows caused by this run of ours (matched by X-Request-Id).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def logs(paths: tuple[Path, ...], run_id: int | None, fmt: str, **kw: Any) -> None:
    """Search MISP's application or audit log, one page at a time."""
    from reconciler.ops import logs as ops

    desired = load_or_exit(paths, kw.pop("env"))
    options = options_from(kw)
    query = ops.LogQuery(model=kw["model"], action=kw["action"], email=kw["email"], since=kw["since"],
                         until=kw["until"], text=kw["text"], page=kw["page"], limit=kw["limit"],
                         audit=kw["audit"] or run_id is not None)
    request_ids = run_requests(desired, options, run_id) if run_id is not None else None

    async def work(client: MispClient) -> ops.LogPage:
        scoped = query
        if query.audit and query.email:
            from dataclasses import replace

            scoped = replace(query, user_id=await ops.user_id_for(client, query.email))
        if request_ids is not None:
            return await ops.rows_for_requests(client, request_ids, scoped)
        return await ops.search(client, scoped)

    try:
        page: ops.LogPage = with_client(desired, options, work)
    except ops.LogQueryError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_ERROR)
    show_logs(page, query.audit, fmt)


def run_requests(desired: Desired, options: Options, run_id: int) -> list[str]:
    from reconciler.engine.run import open_state
    from reconciler.ops.logs import run_request_ids

    state = open_state(desired, options)
    ids = run_request_ids(state.audit(instance_name(desired), run_id=run_id))
    if not ids:
        err_console.print(f"[red]error:[/] run {run_id} of {instance_name(desired)!r} recorded no request to MISP "
                          "(see `misp-reconcile runs`)")
        sys.exit(EXIT_ERROR)
    return ids


def show_logs(page: Any, audit: bool, fmt: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from reconciler.model.secrets import REDACTOR

    if fmt == "json":
        import json

        click.echo(json.dumps(REDACTOR.scrub_obj({"page": page.page, "limit": page.limit, "has_more": page.has_more,
                                                  "rows": page.rows, "application_log": page.related,
                                                  "notes": page.notes}), indent=2))
        return
    tables = [(f"MISP {'audit' if audit else 'application'} log, page {page.page}", AUDIT_COLUMNS if audit
               else LOG_COLUMNS, page.rows)]
    if page.related:
        tables.append(("The same requests in MISP's application log", LOG_COLUMNS, page.related))
    for title, columns, rows in tables:
        table = Table(title=title, show_edge=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(REDACTOR.scrub(str(row.get(c) if row.get(c) is not None else "")))
                            for c in columns))
        console.print(table)
    more = f"; next page: --page {page.page + 1}" if page.has_more else ""
    console.print(f"{len(page.rows)} row(s){more}")
    for note in page.notes:
        console.print(f"note: {note}", soft_wrap=True)


commands: list[click.Command] = [schedules, settings, doctor, logs]
