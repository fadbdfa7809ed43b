"""Terraform-like text: + create, ~ update, = adopt, - delete, ! note. Colour only on a terminal."""

from __future__ import annotations

from reconciler.diags import Diagnostic
from reconciler.model.secrets import REDACTOR
from reconciler.plans.change import Action, Change
from reconciler.plans.plan import Plan
from reconciler.render.values import show_field

SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.ADOPT: "=", Action.NOTE: "!"}
STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.ADOPT: "cyan",
         Action.NOTE: "magenta"}


def render_change(change: Change) -> list[str]:
    suffix = f"  ({change.reason})" if change.action in (Action.DELETE, Action.ADOPT, Action.NOTE) else ""
    lines = [f"  {SYMBOL[change.action]} {change.address}{suffix}"]
    lines.extend(f"      {show_field(f)}" for f in change.fields)
    lines.extend(f"      warning: {w}" for w in change.warnings)
    return lines


def summary(plan: Plan) -> str:
    if plan.is_empty():
        return "No changes. MISP matches the manifests."
    c = plan.counts()
    return (f"Plan: {c['create']} to create, {c['update']} to update, {c['adopt']} to adopt, "
            f"{c['delete']} to delete.")


def render_plan(plan: Plan, diagnostics: list[Diagnostic] | None = None) -> str:
    version = f"MISP {plan.misp_version}" if plan.misp_version else "MISP"
    lines = [f'Plan for instance "{plan.instance}" ({version}).', ""]
    for change in plan.changes:
        lines.extend(render_change(change))
    if plan.changes:
        lines.append("")
    lines.extend(f"note: {n}" for n in plan.notes)
    lines.extend(d.render() for d in diagnostics or [])
    lines.append(summary(plan))
    return REDACTOR.scrub("\n".join(lines))


def styled(line: str) -> str:
    """rich markup for one rendered line (the CLI prints it on a terminal)."""
    from rich.markup import escape

    stripped = line.lstrip()
    for action, symbol in SYMBOL.items():
        if stripped.startswith(symbol + " "):
            return f"[{STYLE[action]}]{escape(line)}[/]"
    if stripped.startswith("warning") or stripped.startswith("note:"):
        return f"[magenta]{escape(line)}[/]"
    return escape(line)
