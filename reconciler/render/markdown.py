"""A pull-request comment: summary table per kind, a warning block for deletes, details per object."""

from __future__ import annotations

from reconciler.model.secrets import REDACTOR
from reconciler.plans.change import Action
from reconciler.plans.plan import Plan
from reconciler.render.text import SYMBOL, summary
from reconciler.render.values import show_field

ACTIONS = (Action.CREATE, Action.UPDATE, Action.ADOPT, Action.DELETE)


def render_markdown(plan: Plan) -> str:
    lines = [f"### misp-reconcile plan for `{plan.instance}`", "", f"**{summary(plan)}**", ""]
    by_kind = plan.counts_by_kind()
    if by_kind:
        lines += ["| kind | " + " | ".join(a.value for a in ACTIONS) + " |",
                  "|---|" + "---:|" * len(ACTIONS)]
        for kind, counts in by_kind.items():
            lines.append(f"| {kind} | " + " | ".join(str(counts.get(a.value, 0)) for a in ACTIONS) + " |")
        lines.append("")
    deletes = [c for c in plan.changes if c.action is Action.DELETE]
    if deletes:
        lines += ["> [!WARNING]", f"> This plan **deletes {len(deletes)} object(s)**:"]
        lines += [f"> - `{c.address}` — {c.reason}" for c in deletes]
        lines.append("")
    for change in plan.changes:
        title = f"{SYMBOL[change.action]} <code>{change.address}</code> — {change.action.value}"
        body = [show_field(f) for f in change.fields] or [change.reason or "no field changes"]
        lines += ["<details>", f"<summary>{title}</summary>", "", "```", *body, "```", "", "</details>"]
    if plan.notes:
        lines += ["", *(f"- note: {n}" for n in plan.notes)]
    return REDACTOR.scrub("\n".join(lines)) + "\n"
