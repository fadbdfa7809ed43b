"""Plan and apply against the sandbox through the real client: convergence, exact drift, MISP's quirks."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from reconciler.plans.change import UNSET as UNSET_VALUE
from reconciler.plans.change import Action
from tests.canaries import CANARIES
from tests.engine.helpers import IDENTITY, Workspace

ROOT = Path(__file__).parents[2]
# Secrets are canaries (tests/canaries.py): 40 alphanumerics, as MISP wants a sync or API key.
HUB_KEY = CANARIES.get("hub-key", key=True)



def summary(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.kind, c.key) for c in ws.plan().plan.actionable]


def fields_of(ws: Workspace) -> list[tuple[str, str, Any, Any]]:
    return [(c.key, f.path, f.before, f.after) for c in ws.plan().plan.actionable for f in c.fields]


async def call(ws: Workspace, method: str, path: str, body: Any = None) -> Any:
    async with ws.misp() as misp:
        response = await misp.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return response.json()


async def find_id(ws: Workspace, path: str, wrapper: str, field: str, value: str) -> str:
    rows = await call(ws, "GET", path)
    rows = rows[wrapper] if isinstance(rows, dict) else [r[wrapper] for r in rows]
    return next(str(r["id"]) for r in rows if str(r[field]).lower() == value.lower())


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    workspace.write("identity.yaml", IDENTITY)
    return workspace


def test_apply_then_plan_is_empty(ws: Workspace) -> None:
    assert ("create", "users", "ana@alpha.example.org") in summary(ws)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    assert ws.plan().plan.is_empty()


def test_training_example_converges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # examples/README.md: the sandbox accepts any 40 alphanumerics
    monkeypatch.setenv("MISP_TRAINING_HUB_KEY", CANARIES.get("training-hub-key", key=True))
    ws = Workspace(tmp_path)
    shutil.copytree(ROOT / "examples" / "training", ws.manifests)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    assert ws.plan().plan.is_empty()


def test_a_change_made_in_misp_shows_as_exactly_that_field(ws: Workspace) -> None:
    ws.apply()
    user_id = asyncio.run(find_id(ws, "/admin/users/index", "User", "email", "ana@alpha.example.org"))
    asyncio.run(call(ws, "POST", f"/admin/users/edit/{user_id}", {"nids_sid": "4999999", "autoalert": True}))
    # autoalert is not stated in the manifest: not managed, so not shown.
    assert fields_of(ws) == [("ana@alpha.example.org", "nids_sid", 4999999, 4100001)]
    ws.apply()
    assert ws.plan().plan.is_empty()


def test_role_update_always_sends_permission(ws: Workspace) -> None:
    """MISP demotes a role to read-only when an edit omits `permission` (roles--crud)."""
    ws.apply()
    ws.write("identity.yaml", IDENTITY.replace("perms: [tagger, sighting]", "perms: [tagger]"))
    assert fields_of(ws) == [("Analyst", "perms", ["sighting", "tagger"], ["tagger"])]
    ws.apply()
    assert ws.plan().plan.is_empty()  # still `publish`: the edit carried permission


def test_tag_update_sends_the_whole_tag(ws: Workspace) -> None:
    """MISP resets omitted fields on a tag edit (tags--crud): changing the colour must keep exportable."""
    ws.apply()
    ws.write("identity.yaml", IDENTITY.replace("#112233", "#445566"))
    assert fields_of(ws) == [("alpha:internal", "colour", "#112233", "#445566")]
    ws.apply()
    assert ws.plan().plan.is_empty()


def test_renamed_organisation_is_matched_by_uuid(ws: Workspace) -> None:
    ws.apply()
    ws.write("identity.yaml", IDENTITY.replace("name: Alpha CERT", "name: Alpha CSIRT")
             .replace("org: Alpha CERT", "org: Alpha CSIRT"))
    changes = ws.plan().plan.actionable
    assert [(c.action, c.key, [f.path for f in c.fields]) for c in changes] == [
        (Action.UPDATE, "Alpha CSIRT", ["name"])]


def test_prune_deletes_only_what_the_tool_created(ws: Workspace) -> None:
    ws.apply()
    asyncio.run(call(ws, "POST", "/admin/organisations/add", {"name": "Made By Hand"}))
    ws.write("identity.yaml", IDENTITY.replace("  - {email: bob@beta.example.org, org: Beta Bank, role: User, "
                                               "disabled: true}\n", ""))
    assert summary(ws) == [("delete", "users", "bob@beta.example.org")]


def test_protect_keeps_an_owned_object(ws: Workspace) -> None:
    ws.apply()
    ws.write("identity.yaml", IDENTITY.replace("  - {name: \"alpha:internal\", colour: \"#112233\", exportable: "
                                               "false}\n", ""))
    ws.write("policy.yaml", "policy: {protect: {tags: ['alpha:internal']}}\n")
    assert summary(ws) == []


def test_max_deletes_refuses_a_larger_plan(ws: Workspace) -> None:
    ws.apply()
    ws.write("identity.yaml", "organisations: []\n")
    ws.write("policy.yaml", "policy: {max_deletes: 1}\n")
    planned = ws.plan()
    assert [d.code for d in planned.diagnostics] == ["too-many-deletes"]
    assert len(ws.plan(allow_deletes=10).plan.actionable) == 6  # 2 orgs, 1 role, 2 users, 1 tag


def test_deleting_the_tools_own_user_is_refused(ws: Workspace) -> None:
    ws.write("admin.yaml", "users:\n  - {email: admin@admin.test, org: ORGNAME, role: admin}\n")
    ws.apply()
    ws.write("admin.yaml", "policy: {authoritative: [users]}\n")
    planned = ws.plan()
    assert "self-lockout" in [d.code for d in planned.diagnostics]
    applied = ws.apply()
    assert applied.result is None  # refused before any write


def test_unresolved_reference_is_an_error_naming_the_place(ws: Workspace) -> None:
    ws.write("more.yaml", "users:\n  - {email: x@example.org, org: Nowhere Org, role: User}\n")
    planned = ws.plan()
    [diag] = [d for d in planned.diagnostics if d.code == "unresolved-reference"]
    assert diag.subject is not None and diag.subject.file.name == "more.yaml" and diag.subject.line == 2
    assert "Nowhere Org" in diag.message


def test_reading_costs_one_request_per_kind(ws: Workspace) -> None:
    ws.apply()
    from reconciler.engine import run

    desired = ws.load()
    client = run.client_for(desired, ws.options())

    async def count() -> int:
        async with client:
            state = run.open_state(desired, ws.options())
            await run.make_plan(desired, client, state, ws.options())
            return client.stats.requests

    # organisations, roles, users, tags + users/view/me + getVersion
    assert asyncio.run(count()) == 6


def test_a_second_apply_waits_for_nothing_when_lock_is_free_and_is_refused_when_held(ws: Workspace) -> None:
    from reconciler.engine import run
    from reconciler.state import LockHeld

    desired = ws.load()
    state = run.open_state(desired, ws.options())
    with state.lock("sandbox", who="someone", host="another-host", pid=1), pytest.raises(LockHeld) as refused:
        ws.apply()
    assert "someone@another-host" in str(refused.value)


def test_taxonomy_tag_selection_uses_addtag_and_disabletag(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("tax.yaml", """
taxonomies:
  - {namespace: PAP, enabled: true, tags: ["PAP:RED", "PAP:AMBER"]}
