"""Terminal output shared by commands: consoles, diagnostics, progress and result tables."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reconciler.diags import Diagnostics, Severity
from reconciler.engine.apply import ApplyResult, Outcome
from reconciler.model.secrets import REDACTOR
from reconciler.plans.change import Change

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_diagnostics(diags: Diagnostics) -> None:
    for diag in diags.sorted():
        # file:line:col first, as compilers and editors expect; a warning says so after the place.
        colour = "red" if diag.severity is Severity.ERROR else "yellow"
        err_console.print(f"[{colour}]{escape(REDACTOR.scrub(diag.render()))}[/]", soft_wrap=True)


class ProgressHook:
    """One line per finished object, as it happens (apply of 1,000 objects shows it is moving)."""

    def started(self, change: Change) -> None:
        pass

    def finished(self, change: Change, outcome: Outcome) -> None:
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[outcome.status]
        err_console.print(f"[{colour}]{outcome.status:>7}[/] {change.action.value:<6} {escape(str(change.address))}",
                          soft_wrap=True)


def print_outcomes(result: ApplyResult) -> None:
    table = Table(title="Apply result", show_lines=False)
    for column in ("object", "action", "status", "MISP id", "detail"):
        table.add_column(column)
    for outcome in result.outcomes:
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[outcome.status]
        table.add_row(escape(str(outcome.change.address)), outcome.change.action.value,
                      f"[{colour}]{outcome.status}[/]", outcome.misp_id or "",
                      escape(REDACTOR.scrub(outcome.error)))
    console.print(table)
    counts = ", ".join(f"{n} {name}" for name, n in sorted(result.counts().items()))
    console.print(f"Apply complete: {counts}." if result.ok else f"[red]Apply finished with failures:[/] {counts}.")
