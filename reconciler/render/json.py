"""The plan as JSON, following schemas/plan.schema.json (format_version in the document)."""

from __future__ import annotations

import json

from reconciler.diags import Diagnostic
from reconciler.model.secrets import REDACTOR
from reconciler.plans.plan import Plan


def render_json(plan: Plan, diagnostics: list[Diagnostic] | None = None) -> str:
    document = plan.as_json()
    if diagnostics:
        document["diagnostics"] = [d.as_json() for d in diagnostics]
    return REDACTOR.scrub(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False)) + "\n"