""")
    ws.apply()
    assert ws.plan().plan.is_empty()
    ws.write("tax.yaml", """
taxonomies:
  - {namespace: PAP, enabled: true, tags: ["PAP:AMBER", "PAP:GREEN"]}
""")
    assert fields_of(ws) == [("PAP", "tags", ["PAP:AMBER", "PAP:RED"], ["PAP:AMBER", "PAP:GREEN"])]
    ws.apply()
    assert ws.plan().plan.is_empty()


def test_a_setting_changed_in_misp_is_drift_of_exactly_that_setting(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("settings.yaml", "settings:\n  MISP.welcome_text_top: Hello\n  MISP.disable_emailing: true\n")
    ws.apply()
    assert ws.plan().plan.is_empty()  # disable_emailing needed `force`: MISP's test refuses it otherwise
    asyncio.run(call(ws, "POST", "/servers/serverSettingsEdit/MISP.welcome_text_top", {"value": "Changed"}))
    assert fields_of(ws) == [("MISP.welcome_text_top", "value", "Changed", "Hello")]


SHARING = """
organisations:
  - {name: Alpha CERT, local: true}
  - {name: Beta Bank, local: false}
  - {name: Gamma Gov, local: false}
sharing_groups:
  - name: Community
    uuid: 9a1f4c4e-8c55-4b2a-9c1e-2d1f3b0c1a11
    releasability: Members only
    organisations:
      - {org: Alpha CERT, extend: true}
      - {org: Beta Bank}
