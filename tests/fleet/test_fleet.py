"""Fleets against three in-process sandboxes: plan, apply, connection tests, convergence, link removal,
bad input and the key canary."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli

EXAMPLE = Path(__file__).parents[2] / "examples" / "fleet"


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(EXAMPLE, target)
    return target


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def fleet_cmd(command: str, fleet_dir: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    return invoke("fleet", command, str(fleet_dir / "fleet.yaml"), "--state-dir", str(tmp_path / "state"), *extra)


def server_keys(state: Path) -> list[str]:
    keys = []
    for db in state.glob("*/*.sandbox.db"):
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            table = next(t for t in tables if t in ("servers", "server"))
            keys += [str(r[0]) for r in conn.execute(f"SELECT authkey FROM {table}")]
    return keys


def test_example_validates_plans_applies_and_converges(fleet_dir: Path, tmp_path: Path) -> None:
    code, out = invoke("fleet", "validate", str(fleet_dir / "fleet.yaml"))
    assert code == 0, out
    assert "3 instances, 2 links: valid" in out
    code, out = fleet_cmd("plan", fleet_dir, tmp_path, "--detailed-exitcode")
    assert code == 2, out
    assert '+ servers["hub"]' in out and 'auth_keys["sync-member-b@hub.example.org/fleet link member-b"]' in out
    code, out = fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")
    assert code == 0, out
    assert "link member-a → hub: connection OK" in out
    assert "link member-b → hub: connection OK" in out
    code, out = fleet_cmd("plan", fleet_dir, tmp_path, "--detailed-exitcode")
    assert code == 0, out
    assert out.count("No changes.") == 3


def test_removing_a_link_plans_its_removal_on_both_ends(fleet_dir: Path, tmp_path: Path) -> None:
    assert fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")[0] == 0
    text = (fleet_dir / "fleet.yaml").read_text()
    (fleet_dir / "fleet.yaml").write_text(text[:text.index("  # member-b pulls")])
    code, out = fleet_cmd("plan", fleet_dir, tmp_path, "--detailed-exitcode")
    assert code == 2, out
    hub = out[out.index("== instance hub"):out.index("== instance member-a")]
    member_b = out[out.index("== instance member-b"):]
    assert '- users["sync-member-b@hub.example.org"]' in hub
    assert '- auth_keys["sync-member-b@hub.example.org/fleet link member-b"]' in hub
    assert '- servers["hub"]' in member_b
    assert "sync-member-a" not in hub.split("Plan:")[0].replace("Plan for", "")
    code, out = fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")
    assert code == 0, out
    assert fleet_cmd("plan", fleet_dir, tmp_path, "--detailed-exitcode")[0] == 0


def test_no_key_value_in_any_plan_state_or_output(fleet_dir: Path, tmp_path: Path) -> None:
    outputs = [fleet_cmd("plan", fleet_dir, tmp_path)[1], fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")[1],
               fleet_cmd("plan", fleet_dir, tmp_path)[1]]
    keys = server_keys(tmp_path / "state")
    assert len(keys) == 2 and all(len(k) == 40 for k in keys)
    for key in keys:
        assert all(key not in out for out in outputs)
        for path in (tmp_path / "state").rglob("*"):
            if path.is_file() and ".sandbox.db" not in path.name:  # MISP's own database holds the key
                assert key.encode() not in path.read_bytes(), path
        for path in fleet_dir.rglob("*"):
            if path.is_file():
                assert key not in path.read_text()


@pytest.mark.parametrize(("edit", "message"), [
    (("to: hub\n    pull: true\n    push: false", "to: member-a\n    pull: true\n    push: false"),
     "cannot link to itself"),
    (("to: hub\n    pull: true\n    push: false", "to: hubb\n    pull: true\n    push: false"),
     "no such instance"),
    (("manifests: hub\n", "manifests: hub\n    url: https://hub.example.org\n    key: abcdefabcdef\n"),
     "a secret is written as a reference"),
    (("role: Sync user}\n    pull_rules:\n      tags: {OR: [\"tlp:clear\", \"tlp:green\"]}\n  # member-b",
      "role: User}\n    pull_rules:\n      tags: {OR: [\"tlp:clear\", \"tlp:green\"]}\n  # member-b"),
     "needs perm_sync"),
])
def test_bad_input_is_a_clear_error_and_nothing_is_written(fleet_dir: Path, tmp_path: Path,
                                                           edit: tuple[str, str], message: str) -> None:
    path = fleet_dir / "fleet.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    for command in ("validate", "plan", "apply"):
        extra = ["--auto-approve"] if command == "apply" else []
        code, out = (invoke("fleet", "validate", str(path)) if command == "validate" else
                     fleet_cmd(command, fleet_dir, tmp_path, *extra))
        assert code == 1, out
        assert message in out
        assert f"{path}:" in out  # file:line:col
    assert not list((tmp_path / "state").glob("*/*.db"))


def test_push_without_filter_and_push_loops_warn(fleet_dir: Path, tmp_path: Path) -> None:
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text() + """  - from: hub
    to: member-b
    push: true
    sync_user: {email: sync-hub@member-b.example.org}
