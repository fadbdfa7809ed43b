"""The signature policy cannot sign itself away: the state pins the approvers of the last signed apply, and a
change that swaps the keyring, lowers `min` or drops the policy needs their signatures too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.engine import run
from reconciler.engine.run import Refusal
from reconciler.signing import manifest_payload, sign_detached
from tests.engine.helpers import Workspace
from tests.secrets.conftest import GpgKey, Keys

POLICY = "policy:\n  require_signatures: {keyring: approvers.asc, min: %d}\n"


def sign_as(ws: Workspace, *signers: GpgKey) -> None:
    """Signatures by these keys over the manifests as they are now (older signatures removed)."""
    folder = ws.manifests / ".signatures"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.asc"):
        old.unlink()
    digest = ws.load().manifest_hash
    for n, key in enumerate(signers):
        (folder / f"{n}.asc").write_text(sign_detached(manifest_payload(digest), key.fingerprint, key.home))


def audit_records(ws: Workspace) -> list[dict[str, object]]:
    return [r.record for r in run.open_state(ws.load(), ws.options()).audit("sandbox")]


@pytest.fixture
def signed(tmp_path: Path, keys: Keys) -> Workspace:
    """An instance whose last apply was approved by Alice, the only approver."""
    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", "organisations:\n  - {name: Pinned Org}\n")
    ws.write("approvers.asc", keys.alice.public)
    ws.write("policy.yaml", POLICY % 1)
    sign_as(ws, keys.alice)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    pinned = run.open_state(ws.load(), ws.options()).approvers("sandbox")
    assert pinned is not None and pinned.fingerprints == (keys.alice.fingerprint,) and pinned.min == 1
    return ws


def test_a_swapped_keyring_needs_the_pinned_approvers(signed: Workspace, keys: Keys) -> None:
    ws = signed
    ws.write("approvers.asc", keys.bob.public)  # Bob makes himself the approver, and signs his change
    ws.write("orgs.yaml", "organisations:\n  - {name: Pinned Org}\n  - {name: Bob's Org}\n")
    sign_as(ws, keys.bob)
    with pytest.raises(Refusal, match="not approved by the approvers pinned"):
        ws.plan()
    sign_as(ws, keys.bob, keys.alice)  # reviewed and approved by Alice as well: the change goes through
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    pinned = run.open_state(ws.load(), ws.options()).approvers("sandbox")
    assert pinned is not None and pinned.fingerprints == (keys.bob.fingerprint,)
    assert any(r.get("kind") == "approvers" and r.get("action") == "pin"
               and r.get("fingerprints") == [keys.bob.fingerprint] for r in audit_records(ws))
    # From now on Bob guards it: Alice alone no longer suffices.
    ws.write("orgs.yaml", "organisations:\n  - {name: Pinned Org}\n")
    sign_as(ws, keys.alice)
    with pytest.raises(Refusal, match="not approved"):
        ws.plan()


def test_dropping_the_policy_needs_the_pinned_approvers_then_unpins(signed: Workspace, keys: Keys) -> None:
    ws = signed
    (ws.manifests / "policy.yaml").unlink()
    with pytest.raises(Refusal, match="pinned by the last signed apply"):
        ws.plan()
    sign_as(ws, keys.bob)  # not an approver
    with pytest.raises(Refusal):
        ws.plan()
    sign_as(ws, keys.alice)
    applied = ws.apply()  # nothing to change in MISP: the policy change alone takes effect
    assert applied.result is None and not applied.planned.diagnostics.has_errors()
    assert run.open_state(ws.load(), ws.options()).approvers("sandbox") is None
    assert any(r.get("kind") == "approvers" and r.get("action") == "unpin" for r in audit_records(ws))
    (ws.manifests / ".signatures" / "0.asc").unlink()
    assert asyncio.run(run.plan(ws.load(), ws.options())).plan.is_empty()  # no signature needed any more


def test_lowering_min_needs_as_many_signatures_as_before(tmp_path: Path, keys: Keys) -> None:
    ws = Workspace(tmp_path)
    ws.write("orgs.yaml", "organisations:\n  - {name: Two Approvers Org}\n")
    ws.write("approvers.asc", keys.alice.public + keys.bob.public)
    ws.write("policy.yaml", POLICY % 2)
    sign_as(ws, keys.alice, keys.bob)
    assert ws.apply().result is not None
    ws.write("policy.yaml", POLICY % 1)
    sign_as(ws, keys.alice)
    with pytest.raises(Refusal, match=r"1 of 2 required"):
        ws.plan()
    sign_as(ws, keys.alice, keys.bob)
    ws.apply()
    pinned = run.open_state(ws.load(), ws.options()).approvers("sandbox")
    assert pinned is not None and pinned.min == 1


def test_state_show_names_the_pinned_approvers_and_unpinning_needs_force(signed: Workspace, keys: Keys) -> None:
    runner = CliRunner()
    where = ["--state-dir", str(signed.state_dir)]
    shown = runner.invoke(cli, ["state", "show", *where])
    assert shown.exit_code == 0 and keys.alice.fingerprint in shown.output
    refused = runner.invoke(cli, ["state", "unpin-approvers", *where])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert run.open_state(signed.load(), signed.options()).approvers("sandbox") is not None
    done = runner.invoke(cli, ["state", "unpin-approvers", "--force", *where])
    assert done.exit_code == 0, done.output
    assert run.open_state(signed.load(), signed.options()).approvers("sandbox") is None
    assert any(r.get("by") == "state unpin-approvers --force" for r in audit_records(signed))