"""


def test_sharing_group_members_change_through_add_and_remove(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("sg.yaml", SHARING)
    ws.apply()
    assert ws.plan().plan.is_empty()
    ws.write("sg.yaml", SHARING.replace("{org: Alpha CERT, extend: true}", "{org: Alpha CERT}")
             .replace("{org: Beta Bank}", "{org: Gamma Gov}"))
    assert fields_of(ws) == [
        ("Community", 'organisations["Alpha CERT"]["extend"]', True, False),
        ("Community", 'organisations["Beta Bank"]', {"extend": False}, UNSET_VALUE),
        ("Community", 'organisations["Gamma Gov"]', UNSET_VALUE, {"extend": False}),
    ]
    ws.apply()
    assert ws.plan().plan.is_empty()


KEYS = """
organisations:
  - {name: Alpha CERT, local: true}
users:
  - {email: sync@alpha.example.org, org: Alpha CERT, role: Sync user}
auth_keys:
  - {user: sync@alpha.example.org, comment: hub link, allowed_ips: [192.0.2.10/32], read_only: true,
     rotate: 1, deliver: {file: OUT}}
"""


def test_auth_key_is_delivered_only_to_its_sink_and_rotates(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    sink = CANARIES.hold(tmp_path / "out" / "hub.key")  # the delivery sink holds the key on purpose
    ws.write("keys.yaml", KEYS.replace("OUT", str(sink)))
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    first = CANARIES.register("delivered-auth-key-1", sink.read_text().strip())  # swept for, from now on
    assert len(first) == 40 and (sink.stat().st_mode & 0o777) == 0o600
    assert ws.plan().plan.is_empty()
    ws.write("keys.yaml", KEYS.replace("OUT", str(sink)).replace("rotate: 1", "rotate: 2"))
    [change] = ws.plan().plan.actionable
    assert [f.path for f in change.fields] == ["rotate"]
    ws.apply()
    second = CANARIES.register("delivered-auth-key-2", sink.read_text().strip())
    assert second != first
    assert ws.plan().plan.is_empty()
    for leftover in (ws.state_dir).glob("*.db"):
        data = leftover.read_bytes()
        assert first.encode() not in data and second.encode() not in data


def test_role_edit_keeps_an_undeclared_rate_limit_count(tmp_path: Path) -> None:
    """MISP resets rate_limit_count to 0 on an edit that omits it (roles--crud): the adapter sends it."""
    ws = Workspace(tmp_path)
    ws.write("roles.yaml", "roles:\n  - {name: Limited, permission: manage_own, perms: [auth]}\n")
    ws.apply()
    role_id = asyncio.run(find_id(ws, "/roles/index", "Role", "name", "Limited"))
    asyncio.run(call(ws, "POST", f"/admin/roles/edit/{role_id}",
                     {"permission": "1", "perm_auth": True, "rate_limit_count": 50}))
    ws.write("roles.yaml", "roles:\n  - {name: Limited, permission: manage_own, perms: [auth, tagger]}\n")
    ws.apply()
    roles = asyncio.run(call(ws, "GET", "/roles/index"))
    [limited] = [r["Role"] for r in roles if r["Role"]["name"] == "Limited"]
    assert limited["rate_limit_count"] == "50" and limited["perm_tagger"] is True


FEEDS = """
tags:
  - {name: "feed:auto", colour: "#123456"}
