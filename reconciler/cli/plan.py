"""`plan` and `apply`: load, plan, render, (confirm, apply), and choose the exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.backend.errors import MispError, Refused, Unreachable
from reconciler.cli.exits import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, EXIT_UNREACHABLE
from reconciler.cli.options import PATHS, engine_options
from reconciler.cli.output import console, err_console, print_diagnostics
from reconciler.engine.bulk import keep_for_the_run
from reconciler.engine.run import Applied, Options, Planned, Refusal
from reconciler.model.secrets import REDACTOR
from reconciler.state import StateError

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired
    from reconciler.plans.planfile import SavedPlan


def make_options(kw: dict[str, Any]) -> Options:
    return Options(state_dir=kw["state_dir"], state_url=kw["state_url"], kinds=tuple(kw["kinds"]),
                   parallelism=kw["parallelism"], allow_deletes=kw["allow_deletes"],
                   insecure_http=kw["insecure_http"],
                   allow_insecure_secret_files=kw["allow_insecure_secret_files"])


def load_or_exit(paths: tuple[Path, ...], env: str | None) -> Desired:
    from reconciler.manifest.load import load

    desired, diags = load(list(paths) or [Path(".")], env=env)
    print_diagnostics(diags)
    if diags.has_errors():
        sys.exit(EXIT_ERROR)
    keep_for_the_run()  # the manifests live as long as the command: out of the garbage collector's way
    return desired


def run_engine(coro: Any) -> Any:
    """Run an engine coroutine; MISP and refusal errors become messages and exit codes here, once."""
    try:
        return asyncio.run(coro)
    except (Unreachable, Refused) as exc:
        err_console.print(f"[red]error:[/] {REDACTOR.scrub(str(exc))}")
        sys.exit(EXIT_UNREACHABLE)
    except (MispError, Refusal, StateError) as exc:
        err_console.print(f"[red]error:[/] {REDACTOR.scrub(str(exc))}")
        sys.exit(EXIT_ERROR)


def show_plan(planned: Planned, fmt: str) -> None:
    from reconciler.render.json import render_json
    from reconciler.render.markdown import render_markdown
    from reconciler.render.text import render_plan, styled

    diagnostics = planned.diagnostics.sorted()
    if fmt == "json":
        click.echo(render_json(planned.plan, diagnostics), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(planned.plan), nl=False)
        print_diagnostics(planned.diagnostics)
    else:
        for line in render_plan(planned.plan, diagnostics).splitlines():
            console.print(styled(line), highlight=False, soft_wrap=True)


@click.command()
@PATHS
@engine_options
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None, help="Save the plan to apply later.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error, 3 unreachable.")
@click.option("--sign", "sign_key", default=None, help="With -o: sign the saved plan with this GnuPG key (FILE.asc).")
@click.option("--gpg-home", type=click.Path(path_type=Path), default=None, help="GnuPG home holding the signing key.")
@click.option("--test-connections", is_flag=True, help="Run MISP's connection test for each declared sync link.")
def plan(paths: tuple[Path, ...], fmt: str, out: Path | None, detailed_exitcode: bool, sign_key: str | None,
         gpg_home: Path | None, test_connections: bool, **kw: Any) -> None:
    """Show what apply would change, field by field. Reads MISP, writes nothing."""
    from reconciler.engine import run

    desired = load_or_exit(paths, kw["env"])
    options = make_options(kw)
    options.test_connections = test_connections
    planned: Planned = run_engine(run.plan(desired, options))
    show_plan(planned, fmt)
    if planned.diagnostics.has_errors():
        sys.exit(EXIT_ERROR)
    if out is not None:
        from reconciler.plans.planfile import write_plan

        data = write_plan(out, planned.plan, paths=[str(p) for p in paths], env=kw["env"])
        err_console.print(f"Saved the plan to {out}. Apply it with: misp-reconcile apply {out}")
        if sign_key is not None:
            sign_saved_plan(out, data, sign_key, gpg_home)
    if detailed_exitcode and not planned.plan.is_empty():
        sys.exit(EXIT_CHANGES)
    sys.exit(EXIT_OK)


def sign_saved_plan(out: Path, data: bytes, key: str, gpg_home: Path | None) -> None:
    from reconciler.signing import SigningError, sign_plan

    try:
        signature = sign_plan(data, key, gpg_home)
    except SigningError as exc:
        err_console.print(f"[red]error:[/] cannot sign the plan: {exc}")
        sys.exit(EXIT_ERROR)
    out.with_name(out.name + ".asc").write_text(signature)
    err_console.print(f"Signed it: {out.name}.asc")


def verify_saved_plan(plan_path: Path, desired: Desired) -> dict[str, object] | None:
    """With policy.require_signatures, a saved plan applies only with a valid approver's signature."""
    required = desired.policy.require_signatures
    if required is None:
        return None
    from reconciler.signing import SigningError, verify_plan

    signature = plan_path.with_name(plan_path.name + ".asc")
    try:
        result = verify_plan(plan_path.read_bytes(), signature.read_text(), desired.base_dir / required.keyring)
    except (OSError, SigningError) as exc:
        err_console.print(f"[red]error:[/] the saved plan's signature cannot be checked ({signature}): {exc}")
        sys.exit(EXIT_ERROR)
    if not result.valid:
        err_console.print(f"[red]error:[/] the saved plan is not signed by an approver: {result.describe()}")
        sys.exit(EXIT_ERROR)
    return result.as_json()