""")
    code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert code == 0, out
    assert "without any filter" in out
    assert "push to each other" in out


def test_a_local_server_lost_gets_a_fresh_key_from_its_remote(fleet_dir: Path, tmp_path: Path) -> None:
    import asyncio

    import httpx

    from reconciler.engine.targets import sandbox_db_url
    from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app

    assert fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")[0] == 0

    async def delete_servers() -> None:
        app = create_app(sandbox_db_url(tmp_path / "state" / "member-a", "member-a"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox",
                                     headers={"Authorization": DEFAULT_ADMIN_KEY, "Accept": "application/json",
                                              "Content-Type": "application/json"}) as client:
            for row in (await client.get("/servers/index")).json():
                assert (await client.post(f"/servers/delete/{row['Server']['id']}")).status_code == 200

    asyncio.run(delete_servers())
    code, out = fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")
    assert code == 0, out
    assert "link member-a → hub: connection OK" in out
    assert fleet_cmd("plan", fleet_dir, tmp_path, "--detailed-exitcode")[0] == 0


def test_a_derived_object_the_manifests_declare_too_is_an_error(fleet_dir: Path, tmp_path: Path) -> None:
    (fleet_dir / "member-a" / "servers.yaml").write_text(
        "servers:\n  - {name: hub, url: 'https://hub.example.org', remote_org: X, authkey: {env: K}}\n")
    code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert code == 1, out
    assert "derives servers['hub'] on member-a" in out and "servers.yaml:" in out


def test_a_push_rule_tag_declared_nowhere_is_refused(fleet_dir: Path, tmp_path: Path) -> None:
    """The fleet check warns; the pushing instance's plan refuses it (a push rule naming a tag that exists
    nowhere would filter nothing — issue 6's bad input)."""
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text().replace('NOT: ["member-b:internal"]', 'NOT: ["member-b:intrenal"]'))
    code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert code == 1, out
    assert "names tag 'member-b:intrenal'" in out and "neither declared under `tags:`" in out
    assert "push_rules names tag 'member-b:intrenal', declared on neither member-b nor hub" in out  # the fleet's own


def test_a_remote_below_the_local_requirement_warns(fleet_dir: Path, tmp_path: Path) -> None:
    path = fleet_dir / "member-a" / "member-a.yaml"
    path.write_text(path.read_text().replace("  name: member-a\n", "  name: member-a\n  requires: '>=2.6'\n"))
    _code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert "hub runs MISP 2.5.1, below what member-a requires (>=2.6)" in out, out


def test_declining_the_hub_stops_before_the_members(fleet_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["fleet", "apply", str(fleet_dir / "fleet.yaml"), "--state-dir",
                                      str(tmp_path / "state")], input="n\n")
    assert result.exit_code == 1, result.output
    assert "stopped:" in result.output and "hub: not applied" in result.output
    assert "member-a: applied" not in result.output
    code, out = fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")
    assert code == 0, out
    assert out.count("connection OK") == 2


def test_an_instance_overlay_is_merged(fleet_dir: Path, tmp_path: Path) -> None:
    overlay = fleet_dir / "member-a" / "overlays" / "prod"
    overlay.mkdir(parents=True)
    (overlay / "tags.yaml").write_text('tags:\n  - {name: "member-a:prod", colour: "#000000"}\n')
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text().replace("    manifests: member-a\n", "    manifests: member-a\n    env: prod\n"))
    code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert code == 0, out
    member_a = out[out.index("== instance member-a"):out.index("== instance member-b")]
    assert '+ tags["member-a:prod"]' in member_a


def test_a_real_instance_cannot_link_to_a_sandbox(fleet_dir: Path) -> None:
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text().replace(
        "    manifests: member-a\n", "    manifests: member-a\n    url: https://a.example.org\n    key: {env: A_KEY}\n"))
    code, out = invoke("fleet", "validate", str(path))
    assert code == 1, out
    assert "cannot reach an in-process sandbox" in out and f"{path}:" in out


@pytest.mark.parametrize(("perms", "ok"), [("[sync, auth]", True), ("[tagger]", False)])
def test_a_custom_sync_role_must_grant_sync(fleet_dir: Path, tmp_path: Path, perms: str, ok: bool) -> None:
    (fleet_dir / "hub" / "roles.yaml").write_text(
        f"roles:\n  - {{name: Fleet sync, permission: publish, perms: {perms}}}\n")
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text().replace("sync-member-a@hub.example.org, role: Sync user",
                                             "sync-member-a@hub.example.org, role: Fleet sync"))
    code, out = fleet_cmd("apply", fleet_dir, tmp_path, "--auto-approve")
    if ok:
        assert code == 0, out
        assert "link member-a → hub: connection OK" in out
    else:
        assert code == 1, out
        assert "sync user role 'Fleet sync' does not grant sync" in out


def test_rule_orgs_known_on_neither_end_are_refused(fleet_dir: Path, tmp_path: Path) -> None:
    path = fleet_dir / "fleet.yaml"
    path.write_text(path.read_text().replace('NOT: ["member-b:internal"]}',
                                             'NOT: ["member-b:internal"]}\n      orgs: {OR: [hub host org, Nobody Inc]}'))
    code, out = fleet_cmd("plan", fleet_dir, tmp_path)
    assert code == 1, out  # the linked remote's org may be named; an org known nowhere is refused
    assert "names organisation 'Nobody Inc'" in out
    assert "push_rules names organisation 'Nobody Inc', declared on neither member-b nor hub" in out
    assert "names organisation 'hub host org'" not in out
