"""Generated manifests converge: apply, then plan is empty; change the manifest, apply again, plan is empty."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine.helpers import Workspace

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 -", min_size=3, max_size=20).map(str.strip).filter(
    lambda s: len(s) >= 3)
PERMS = ["tagger", "sighting", "tag_editor", "sharing_group", "delegate", "galaxy_editor", "analyst_data", "audit"]


@st.composite
def manifests(draw: Any) -> dict[str, Any]:
    org_names = draw(st.lists(NAME.map(lambda n: f"Org {n}"), min_size=1, max_size=4, unique_by=str.casefold))
    orgs = [{"name": name, "local": draw(st.booleans()),
             "sector": draw(st.sampled_from(["", "Government", "Financial", "Health"])),
             "restricted_to_domain": draw(st.lists(st.sampled_from(["a.example", "b.example", "c.example"]),
                                                   unique=True, max_size=2))}
            for name in org_names]
    roles = [{"name": f"Role {n}", "permission": draw(st.sampled_from(["read_only", "manage_own", "manage_org",
                                                                        "publish"])),
              "perms": draw(st.lists(st.sampled_from(PERMS), unique=True, max_size=4))}
             for n in draw(st.lists(NAME, min_size=1, max_size=3, unique_by=str.casefold))]
    role_names = [r["name"] for r in roles] + ["User", "Read Only"]
    users = [{"email": f"u{i}@{draw(st.sampled_from(['x.example', 'y.example']))}",
              "org": draw(st.sampled_from(org_names)), "role": draw(st.sampled_from(role_names)),
              "disabled": draw(st.booleans()), "nids_sid": draw(st.integers(1_000_000, 9_999_999))}
             for i in range(draw(st.integers(0, 4)))]
    tags = [{"name": f"gen:{n.replace(' ', '-')}", "colour": draw(st.sampled_from(["#112233", "#AABBCC", "#ff0000"])),
             "exportable": draw(st.booleans())}
            for n in draw(st.lists(NAME, max_size=3, unique_by=str.casefold))]
    return {"organisations": orgs, "roles": roles, "users": users, "tags": tags}


def converge(ws: Workspace, manifest: dict[str, Any]) -> None:
    ws.write("generated.yaml", yaml.safe_dump(manifest, sort_keys=False))
    applied = ws.apply()
    assert applied.result is None or applied.result.ok, [o.error for o in applied.result.outcomes if o.error]
    plan = ws.plan().plan
    assert plan.is_empty(), [(c.action.value, str(c.address), [f.path for f in c.fields]) for c in plan.actionable]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=manifests(), second=manifests())
def test_generated_manifests_converge_and_changes_converge(first: dict[str, Any], second: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        converge(ws, first)
        converge(ws, second)  # a different manifest: creates, updates and prunes, then nothing left to do
