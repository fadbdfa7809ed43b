"""`fleet plan FLEET.yaml` / `fleet apply FLEET.yaml`: several instances and their sync links as one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from reconciler.cli.exits import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from reconciler.cli.options import ALLOW_DELETES, INSECURE_HTTP, INSECURE_SECRET_FILES, PARALLELISM, options
from reconciler.cli.output import console, err_console, print_diagnostics
from reconciler.cli.plan import make_options, run_engine, show_plan
from reconciler.engine.run import Options, Planned
from reconciler.model.secrets import REDACTOR

FLEET_FILE = click.argument("fleet_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
FLEET_STATE_DIR = click.option("--state-dir", type=click.Path(path_type=Path), default=Path("state"),
                               show_default=True,
                               help="Local state; each instance gets STATE_DIR/NAME (its sandbox database too).")
fleet_options = options(FLEET_FILE, FLEET_STATE_DIR, PARALLELISM, ALLOW_DELETES, INSECURE_HTTP, INSECURE_SECRET_FILES)


def options_from(kw: dict[str, Any]) -> Options:
    return make_options({**kw, "state_url": None, "kinds": ()})


def load_or_exit(path: Path) -> Any:
    from reconciler.fleet.model import load_fleet

    loaded, diags = load_fleet(path)
    print_diagnostics(diags)
    if loaded is None or diags.has_errors():
        sys.exit(EXIT_ERROR)
    return loaded


def show(name: str, planned: Planned) -> None:
    console.print(f"\n[bold]== instance {name} ==[/]", highlight=False)
    show_plan(planned, "text")


@click.group()
def fleet() -> None:
    """Plan and apply a fleet of MISP instances and the sync links between them."""


@fleet.command("validate")
@FLEET_FILE
def validate_cmd(fleet_file: Path) -> None:
    """Check the fleet file, every instance's manifests and the links' topology, offline."""
    from reconciler.fleet.engine import validate_fleet

    loaded = load_or_exit(fleet_file)
    diags = validate_fleet(loaded, Options())
    print_diagnostics(diags)
    if diags.has_errors():
        sys.exit(EXIT_ERROR)
    fleet_ = loaded.fleet
    console.print(f"{fleet_file}: {len(fleet_.instances)} instances, {len(fleet_.links)} links: valid",
                  highlight=False)
    sys.exit(EXIT_OK)


@fleet.command("plan")
@fleet_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error, 3 unreachable.")
def plan_cmd(fleet_file: Path, detailed_exitcode: bool, **kw: Any) -> None:
    """One plan for the whole fleet, grouped by instance. Writes nothing to the manifests or the state."""
    from reconciler.fleet.engine import plan_fleet

    loaded = load_or_exit(fleet_file)
    plans, diags = run_engine(plan_fleet(loaded, options_from(kw)))
    print_diagnostics(diags)
    if diags.has_errors():
        sys.exit(EXIT_ERROR)
    for name, planned in plans.items():
        show(name, planned)
    if any(p.diagnostics.has_errors() for p in plans.values()):
        sys.exit(EXIT_ERROR)
    if detailed_exitcode and any(not p.plan.is_empty() for p in plans.values()):
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


@fleet.command("apply")
@fleet_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking, instance by instance.")
def apply_cmd(fleet_file: Path, auto_approve: bool, **kw: Any) -> None:
    """Apply the fleet: linked-to instances first (their keys pass in memory), then test every link."""
    from reconciler.fleet.engine import apply_fleet

    loaded = load_or_exit(fleet_file)

    def confirm(name: str, planned: Planned) -> bool:
        show(name, planned)
        if auto_approve:
            return True
        return click.confirm(f"Apply these changes to {name}?", default=False, err=True)

    out, diags = run_engine(apply_fleet(loaded, options_from(kw), confirm=confirm))
    print_diagnostics(diags)
    if diags.has_errors():
        sys.exit(EXIT_ERROR)
    for name, applied in out.applied.items():
        if applied.result is None:
            console.print(f"{name}: no changes applied", highlight=False)
        else:
            counts = ", ".join(f"{n} {k}" for k, n in applied.result.counts().items() if n)
            console.print(f"{name}: applied ({counts or 'nothing'})", highlight=False)
        for diagnostic in applied.planned.diagnostics.sorted():
            err_console.print(REDACTOR.scrub(diagnostic.render()), highlight=False)
    if out.stopped is not None:
        err_console.print(f"[red]stopped:[/] {out.stopped}", highlight=False)
    for source, target, status in out.connections:
        console.print(f"link {source} → {target}: connection {REDACTOR.scrub(status)}", highlight=False)
    sys.exit(EXIT_OK if out.ok else EXIT_ERROR)


commands = [fleet]