feeds:
  - {default: Tor exit nodes, enabled: false, distribution: community}
  - {name: Custom, provider: Me, url: "https://feeds.example.org/list.txt", source_format: freetext, tag: "feed:auto",
     distribution: org, rules: {tags: {OR: [tlp:white]}}}
"""


def test_feeds_from_the_catalogue_and_custom_converge_and_one_field_changes_alone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("feeds.yaml", FEEDS)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    assert ws.plan().plan.is_empty()
    feeds = asyncio.run(call(ws, "GET", "/feeds/index"))
    [tor] = [f["Feed"] for f in feeds if f["Feed"]["name"] == "Tor exit nodes"]
    assert tor["source_format"] == "csv" and tor["delta_merge"] is True  # the catalogue's, not REST add's
    ws.write("feeds.yaml", FEEDS.replace("distribution: org", "distribution: connected"))
    assert fields_of(ws) == [("https://feeds.example.org/list.txt", "distribution", "org", "connected")]
    ws.apply()
    assert ws.plan().plan.is_empty()


SERVERS = """
servers:
  - name: hub
    url: https://hub.example.org
    remote_org: {name: Hub Org, uuid: 6b1f7b2e-0d6a-4b2f-8a3c-1f2e3d4c5b6a}
    authkey: {env: HUB_KEY}
    pull: true
    priority: 3
    pull_rules: {tags: {OR: [tlp:white]}}
