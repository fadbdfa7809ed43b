"""The state, audit and runs commands, through click's test runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from reconciler.cli.main import cli
from reconciler.state import OwnedObject, StateStore, migrate
from reconciler.state.db import create_engine
from tests.state.conftest import sqlite_url


def invoke(*args: str) -> Result:
    # Wide enough that tables never wrap an address, whatever the COLUMNS of the terminal running pytest.
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture
def filled(state_url: str) -> str:
    """A state with an owned user, one finished apply and its journal and audit records."""
    store = StateStore.open(state_url)
    store.set_lineage("prod", "misp-uuid-1")
    store.own("prod", OwnedObject(kind="users", key="alice@x.org", misp_id="12", uuid="u-12",
                                  fields=frozenset({"email", "role"}), fingerprint="{}"))
    run_id = store.start_run("prod", command="apply", who="alice", host="ci-1", git_commit="c0ffee",
                             plan_hash="p" * 64)
    op = store.journal_intent(run_id, "users", "alice@x.org", "create", {})
    store.journal_sent(op, "req-abc")
    store.journal_confirmed(op, misp_id="12", uuid="u-12")
    store.audit_append("prod", run_id, {"kind": "users", "key": "alice@x.org", "action": "create",
                                        "status": "ok", "request_ids": ["req-abc"]})
    store.finish_run(run_id, outcome="ok", counts={"create": 1})
    store.close()
    return state_url


def test_state_list_and_show(filled: str) -> None:
    listed = invoke("state", "list", "--state-url", filled, "--instance", "prod", "--format", "json")
    text = invoke("state", "list", "--state-url", filled, "--instance", "prod")
    one = invoke("state", "show", 'users["alice@x.org"]', "--state-url", filled, "--instance", "prod",
                 "--format", "json")
    summary = invoke("state", "show", "--state-url", filled, "--instance", "prod", "--format", "json")

    assert [(o["kind"], o["key"], o["misp_id"], o["fields"]) for o in json.loads(listed.output)] == [
        ("users", "alice@x.org", "12", ["email", "role"])]
    assert 'users["alice@x.org"]' in text.output and "email, role" in text.output
    assert json.loads(one.output)["uuid"] == "u-12"
    data = json.loads(summary.output)
    assert (data["misp_uuid"], data["owned"], data["lock"], data["revision"], data["instances"]) == (
        "misp-uuid-1", {"users": 1}, None, migrate.head_revision(), ["prod"])


def test_state_show_refuses_a_bad_or_unknown_address(filled: str) -> None:
    bad = invoke("state", "show", "alice", "--state-url", filled, "--instance", "prod")
    unknown = invoke("state", "show", 'users["bob@x.org"]', "--state-url", filled, "--instance", "prod")

    assert bad.exit_code == 1 and 'kind["key"]' in bad.stderr
    assert unknown.exit_code == 1 and "not owned" in unknown.stderr


def test_unlock_needs_force_and_names_the_removed_holder(filled: str) -> None:
    store = StateStore.open(filled)
    with store.lock("prod", who="alice", host="ci-1", pid=99):
        refused = invoke("state", "unlock", "--state-url", filled, "--instance", "prod")
        still = store.lock_holder("prod")
        forced = invoke("state", "unlock", "--force", "--state-url", filled, "--instance", "prod")
        gone = store.lock_holder("prod")
    store.close()

    assert refused.exit_code == 1 and "--force" in refused.stderr and still is not None
    assert forced.exit_code == 0 and "alice@ci-1 (pid 99)" in forced.output and gone is None


def test_audit_verify_passes_then_fails_after_tampering(filled: str) -> None:
    ok = invoke("audit", "verify", "--state-url", filled, "--instance", "prod")
    engine = create_engine(filled)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit SET body = '{\"action\":\"delete\"}' WHERE seq = 1"))
    engine.dispose()
    broken = invoke("audit", "verify", "--state-url", filled, "--instance", "prod")
    as_json = invoke("audit", "verify", "--state-url", filled, "--instance", "prod", "--format", "json")

    assert ok.exit_code == 0 and "verified: 1 records, head 1:" in ok.output
    assert broken.exit_code == 1 and "record 1: its content does not match its hash" in broken.stderr
    assert as_json.exit_code == 1 and json.loads(as_json.output)["ok"] is False


def test_audit_show_and_export(filled: str, tmp_path: Path) -> None:
    shown = invoke("audit", "show", "--state-url", filled, "--instance", "prod", "--format", "json")
    table = invoke("audit", "show", "--state-url", filled, "--instance", "prod")
    out = tmp_path / "audit.jsonl"
    exported = invoke("audit", "export", "--jsonl", "-o", str(out), "--state-url", filled, "--instance", "prod")

    assert [r["record"]["key"] for r in json.loads(shown.output)] == ["alice@x.org"]
    assert 'users["alice@x.org"]' in table.output
    assert exported.exit_code == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["hash"] == json.loads(shown.output)[0]["hash"]


def test_runs_list_and_show(filled: str) -> None:
    listed = invoke("runs", "--state-url", filled, "--instance", "prod", "--format", "json")
    (run,) = json.loads(listed.output)
    text = invoke("runs", "list", "--state-url", filled, "--instance", "prod")
    shown = invoke("runs", "show", str(run["id"]), "--state-url", filled, "--format", "json")
    missing = invoke("runs", "show", "999", "--state-url", filled)

    assert (run["who"], run["git_commit"], run["outcome"], run["counts"]) == ("alice", "c0ffee", "ok",
                                                                              {"create": 1})
    assert "alice@ci-1" in text.output and "1 create" in text.output
    data = json.loads(shown.output)
    assert [(op["key"], op["status"], op["request_id"]) for op in data["operations"]] == [
        ("alice@x.org", "confirmed", "req-abc")]
    assert len(data["audit"]) == 1
    assert missing.exit_code == 1 and "no run 999" in missing.stderr


def test_runs_show_takes_request_ids_from_the_audit_when_the_journal_has_none(state_url: str) -> None:
    """The engine journals `sent` before it knows MISP's request id; the audit record carries them."""
    store = StateStore.open(state_url)
    run_id = store.start_run("prod", command="apply", who="a", host="h")
    op = store.journal_intent(run_id, "roles", "Analyst", "update", {})
    store.journal_sent(op, "")
    store.journal_confirmed(op, misp_id="5")
    store.audit_append("prod", run_id, {"kind": "roles", "key": "Analyst", "request_ids": ["rq-1", "rq-2"]})
    store.close()

    shown = invoke("runs", "show", str(run_id), "--state-url", state_url)

    assert shown.exit_code == 0
    assert "rq-1 rq-2" in shown.output


