"""The templates kind through MISP's web pages, end to end against the sandbox: HTML index and view pages,
the add/edit/delete forms with their tokens, elements over AJAX."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.targets import sandbox_db_url
from reconciler.sandbox import create_app
from reconciler.sandbox.resources.templates import BUILT_IN
from tests.canaries import CANARIES
from tests.engine.helpers import Workspace

ROOT = Path(__file__).parents[2]

TAGS = """
tags:
  - {name: "tlp:green"}
  - {name: "tlp:amber"}
"""

TEMPLATES = """
templates:
  - name: Incident
    description: An incident report
    share: true
    tags: ["tlp:green"]
    elements:
      - {text: {name: Summary, text: What happened}}
      - {attribute: {name: Source, category: Network activity, type: ip-src, to_ids: true}}
      - {file: {name: Sample, category: Payload delivery, malware: true}}
  - name: Short
    description: Short one
"""


def summary(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.kind, c.key) for c in ws.plan().plan.actionable if c.kind == "templates"]


def applied_ok(ws: Workspace) -> None:
    applied = ws.apply()
    assert applied.result is not None, "nothing applied"
    assert applied.result.ok, [(o.change.address, o.error) for o in applied.result.outcomes if o.status != "ok"]


def stored(ws: Workspace, instance: str = "sandbox") -> dict[str, dict[str, object]]:
    """Every template in the sandbox's database: description, share, tag names, elements in position order."""
    store = create_app(sandbox_db_url(ws.state_dir, instance)).state.store
    out: dict[str, dict[str, object]] = {}
    tables = {"text": "template_element_texts", "attribute": "template_element_attributes",
              "file": "template_element_files"}
    with store.transaction():
        for row in store.all("templates"):
            tags = sorted((store.get("tags", t["tag_id"]) or {}).get("name") or ""
                          for t in store.find("template_tags", template_id=row["id"]))
            elements = []
            for e in sorted(store.find("template_elements", template_id=row["id"]), key=lambda e: e["position"]):
                sub = store.first(tables[e["element_definition"]], template_element_id=e["id"]) or {}
                elements.append((e["element_definition"], sub.get("name"), sub.get("category"), sub.get("type")))
            out[row["name"]] = {"id": row["id"], "description": row["description"], "share": row["share"],
                                "org": row["org"], "tags": tags, "elements": elements}
    return out


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def test_training_example_template_applies_and_replans_empty(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISP_TRAINING_HUB_KEY", CANARIES.get("training-hub-key", key=True))
    ws = Workspace(tmp_path)
    shutil.copytree(ROOT / "examples" / "training", ws.manifests)
    assert summary(ws) == [("create", "templates", "Phishing report")]
    applied = ws.apply()
    assert applied.result is not None
    mine = [o for o in applied.result.outcomes if o.change.kind == "templates"]
    assert len(mine) == 1 and mine[0].status == "ok", [o.error for o in mine]
    assert summary(ws) == []
    template = stored(ws, "training")["Phishing report"]
    assert template["description"] == "Reported phishing e-mail" and template["share"] == 1
    assert template["tags"] == ['training:incident-classification="phishing"']
    assert template["elements"] == [("text", "Summary", None, None),
                                    ("attribute", "Sender", "Payload delivery", "email-src"),
                                    ("file", "Sample", "Payload delivery", None)]


def test_apply_replan_empty_and_built_ins_untouched(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    before = stored(ws)
    assert sorted(summary(ws)) == [("create", "templates", "Incident"), ("create", "templates", "Short")]
    applied_ok(ws)
    assert summary(ws) == []
    after = stored(ws)
    assert after["Incident"]["elements"] == [("text", "Summary", None, None),
                                             ("attribute", "Source", "Network activity", "ip-src"),
                                             ("file", "Sample", "Payload delivery", None)]
    assert after["Incident"]["tags"] == ["tlp:green"]
    for name, _description in BUILT_IN:
        assert after[name] == before[name]


def test_changed_description_plans_exactly_that_field(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    ws.write("templates.yaml", TEMPLATES.replace("An incident report", "A better incident report"))
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [(c.action.value, c.key) for c in changes] == [("update", "Incident")]
    assert [(f.path, f.before, f.after) for f in changes[0].fields] == [
        ("description", "An incident report", "A better incident report")]
    elements_before = stored(ws)["Incident"]["elements"]
    applied_ok(ws)
    assert summary(ws) == []
    after = stored(ws)["Incident"]
    assert after["description"] == "A better incident report" and after["elements"] == elements_before


def test_drift_made_in_misp_is_repaired(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    with ws.misp_db() as store:
        row = store.first("templates", name="Incident")
        assert row is not None
        store.update("templates", row["id"], {"share": 0})
        store.delete("template_tags", template_id=row["id"])
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [sorted(f.path for f in c.fields) for c in changes] == [["share", "tags"]]
    applied_ok(ws)
    assert summary(ws) == []
    assert stored(ws)["Incident"]["tags"] == ["tlp:green"]


def test_reordered_and_changed_elements_converge(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    reordered = TEMPLATES.replace(
        "      - {text: {name: Summary, text: What happened}}\n", "").replace(
        "      - {file: {name: Sample, category: Payload delivery, malware: true}}\n",
        "      - {file: {name: Sample, category: Payload delivery, malware: true}}\n"
        "      - {text: {name: Summary, text: What happened}}\n")
    ws.write("templates.yaml", reordered)
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [(c.action.value, c.key) for c in changes] == [("update", "Incident")]
    assert "elements" in {f.path for f in changes[0].fields}
    applied_ok(ws)
    assert summary(ws) == []
    assert stored(ws)["Incident"]["elements"] == [("attribute", "Source", "Network activity", "ip-src"),
                                                  ("file", "Sample", "Payload delivery", None),
                                                  ("text", "Summary", None, None)]
    # a detail of one element (an attribute's type) is planned as exactly that field
    ws.write("templates.yaml", reordered.replace("type: ip-src", "type: ip-dst"))
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [[(f.path, f.before, f.after) for f in c.fields] for c in changes] == [
        [('element_details["1"]["type"]', "ip-src", "ip-dst")]]
    applied_ok(ws)
    assert summary(ws) == []
    elements = stored(ws)["Incident"]["elements"]
    assert isinstance(elements, list) and elements[0] == ("attribute", "Source", "Network activity", "ip-dst")


def test_template_removed_from_manifest_is_deleted_built_ins_stay(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    ws.write("templates.yaml", TEMPLATES.split("  - name: Short")[0])
    assert summary(ws) == [("delete", "templates", "Short")]
    applied_ok(ws)
    assert summary(ws) == []
    names = set(stored(ws))
    assert names == {"Incident"} | {name for name, _ in BUILT_IN}


def test_built_ins_are_never_planned_even_when_authoritative(ws: Workspace) -> None:
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    ws.write("policy.yaml", "policy:\n  authoritative: [templates]\n")
    applied_ok(ws)
    assert summary(ws) == []
    assert {name for name, _ in BUILT_IN} <= set(stored(ws))


def test_a_built_in_edited_in_misp_is_still_left_alone(ws: Workspace) -> None:
    with ws.misp_db() as store:
        store.update("templates", 4, {"org": "ORGNAME", "description": "edited by hand"})
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    ws.write("policy.yaml", "policy:\n  authoritative: [templates]\n")
    applied_ok(ws)
    assert summary(ws) == []
    assert stored(ws)[BUILT_IN[3][0]]["description"] == "edited by hand"


def test_an_element_detail_changed_in_misp_is_drift_of_exactly_that_detail(ws: Workspace) -> None:
    """MISP's element index shows every detail: a category, a flag or a text changed in MISP is read back."""
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    with ws.misp_db() as store:
        attribute = store.first("template_element_attributes", name="Source")
        file = store.first("template_element_files", name="Sample")
        text = store.first("template_element_texts", name="Summary")
        assert attribute is not None and file is not None and text is not None
        store.update("template_element_attributes", attribute["id"], {"category": "Payload delivery"})
        store.update("template_element_files", file["id"], {"mandatory": 1})
        store.update("template_element_texts", text["id"], {"text": "What  <happened> & why"})
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [[(f.path, f.before, f.after) for f in c.fields] for c in changes] == [[
        ('element_details["1"]["text"]', "What  <happened> & why", "What happened"),
        ('element_details["2"]["category"]', "Payload delivery", "Network activity"),
        ('element_details["3"]["mandatory"]', True, False)]]
    applied_ok(ws)
    assert summary(ws) == []
    assert stored(ws)["Incident"]["elements"] == [("text", "Summary", None, None),
                                                  ("attribute", "Source", "Network activity", "ip-src"),
                                                  ("file", "Sample", "Payload delivery", None)]


def test_element_values_with_surrounding_spaces_do_not_drift(ws: Workspace) -> None:
    """MISP's index pads every value; a manifest value with surrounding spaces compares without them."""
    ws.write("templates.yaml", """
        templates:
          - name: Padded
            description: d
            elements:
              - {text: {name: " Intro ", text: "  Multi\\nline  "}}
        """)
    applied_ok(ws)
    assert summary(ws) == []


def drift_description(row: Any, store: Any) -> None:
    store.update("templates", row["id"], {"description": "changed in MISP"})


def drift_share(row: Any, store: Any) -> None:
    store.update("templates", row["id"], {"share": 0})


def drift_tag(row: Any, store: Any) -> None:
    store.insert("template_tags", {"template_id": row["id"], "tag_id": store.first("tags", name="tlp:amber")["id"]})


@pytest.mark.parametrize(("drift", "expected"), [
    (drift_description, ("description", "changed in MISP", "An incident report")),
    (drift_share, ("share", False, True)),
    (drift_tag, ("tags", ["tlp:amber", "tlp:green"], ["tlp:green"])),
], ids=["description", "share", "tag"])
def test_drift_of_one_field_read_from_the_view_page_is_exactly_that_field(
        ws: Workspace, drift: Callable[[Any, Any], None], expected: tuple[str, object, object]) -> None:
    """Description, share flag and tags are read from the view page as MISP 2.5.1 renders it (meta table,
    check icon, tag spans): drift in one of them is planned as exactly that field, and repaired."""
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    with ws.misp_db() as store:
        row = store.first("templates", name="Incident")
        assert row is not None
        drift(row, store)
    changes = [c for c in ws.plan().plan.actionable if c.kind == "templates"]
    assert [(c.key, [(f.path, f.before, f.after) for f in c.fields]) for c in changes] == [("Incident", [expected])]
    applied_ok(ws)
    assert summary(ws) == []
    after = stored(ws)["Incident"]
    assert (after["description"], after["share"], after["tags"]) == ("An incident report", 1, ["tlp:green"])


def test_an_edit_keeps_the_tags_the_manifest_does_not_state(ws: Workspace) -> None:
    """MISP's edit form always posts an empty tag list unless its script fills it: the adapter sends the
    live tags, so changing the description of a template whose tags are not declared keeps them."""
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", "templates:\n  - {name: Loose, description: first}\n")
    applied_ok(ws)
    with ws.misp_db() as store:
        row = store.first("templates", name="Loose")
        amber = store.first("tags", name="tlp:amber")
        assert row is not None and amber is not None
        store.insert("template_tags", {"template_id": row["id"], "tag_id": amber["id"]})
    ws.write("templates.yaml", "templates:\n  - {name: Loose, description: second}\n")
    applied_ok(ws)
    assert summary(ws) == []
    assert (stored(ws)["Loose"]["description"], stored(ws)["Loose"]["tags"]) == ("second", ["tlp:amber"])


def test_templates_past_the_first_index_page_are_read(ws: Workspace) -> None:
    """MISP's index shows 50 templates a page, newest first: the adapter follows the pager."""
    ws.write("tags.yaml", TAGS)
    ws.write("templates.yaml", TEMPLATES)
    applied_ok(ws)
    with ws.misp_db() as store:
        store.insert_many("templates", [{"name": f"by hand {n}", "description": "d", "org": "ORGNAME", "share": 0}
                                        for n in range(55)])
    assert summary(ws) == []  # Incident and Short are now on page 2, still found
    ws.write("templates.yaml", TEMPLATES.replace("Short one", "Shorter"))
    assert summary(ws) == [("update", "templates", "Short")]