"""


def test_sync_link_key_is_write_only_and_resent_only_when_its_reference_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KEY", HUB_KEY)
    monkeypatch.setenv("HUB_KEY_2", CANARIES.get("hub-key-2", key=True))
    ws = Workspace(tmp_path)
    ws.write("servers.yaml", SERVERS)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    assert ws.plan().plan.is_empty()  # priority set by an edit after add; the key is not readable, not re-sent
    [server] = [s["Server"] for s in asyncio.run(call(ws, "GET", "/servers/index"))]
    assert server["priority"] == "3" and "authkey" not in server
    orgs = asyncio.run(call(ws, "GET", "/organisations/index/scope:external"))
    assert [o["Organisation"]["uuid"] for o in orgs] == ["6b1f7b2e-0d6a-4b2f-8a3c-1f2e3d4c5b6a"]
    ws.write("servers.yaml", SERVERS.replace("{env: HUB_KEY}", "{env: HUB_KEY_2}"))
    [change] = ws.plan().plan.actionable
    assert [(f.path, f.secret) for f in change.fields] == [("authkey", True)]


def test_a_missing_secret_refuses_the_apply_before_any_write(tmp_path: Path) -> None:
    from reconciler.engine.run import Refusal

    ws = Workspace(tmp_path)
    ws.write("servers.yaml", "organisations:\n  - {name: Early Org}\n" + SERVERS)
    with pytest.raises(Refusal, match="HUB_KEY"):
        ws.apply()
    orgs = asyncio.run(call(ws, "GET", "/organisations/index/scope:all"))
    assert "Early Org" not in [o["Organisation"]["name"] for o in orgs]


def test_saved_plan_applies_exactly_and_a_stale_one_is_refused(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    ws = Workspace(tmp_path)
    ws.write("identity.yaml", IDENTITY)
    runner = CliRunner()
    base = [str(ws.manifests), "--state-dir", str(ws.state_dir)]
    saved = tmp_path / "plan.json"
    assert runner.invoke(cli, ["plan", *base, "-o", str(saved)]).exit_code == 0
    applied = runner.invoke(cli, ["apply", str(saved), "--state-dir", str(ws.state_dir)])
    assert applied.exit_code == 0, applied.output
    assert ws.plan().plan.is_empty()
    # A plan saved now, then MISP changes under it: the object it touches moved, so apply refuses.
    ws.write("identity.yaml", IDENTITY.replace("nids_sid: 4100001", "nids_sid: 4100002"))
    assert runner.invoke(cli, ["plan", *base, "-o", str(saved)]).exit_code == 0
    user_id = asyncio.run(find_id(ws, "/admin/users/index", "User", "email", "ana@alpha.example.org"))
    asyncio.run(call(ws, "POST", f"/admin/users/edit/{user_id}", {"nids_sid": "4999999"}))
    refused = runner.invoke(cli, ["apply", str(saved), "--state-dir", str(ws.state_dir)])
    assert refused.exit_code == 1 and "stale" in refused.output
    # Manifests changed since the plan was saved: refused as well.
    assert runner.invoke(cli, ["plan", *base, "-o", str(saved)]).exit_code == 0
    ws.write("identity.yaml", IDENTITY.replace("nids_sid: 4100001", "nids_sid: 4100003"))
    refused = runner.invoke(cli, ["apply", str(saved), "--state-dir", str(ws.state_dir)])
    assert refused.exit_code == 1 and "different manifests" in refused.output


def test_plan_detailed_exitcode(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    ws = Workspace(tmp_path)
    ws.write("identity.yaml", IDENTITY)
    args = ["plan", str(ws.manifests), "--state-dir", str(ws.state_dir), "--detailed-exitcode"]
    assert CliRunner().invoke(cli, args).exit_code == 2
    ws.apply()
    assert CliRunner().invoke(cli, args).exit_code == 0
    ws.write("broken.yaml", "organisations:\n  - {nmae: x}\n")
    assert CliRunner().invoke(cli, args).exit_code == 1


def test_unreachable_misp_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    monkeypatch.setenv("K", CANARIES.get("unreachable-misp-key", key=True))
    ws = Workspace(tmp_path)
    ws.write("i.yaml", "instance: {name: far, url: 'http://127.0.0.1:9', key: {env: K}}\norganisations:\n  - {name: x}\n")
    result = CliRunner().invoke(cli, ["plan", str(ws.manifests), "--state-dir", str(ws.state_dir)])
    assert result.exit_code == 3 and "cannot reach MISP" in result.output


def test_apply_tests_each_new_sync_link_and_maintenance_mode_is_restored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KEY", HUB_KEY)
    ws = Workspace(tmp_path)
    ws.write("servers.yaml", SERVERS.replace("https://hub.example.org", "http://127.0.0.1:9"))
    applied = ws.apply(maintenance=True)
    assert applied.result is not None and applied.result.ok
    assert applied.notes == ['servers["hub"]: connection unreachable']  # nothing listens on port 9
    live = asyncio.run(call(ws, "GET", "/servers/getSetting/MISP.live"))
    assert live["value"] is True  # MISP.live was false during the apply, and is back
    logs = asyncio.run(call(ws, "GET", "/admin/logs/index/model:Server/action:serverSettingsEdit"))
    assert len(logs) >= 2  # set off, then back on


def test_an_unresolved_member_reference_points_at_the_member(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("sg.yaml", "sharing_groups:\n  - name: S\n    organisations:\n      - {org: ORGNAME}\n"
                        "      - {org: Nowhere}\n")
    [diag] = [d for d in ws.plan().diagnostics if d.code == "unresolved-reference"]
    assert diag.subject is not None and (diag.subject.line, diag.subject.column) == (5, 15)


def test_plan_lists_critical_settings_misp_flags_that_the_manifests_leave_alone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("settings.yaml", "settings:\n  MISP.welcome_text_top: Hello\n  GnuPG.email: misp@example.org\n")
    notes = ws.plan().plan.notes
    assert any(n.startswith("settings['MISP.external_baseurl'] (critical)") for n in notes)
    assert not any("GnuPG.email" in n for n in notes)  # declared: addressed by the manifests


def test_plan_test_connections_reports_each_declared_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KEY", HUB_KEY)
    ws = Workspace(tmp_path)
    ws.write("servers.yaml", SERVERS.replace("https://hub.example.org", "http://127.0.0.1:9"))
    ws.apply()
    planned = ws.plan(test_connections=True)
    assert 'servers["hub"]: connection unreachable' in planned.plan.notes
    assert not any("connection" in n for n in ws.plan().plan.notes)  # only when asked


def test_sync_link_certificates_are_uploaded_and_resent_only_when_the_file_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KEY", HUB_KEY)
    ws = Workspace(tmp_path)
    ws.write("hub-ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    ws.write("servers.yaml", SERVERS + "    ca_file: hub-ca.pem\n")
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    [server] = [s["Server"] for s in asyncio.run(call(ws, "GET", "/servers/index"))]
    assert server["cert_file"] == f"{server['id']}.pem"  # MISP names the file it wrote
    assert ws.plan().plan.is_empty()
    ws.write("hub-ca.pem", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n")
    [change] = ws.plan().plan.actionable
    assert [f.path for f in change.fields] == ["ca_file"]
    ws.write("servers.yaml", SERVERS + "    ca_file: missing.pem\n")
    assert "missing-file" in [d.code for d in ws.plan().diagnostics]


def test_push_rules_are_sent_with_local_ids_and_an_unknown_tag_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KEY", HUB_KEY)
    ws = Workspace(tmp_path)
    tags = 'tags:\n  - {name: "share:hub", colour: "#123456"}\n'
    ws.write("servers.yaml", tags + SERVERS + "    push: true\n    push_rules: {tags: {OR: ['share:hub']}}\n")
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    [server] = [s["Server"] for s in asyncio.run(call(ws, "GET", "/servers/index"))]
    tag_id = asyncio.run(find_id(ws, "/tags/index", "Tag", "name", "share:hub"))
    assert json.loads(server["push_rules"])["tags"]["OR"] == [tag_id]  # MISP matches push rules by local id
    assert ws.plan().plan.is_empty()
    ws.write("servers.yaml", tags + SERVERS + "    push: true\n    push_rules: {tags: {OR: ['no:such-tag']}}\n")
    assert "unresolved-reference" in [d.code for d in ws.plan().diagnostics]


def test_a_csv_feeds_settings_and_headers_secret_are_applied_and_converge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEED_HEADERS", "Authorization: Bearer " + CANARIES.get("feed-bearer"))
    ws = Workspace(tmp_path)
    ws.write("feeds.yaml", """
feeds:
  - {name: Csv, provider: Me, url: "https://feeds.example.org/list.csv", source_format: csv,
     settings: {value: [2, 3], delimiter: ";", exclude_regex: "/^#/"}, headers: {env: FEED_HEADERS}}
""")
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, [o.error for o in applied.result.outcomes]
    [feed] = [f["Feed"] for f in asyncio.run(call(ws, "GET", "/feeds/index")) if f["Feed"]["name"] == "Csv"]
    assert json.loads(feed["settings"])["csv"] == {"value": "2,3", "delimiter": ";"}
    assert ws.plan().plan.is_empty()  # the headers are write-only: not read back, not re-sent
    ws.write("feeds.yaml", (tmp_path / "manifests" / "feeds.yaml").read_text().replace("[2, 3]", "[4]"))
    assert fields_of(ws) == [("https://feeds.example.org/list.csv", 'settings["value"]', [2, 3], [4])]
