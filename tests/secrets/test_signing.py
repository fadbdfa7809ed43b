"""Signed manifest sets, saved plans and git commits, verified against an approvers' keyring only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import cast

import pytest

from reconciler.signing import (
    SigningError,
    check_approvals,
    check_manifest_approvals,
    keyring_fingerprints,
    manifest_payload,
    sign_detached,
    sign_plan,
    verify_detached,
    verify_git_commit,
    verify_plan,
)
from tests.secrets.conftest import GpgKey, Keys

HASH = "ab" * 32


@pytest.fixture
def keyring(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "approvers.asc"
    path.write_text(keys.alice.public + keys.bob.public)
    return path


def sign(key: GpgKey, data: bytes) -> str:
    return sign_detached(data, key.fingerprint, key.home)


def test_good_signature_names_the_approver(keys: Keys, keyring: Path) -> None:
    signature = sign(keys.alice, b"data")
    assert signature.startswith("-----BEGIN PGP SIGNATURE-----")
    result = verify_detached(b"data", signature, keyring)
    assert (result.valid, result.fingerprint, result.status) == (True, keys.alice.fingerprint, "signature valid")
    assert result.signer == "Alice <alice@example.org>" and result.signed_at is not None
    record = result.as_json()
    assert record["fingerprint"] == keys.alice.fingerprint and record["valid"] is True
    assert isinstance(record["signed_at"], str) and record["status"] == "signature valid"


def test_signature_over_other_data_is_bad(keys: Keys, keyring: Path) -> None:
    result = verify_detached(b"data!", sign(keys.alice, b"data"), keyring)
    assert (result.valid, result.fingerprint, result.status) == (False, None, "signature bad")


def test_signer_outside_the_keyring_is_refused(keys: Keys, keyring: Path) -> None:
    result = verify_detached(b"data", sign(keys.sign_only, b"data"), keyring)
    assert (result.valid, result.status) == (False, "no public key")


def test_garbage_signature_is_refused(keyring: Path) -> None:
    result = verify_detached(b"data", "not a signature", keyring)
    assert not result.valid and result.fingerprint is None


def test_keyring_fingerprints(keyring: Path, keys: Keys) -> None:
    assert keyring_fingerprints(keyring) == tuple(sorted([keys.alice.fingerprint, keys.bob.fingerprint]))


def test_unusable_keyring(tmp_path: Path, keys: Keys) -> None:
    signature = sign(keys.alice, b"data")
    with pytest.raises(SigningError, match="cannot read the approvers' keyring"):
        verify_detached(b"data", signature, tmp_path / "missing.asc")
    (tmp_path / "empty.asc").write_text("nothing here")
    with pytest.raises(SigningError, match="holds no PGP public key"):
        verify_detached(b"data", signature, tmp_path / "empty.asc")


def test_signing_with_an_unknown_key_fails(gnupg_home: Path) -> None:
    with pytest.raises(SigningError, match="could not sign with key DEADBEEF"):
        sign_detached(b"data", "DEADBEEF", gnupg_home)


def test_approvals_count_distinct_approvers(keys: Keys, keyring: Path) -> None:
    data = manifest_payload(HASH)
    twice = [sign(keys.alice, data), sign(keys.alice, data)]
    result = check_approvals(data, twice, keyring, 2)
    assert result.approvers == (keys.alice.fingerprint,) and not result.approved
    assert result.describe() == "1 of 2 required approver signature(s)"
    both = check_approvals(data, [sign(keys.alice, data), "junk", sign(keys.bob, data)], keyring, 2)
    assert both.approved and set(both.approvers) == {keys.alice.fingerprint, keys.bob.fingerprint}
    assert [r.valid for r in both.results] == [True, False, True]
    audit = both.as_json()
    assert audit["approved"] is True and audit["required"] == 2
    assert [entry["valid"] for entry in cast(list[dict[str, object]], audit["signatures"])] == [True, False, True]


def test_no_signature_is_not_approved(keyring: Path) -> None:
    result = check_approvals(b"data", [], keyring, 1)
    assert not result.approved and result.approvers == ()


def test_manifest_signatures_from_the_signatures_dir(tmp_path: Path, keys: Keys, keyring: Path) -> None:
    (tmp_path / ".signatures").mkdir()
    (tmp_path / ".signatures" / "alice.asc").write_text(sign(keys.alice, manifest_payload(HASH)))
    approved = check_manifest_approvals(HASH, tmp_path, keyring, 1)
    assert approved.approved and approved.results[0].source.endswith(".signatures/alice.asc")
    changed = check_manifest_approvals("cd" * 32, tmp_path, keyring, 1)
    assert not changed.approved and changed.results[0].status == "signature bad"


def test_plan_signature_and_no_cross_use(keys: Keys, keyring: Path) -> None:
    plan = b'{"format_version": 1, "changes": []}'
    signature = sign_plan(plan, keys.bob.fingerprint, keys.bob.home)
    assert verify_plan(plan, signature, keyring).fingerprint == keys.bob.fingerprint
    assert not verify_plan(plan + b" ", signature, keyring).valid
    # A signature over the raw bytes (made for something else) is not a plan signature.
    assert not verify_plan(plan, sign(keys.bob, plan), keyring).valid
    assert not verify_detached(manifest_payload(HASH), signature, keyring).valid


# -- git commits ------------------------------------------------------------------------------------------
def git(repo: Path, *args: str, home: Path | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    if home is not None:
        env["GNUPGHOME"] = str(home)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.org", *args],
                   env=env, check=True, capture_output=True)


def commit(repo: Path, name: str, signer: GpgKey | None) -> None:
    (repo / name).write_text("organisations: []\n")
    git(repo, "add", name)
    sign_args = ["-c", f"user.signingkey={signer.fingerprint}", "commit", "-S"] if signer else ["commit"]
    git(repo, *sign_args, "-q", "-m", name, home=signer.home if signer else None)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    return path


def test_commit_signed_by_an_approver(repo: Path, keys: Keys, keyring: Path) -> None:
    commit(repo, "a.yaml", keys.alice)
    result = verify_git_commit(repo, keyring)
    assert (result.valid, result.fingerprint) == (True, keys.alice.fingerprint)
    assert result.signer == "Alice <alice@example.org>" and result.source.startswith("git commit ")


def test_unsigned_commit_is_refused(repo: Path, keyring: Path) -> None:
    commit(repo, "a.yaml", None)
    assert verify_git_commit(repo, keyring).status == "commit is not signed"


def test_commit_signed_by_a_stranger_is_refused(repo: Path, keys: Keys, keyring: Path) -> None:
    commit(repo, "a.yaml", keys.sign_only)
    result = verify_git_commit(repo, keyring)
    assert (result.valid, result.status) == (False, "no public key")


def test_uncommitted_changes_are_not_covered(repo: Path, keys: Keys, keyring: Path) -> None:
    commit(repo, "a.yaml", keys.alice)
    (repo / "b.yaml").write_text("users: []\n")
    result = verify_git_commit(repo, keyring)
    assert not result.valid and "uncommitted changes" in result.status


def test_not_a_repository(tmp_path: Path, keyring: Path) -> None:
    with pytest.raises(SigningError, match="git log failed"):
        verify_git_commit(tmp_path, keyring)


def test_one_file_with_two_signatures_is_not_counted(keys: Keys, keyring: Path, gnupg_home: Path) -> None:
    """python-gnupg reports only the last of several signatures; such a file must not count at all."""
    for key in (keys.alice, keys.bob):
        secret = subprocess.run(["gpg", "--homedir", str(key.home), "--batch", "--pinentry-mode", "loopback",
                                 "--passphrase", "", "--export-secret-keys", key.fingerprint],
                                capture_output=True, check=True).stdout
        subprocess.run(["gpg", "--homedir", str(gnupg_home), "--batch", "--import"], input=secret,
                       capture_output=True, check=True)
    data = manifest_payload(HASH)
    both = subprocess.run(["gpg", "--homedir", str(gnupg_home), "--batch", "--pinentry-mode", "loopback",
                           "--passphrase", "", "-u", keys.alice.fingerprint, "-u", keys.bob.fingerprint,
                           "--armor", "--detach-sign"], input=data, capture_output=True, check=True).stdout
    result = check_approvals(data, [both], keyring, 1)
    assert not result.approved and result.results[0].status == "several signatures in one file"
