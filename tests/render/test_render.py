"""Renderers are pure: exact text for a known plan, and secrets never shown."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from reconciler.model.address import Address
from reconciler.plans.change import UNSET, Action, Change, FieldChange
from reconciler.plans.plan import Plan
from reconciler.render.json import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_change, render_plan

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text())


def sample_plan() -> Plan:
    return Plan(instance="training", manifest_hash="abc", changes=[
        Change(Address("organisations", "CIRCL"), Action.CREATE,
               (FieldChange("name", UNSET, "CIRCL"), FieldChange("local", UNSET, True))),
        Change(Address("roles", "Analyst"), Action.UPDATE, (FieldChange("perms", ["tagger"], ["sighting"]),),
               misp_id="7"),
        Change(Address("servers", "hub"), Action.UPDATE, (FieldChange("authkey", UNSET, "{env: K}", secret=True),)),
        Change(Address("tags", "old"), Action.DELETE, reason="created by this tool and no longer declared"),
    ])


def test_update_shows_only_the_changed_field() -> None:
    change = Change(Address("roles", "Analyst"), Action.UPDATE, (FieldChange("perms.tagger", False, True),))
    assert render_change(change) == ['  ~ roles["Analyst"]', "      perms.tagger: false → true"]


def test_text_plan_has_symbols_summary_and_masks_secrets() -> None:
    text = render_plan(sample_plan())
    assert '  + organisations["CIRCL"]' in text
    assert '      name: "CIRCL"' in text
    assert '  - tags["old"]  (created by this tool and no longer declared)' in text
    assert "authkey: (secret)" in text
    assert "{env: K}" not in text
    assert text.endswith("Plan: 1 to create, 2 to update, 0 to adopt, 1 to delete.")


def test_empty_plan_says_no_changes() -> None:
    assert render_plan(Plan(instance="x")).endswith("No changes. MISP matches the manifests.")


def test_markdown_has_summary_table_delete_warning_and_details() -> None:
    text = render_markdown(sample_plan())
    assert "| organisations | 1 | 0 | 0 | 0 |" in text
    assert "> [!WARNING]" in text and '`tags["old"]`' in text
    assert text.count("<details>") == 4
    assert "{env: K}" not in text


def test_json_plan_matches_its_schema_and_hides_secrets() -> None:
    document = json.loads(render_json(sample_plan()))
    jsonschema.validate(document, SCHEMA)
    assert document["summary"] == {"create": 1, "update": 2, "delete": 1, "adopt": 0}
    secret = document["changes"][2]["fields"][0]
    assert secret == {"path": "authkey", "secret": True, "changed": True}