def test_an_unreachable_database_is_a_message_not_a_traceback() -> None:
    url = "postgresql+psycopg://someone:hunter2-secret@127.0.0.1:1/nothing"

    result = invoke("state", "show", "--state-url", url)

    assert result.exit_code == 1
    assert "cannot open the state database postgresql+psycopg://someone:***@127.0.0.1:1/nothing" in result.stderr
    assert "hunter2" not in result.stderr + result.output


def test_export_import_and_migrate_to_move_a_state(filled: str, tmp_path: Path) -> None:
    dump = tmp_path / "state.jsonl"
    exported = invoke("state", "export", "-o", str(dump), "--state-url", filled)
    copy = sqlite_url(tmp_path, "copy")
    imported = invoke("state", "import", str(dump), "--state-url", copy)
    again = invoke("state", "import", str(dump), "--state-url", copy)
    moved = sqlite_url(tmp_path, "moved")
    migrated = invoke("state", "migrate", "--state-url", filled, "--to", moved)

    assert exported.exit_code == 0
    assert imported.exit_code == 0 and "audit of 'prod': verified" in imported.output
    assert again.exit_code == 1 and "already holds state" in again.stderr
    assert migrated.exit_code == 0 and "audit of 'prod': verified" in migrated.output
    for url in (copy, moved):
        listed = invoke("state", "list", "--state-url", url, "--instance", "prod", "--format", "json")
        assert [o["key"] for o in json.loads(listed.output)] == ["alice@x.org"]


def test_migrate_upgrades_an_old_database(state_url: str) -> None:
    engine = create_engine(state_url)
    migrate.upgrade(engine, "0001")
    engine.dispose()

    first = invoke("state", "migrate", "--state-url", state_url)
    second = invoke("state", "migrate", "--state-url", state_url)

    assert first.exit_code == 0 and "schema 0001 → 0003" in first.output
    assert "already up to date" in second.output


def test_default_state_file_comes_from_instance_and_state_dir(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    missing = invoke("state", "list")
    created = invoke("state", "migrate", "--instance", "lab")
    listed = invoke("state", "list", "--instance", "lab", "--format", "json")

    assert missing.exit_code == 1 and "no state at state/sandbox.db" in missing.stderr
    assert created.exit_code == 0 and (tmp_path / "state" / "lab.db").exists()
    assert (listed.exit_code, json.loads(listed.output)) == (0, [])


def test_audit_verify_checks_pins(filled: str) -> None:
    head = json.loads(invoke("audit", "verify", "--state-url", filled, "--instance", "prod", "--format",
                             "json").output)
    good = invoke("audit", "verify", "--state-url", filled, "--instance", "prod", "--pin", f"1:{head['head']}")
    bad = invoke("audit", "verify", "--state-url", filled, "--instance", "prod", "--pin", f"1:{'0' * 64}")
    malformed = invoke("audit", "verify", "--state-url", filled, "--instance", "prod", "--pin", "1:abc")

    assert good.exit_code == 0
    assert bad.exit_code == 1 and "differs from the one pinned" in bad.stderr
    assert malformed.exit_code == 2 and "is not SEQ:SHA256" in malformed.stderr
