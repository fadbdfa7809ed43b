"""The engine uses the PGP and signing libraries: bad users' keys stop the plan, unsigned manifests are refused
when signatures are required, approved ones apply and the audit log records who approved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from reconciler.engine.run import Refusal
from reconciler.signing import manifest_payload, sign_detached
from tests.engine.helpers import Workspace
from tests.secrets.conftest import Keys

USERS = """
organisations:
  - {name: Key Org}
users:
  - email: alice@example.org
    org: Key Org
    pgp_key: {file: alice.asc}
"""


def test_an_expired_users_key_stops_the_plan_and_a_valid_one_plans_its_digest(tmp_path: Path, keys: Keys) -> None:
    ws = Workspace(tmp_path)
    ws.write("users.yaml", USERS)
    ws.write("alice.asc", keys.expired.public)
    planned = ws.plan()
    assert "pgp-key" in [d.code for d in planned.diagnostics]
    ws.write("alice.asc", keys.alice.public)
    planned = ws.plan()
    assert not planned.diagnostics.has_errors()
    from reconciler.render.text import render_plan

    text = render_plan(planned.plan)
    # The fingerprint and expiry, never the armor (the key was made with a one-year lifetime).
    assert f"pgp_key: (PGP key {keys.alice.fingerprint} (expires 20" in text
    assert "BEGIN PGP" not in text
    ws.apply()
    assert ws.plan().plan.is_empty()


def test_signatures_required_refuse_unsigned_manifests_and_accept_approved_ones(tmp_path: Path, keys: Keys) -> None:
    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", "organisations:\n  - {name: Signed Org}\n")
    ws.write("approvers.asc", keys.alice.public + keys.bob.public)
    ws.write("policy.yaml", "policy:\n  require_signatures: {keyring: approvers.asc, min: 1}\n")
    with pytest.raises(Refusal, match="not approved"):
        ws.plan()
    desired = ws.load()
    signature = sign_detached(manifest_payload(desired.manifest_hash), keys.alice.fingerprint, keys.alice.home)
    (ws.manifests / ".signatures").mkdir()
    (ws.manifests / ".signatures" / "alice.asc").write_text(signature)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    from reconciler.engine import run

    state = run.open_state(ws.load(), ws.options())
    records = [r.record for r in state.audit("sandbox")]
    assert any(r.get("kind") == "signatures" and keys.alice.fingerprint in r.get("approvers", []) for r in records)
    ws.write("orgs.yaml", "organisations:\n  - {name: Signed Org}\n  - {name: Sneaked In}\n")
    with pytest.raises(Refusal, match="not approved"):
        asyncio.run(run.plan(ws.load(), ws.options()))


def test_a_saved_plan_applies_only_with_an_approvers_signature(tmp_path: Path, keys: Keys) -> None:
    from click.testing import CliRunner

    from reconciler.cli.main import cli

    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", "organisations:\n  - {name: Planned Org}\n")
    ws.write("approvers.asc", keys.alice.public)
    ws.write("policy.yaml", "policy:\n  require_signatures: {keyring: approvers.asc, min: 1}\n")
    desired = ws.load()
    signature = sign_detached(manifest_payload(desired.manifest_hash), keys.alice.fingerprint, keys.alice.home)
    (ws.manifests / ".signatures").mkdir()
    (ws.manifests / ".signatures" / "alice.asc").write_text(signature)
    runner = CliRunner()
    saved = tmp_path / "plan.json"
    state = ["--state-dir", str(ws.state_dir)]
    # Signed by someone outside the approvers' keyring: refused, nothing applied.
    made = runner.invoke(cli, ["plan", str(ws.manifests), *state, "-o", str(saved), "--sign", keys.bob.fingerprint,
                               "--gpg-home", str(keys.bob.home)])
    assert made.exit_code == 0, made.output
    refused = runner.invoke(cli, ["apply", str(saved), *state])
    assert refused.exit_code == 1 and "not signed by an approver" in refused.output
    # Signed by an approver: applies, and the audit log names the signer.
    made = runner.invoke(cli, ["plan", str(ws.manifests), *state, "-o", str(saved), "--sign", keys.alice.fingerprint,
                               "--gpg-home", str(keys.alice.home)])
    assert made.exit_code == 0, made.output
    applied = runner.invoke(cli, ["apply", str(saved), *state])
    assert applied.exit_code == 0, applied.output
    from reconciler.engine import run

    records = [r.record for r in run.open_state(ws.load(), ws.options()).audit("sandbox")]
    assert any(r.get("kind") == "plan-signature" and r.get("fingerprint") == keys.alice.fingerprint for r in records)


def test_a_changed_key_shows_both_fingerprints_and_the_warning_for_one_expiring_soon(tmp_path: Path,
                                                                                     keys: Keys) -> None:
    from reconciler.render.text import render_plan

    ws = Workspace(tmp_path)
    ws.write("users.yaml", USERS)
    ws.write("alice.asc", keys.alice.public)
    ws.apply()
    ws.write("alice.asc", keys.soon.public)
    planned = ws.plan()
    text = render_plan(planned.plan)
    assert f"pgp_key: (PGP key {keys.alice.fingerprint} (expires " in text
    assert f"→ (PGP key {keys.soon.fingerprint} (expires " in text
    assert "BEGIN PGP" not in text
    warnings = [d.message for d in planned.diagnostics if d.code == "pgp-key-warning"]
    assert any("expires soon" in w for w in warnings) and any("alice@example.org" in w for w in warnings)


def test_a_commit_signed_by_an_approver_approves_the_manifests_it_holds(tmp_path: Path, keys: Keys) -> None:
    from tests.secrets.test_signing import git

    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", "organisations:\n  - {name: Committed Org}\n")
    ws.write("approvers.asc", keys.alice.public)
    ws.write("policy.yaml", "policy:\n  require_signatures: {keyring: approvers.asc, min: 1}\n")
    git(ws.manifests, "init", "-q")
    git(ws.manifests, "add", ".")
    git(ws.manifests, "-c", f"user.signingkey={keys.alice.fingerprint}", "commit", "-S", "-q", "-m", "reviewed",
        home=keys.alice.home)
    applied = ws.apply()  # no detached signature: the signed commit is the approval
    assert applied.result is not None and applied.result.ok
    from reconciler.engine import run

    records = [r.record for r in run.open_state(ws.load(), ws.options()).audit("sandbox")]
    checks = [c for r in records if r.get("kind") == "signatures" for c in r["checks"]]  # type: ignore[attr-defined]
    assert any(s["source"].startswith("git commit ") and s["fingerprint"] == keys.alice.fingerprint
               for c in checks for s in c["signatures"])
    # A change made after the signed commit is nobody's approval.
    ws.write("orgs.yaml", "organisations:\n  - {name: Committed Org}\n  - {name: Uncommitted Org}\n")
    with pytest.raises(Refusal, match="uncommitted changes"):
        ws.plan()
    # Committed without a signature: refused, and said so.
    git(ws.manifests, "add", ".")
    git(ws.manifests, "commit", "-q", "-m", "unreviewed")
    with pytest.raises(Refusal, match="commit is not signed"):
        ws.plan()


def test_a_users_key_is_fetched_from_the_instances_keyserver(tmp_path: Path, keys: Keys,
                                                             hkp: tuple[str, list[dict[str, list[str]]]]) -> None:
    from reconciler.render.text import render_plan

    url, seen = hkp
    ws = Workspace(tmp_path)
    ws.write("users.yaml", f"""
        instance: {{keyserver: "{url}"}}
        organisations: [{{name: Key Org}}]
        users:
          - {{email: alice@example.org, org: Key Org, pgp_key: {{keyserver: true}}}}
          - {{email: nobody@example.org, org: Key Org, pgp_key: {{keyserver: true}}}}
    """)
    planned = ws.plan()
    assert [q["search"] for q in seen] == [["alice@example.org"], ["nobody@example.org"]]
    errors = [d for d in planned.diagnostics if d.code == "pgp-key"]
    assert [e.path for e in errors] == ['users["nobody@example.org"].pgp_key']
    assert "has no key for nobody@example.org" in errors[0].message
    assert f"(PGP key {keys.alice.fingerprint} (expires " in render_plan(planned.plan)
