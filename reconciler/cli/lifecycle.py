"""`export`, `adopt`, `drift` and `rebuild`: taking over an existing MISP, watching it, and rebuilding it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.exits import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.cli.options import PATHS, engine_options
from reconciler.cli.output import console, err_console
from reconciler.cli.plan import (
    load_or_exit,
    make_options,
    report_apply,
    run_engine,
    show_plan,
)
from reconciler.plans.change import Action

if TYPE_CHECKING:
    from reconciler.engine.run import Planned
    from reconciler.manifest.desired import Desired



def source(paths: tuple[Path, ...], into: Path | None, env: str | None) -> Desired:
    """The manifests that say which instance to read; none at all means the embedded sandbox."""
    from reconciler.manifest.desired import Desired

    if paths:
        return load_or_exit(paths, env)
    if into is not None:
        return load_or_exit((into,), env)  # the directory being updated names its own instance
    return Desired()


@click.command()
@PATHS
@engine_options
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write one manifest file per kind into this directory.")
@click.option("--into", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Update this manifest directory in place (comments, key order and layout kept).")
@click.option("--all", "include_builtin", is_flag=True,
              help="Include MISP's built-in objects (default roles, host org, site admin, …).")
def export(paths: tuple[Path, ...], out: Path | None, into: Path | None, include_builtin: bool,
           **kw: Any) -> None:
    """Read a live MISP into minimal manifests. Reads MISP, writes only files; never a secret value."""
    from reconciler.engine.export import export_live, instance_block, merge_into, write_export

    if (out is None) == (into is None):
        err_console.print("[red]error:[/] give exactly one of -o DIR (new manifests) or --into DIR (update)")
        sys.exit(EXIT_ERROR)
    desired = source(paths, into, kw["env"])
    result, live = run_engine(export_live(desired, make_options(kw), include_builtin=include_builtin))
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}")
    if into is not None:
        lines = merge_into(result, live, into)
        for line in lines or ["no changes: the manifests already match MISP"]:
            console.print(line, highlight=False, soft_wrap=True)
    else:
        assert out is not None
        for path in write_export(result, out, instance=instance_block(desired)):
            console.print(f"wrote {path}", highlight=False)
    for variable in sorted(set(result.secrets)):
        err_console.print(f"set {variable}: MISP never returns secrets, the export refers to it by name")
    sys.exit(EXIT_OK)


@click.command()
@PATHS
@engine_options
@click.option("--all", "all_kinds", multiple=True, metavar="KIND",
              help="Take over every live object of KIND, declaring those the manifests lack.")
def adopt(paths: tuple[Path, ...], all_kinds: tuple[str, ...], **kw: Any) -> None:
    """Record objects that exist in MISP and match a declared entry as owned, without recreating them."""
    from reconciler.engine import run
    from reconciler.kinds import kind_names

    unknown = sorted(set(all_kinds) - set(kind_names()))
    if unknown:
        err_console.print(f"[red]error:[/] unknown kind {unknown[0]!r}: one of {', '.join(kind_names())}")
        sys.exit(EXIT_ERROR)
    if all_kinds:
        declare_missing(paths, all_kinds, kw)
    desired = load_or_exit(paths, kw["env"])
    applied = run_engine(run.apply(desired, make_options(kw), confirm=adopts_only, hook=None))
    report_apply(applied)


def declare_missing(paths: tuple[Path, ...], all_kinds: tuple[str, ...], kw: dict[str, Any]) -> None:
    """adopt --all KIND: a live object the manifests lack is written into them first, so that owning it
    never turns into planning its deletion."""
    from reconciler.engine.export import export_live, merge_into

    directory = next((p for p in paths if p.is_dir()), paths[0].parent if paths else Path("."))
    desired = load_or_exit(paths, kw["env"])
    result, live = run_engine(export_live(desired, make_options(kw), include_builtin=True, only=all_kinds))
    for line in merge_into(result, live, directory, update=False):
        console.print(line, highlight=False, soft_wrap=True)


def adopts_only(planned: Planned) -> bool:
    """Keep only the plan's adopts (with any field changes they carry): creates, updates and deletes are
    left to `apply`. The plan is trimmed before apply starts, so the run's plan hash covers what ran."""
    planned.plan.changes[:] = [c for c in planned.plan.changes if c.action in (Action.ADOPT, Action.NOTE)]
    show_plan(planned, "text")
    return any(c.action is Action.ADOPT for c in planned.plan.changes)


@click.command()
@PATHS
@engine_options
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no drift, 2 drift, 1 error.")
def drift(paths: tuple[Path, ...], fmt: str, detailed_exitcode: bool, **kw: Any) -> None:
    """Show what changed since the last apply, in MISP (and by whom) or in the manifests. Read-only."""
    from reconciler.engine import drift as engine

    desired = load_or_exit(paths, kw["env"])
    report = run_engine(engine.drift(desired, make_options(kw)))
    render = {"json": engine.as_json, "markdown": engine.render_markdown}.get(fmt, engine.render_text)
    click.echo(render(report), nl=False)
    sys.exit(EXIT_CHANGES if detailed_exitcode and report.has_drift() else EXIT_OK)


@click.command()
@PATHS
@engine_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (pipelines).")
def rebuild(paths: tuple[Path, ...], auto_approve: bool, **kw: Any) -> None:
    """Rebuild a lost MISP's configuration onto an empty MISP, uuids pinned; then say what git cannot give
    back (passwords, key values, events) and what to do. Runbook: docs/disaster-recovery.md."""
    from reconciler.cli.plan import confirm_interactively, progress_hook
    from reconciler.engine.rebuild import rebuild as engine_rebuild

    desired = load_or_exit(paths, kw["env"])
    rebuilt = run_engine(engine_rebuild(desired, make_options(kw), confirm=confirm_interactively(auto_approve),
                                        hook=progress_hook()))
    for warning in rebuilt.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    try:
        report_apply(rebuilt.applied)  # exits with apply's code; what git lacks is said after the outcomes
    finally:
        if rebuilt.applied.result is not None:
            console.print("\nNot rebuilt from git — what to do:", highlight=False)
            for leftover in rebuilt.leftovers:
                console.print(f"  - {leftover.what}\n      {leftover.todo}", highlight=False, soft_wrap=True)


commands = [export, adopt, drift, rebuild]