def confirm_interactively(auto_approve: bool) -> Callable[[Planned], bool]:
    def confirm(planned: Planned) -> bool:
        show_plan(planned, "text")
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            err_console.print("[red]error:[/] refusing to apply without confirmation: stdin is not a terminal. "
                              "Review the plan and pass --auto-approve (pipelines), or apply a saved plan.")
            sys.exit(EXIT_ERROR)
        return click.confirm("Apply these changes?", default=False)
    return confirm


@click.command()
@PATHS
@engine_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (pipelines).")
@click.option("--maintenance", is_flag=True, help="Set MISP.live false while applying; restored afterwards.")
def apply(paths: tuple[Path, ...], auto_approve: bool, maintenance: bool, **kw: Any) -> None:
    """Apply the manifests (or a saved plan file) to MISP."""
    from reconciler.engine import run

    saved: SavedPlan | None = None
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix == ".json":
        from reconciler.plans.planfile import PlanFileError, read_plan

        try:
            saved = read_plan(paths[0])
        except PlanFileError as exc:
            err_console.print(f"[red]error:[/] {exc}")
            sys.exit(EXIT_ERROR)
        plan_file = paths[0]
        paths = tuple(Path(p) for p in saved.paths)
        kw["env"] = saved.env
        auto_approve = True  # a saved plan was reviewed when it was made
    desired = load_or_exit(paths, kw["env"])
    options = make_options(kw)
    options.maintenance = maintenance
    plan_signature = verify_saved_plan(plan_file, desired) if saved is not None else None
    applied: Applied = run_engine(run.apply(desired, options, saved=saved, plan_signature=plan_signature,
                                            confirm=confirm_interactively(auto_approve),
                                            hook=progress_hook()))
    report_apply(applied)


def progress_hook() -> Any:
    from reconciler.cli.output import ProgressHook

    return ProgressHook() if console.is_terminal else None


def report_apply(applied: Applied) -> None:
    from reconciler.cli.output import print_outcomes

    planned = applied.planned
    if planned.diagnostics.has_errors():
        show_plan(planned, "text")
        sys.exit(EXIT_ERROR)
    if planned.plan.is_empty():
        show_plan(planned, "text")
        sys.exit(EXIT_OK)
    if applied.result is None:
        err_console.print("Apply cancelled: nothing was changed.")
        sys.exit(EXIT_OK)
    print_outcomes(applied.result)
    for note in applied.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_OK if applied.result.ok else EXIT_ERROR)


commands = [plan, apply]
