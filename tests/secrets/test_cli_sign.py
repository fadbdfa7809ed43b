"""`misp-reconcile sign`: a signature an instance requiring approvals accepts, for exactly these manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli.main import cli
from reconciler.manifest.load import load
from reconciler.signing import check_manifest_approvals
from tests.secrets.conftest import Keys

MANIFEST = "organisations:\n  - {name: CIRCL, local: true}\n"


@pytest.fixture
def manifests(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "m"
    path.mkdir()
    (path / "orgs.yaml").write_text(MANIFEST)
    (tmp_path / "approvers.asc").write_text(keys.alice.public + keys.bob.public)
    return path


def approvals(manifests: Path) -> tuple[bool, tuple[str, ...]]:
    desired, _ = load([manifests])
    result = check_manifest_approvals(desired.manifest_hash, manifests, manifests.parent / "approvers.asc", 1)
    return result.approved, result.approvers


def test_sign_writes_an_approval_into_the_signatures_dir(manifests: Path, keys: Keys) -> None:
    result = CliRunner().invoke(cli, ["sign", str(manifests), "--key", keys.alice.fingerprint,
                                      "--gpg-home", str(keys.alice.home)])
    assert result.exit_code == 0, result.output
    assert (manifests / ".signatures" / f"{keys.alice.fingerprint}.asc").exists()
    assert approvals(manifests) == (True, (keys.alice.fingerprint,))


def test_a_change_after_signing_is_not_approved(manifests: Path, keys: Keys) -> None:
    CliRunner().invoke(cli, ["sign", str(manifests), "--key", keys.alice.fingerprint,
                             "--gpg-home", str(keys.alice.home)])
    (manifests / "orgs.yaml").write_text(MANIFEST.replace("true", "false"))
    assert approvals(manifests) == (False, ())


def test_sign_to_a_named_file(manifests: Path, keys: Keys, tmp_path: Path) -> None:
    out = tmp_path / "sig" / "bob.asc"
    result = CliRunner().invoke(cli, ["sign", str(manifests), "--key", "bob@example.org",
                                      "--gpg-home", str(keys.bob.home), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("-----BEGIN PGP SIGNATURE-----")
    assert not (manifests / ".signatures").exists()


def test_unknown_key_is_an_error(manifests: Path, gnupg_home: Path) -> None:
    result = CliRunner().invoke(cli, ["sign", str(manifests), "--key", "nobody@example.org",
                                      "--gpg-home", str(gnupg_home)])
    assert result.exit_code == 1 and "could not sign with key nobody@example.org" in result.output
    assert not (manifests / ".signatures").exists()


def test_invalid_manifests_are_not_signed(manifests: Path, keys: Keys) -> None:
    (manifests / "orgs.yaml").write_text("organisations:\n  - {name: CIRCL, colour: red}\n")
    result = CliRunner().invoke(cli, ["sign", str(manifests), "--key", keys.alice.fingerprint,
                                      "--gpg-home", str(keys.alice.home)])
    assert result.exit_code == 1 and "Not signed" in result.output
    assert not (manifests / ".signatures").exists()


def test_missing_passphrase_variable(manifests: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGN_PASS", raising=False)
    result = CliRunner().invoke(cli, ["sign", str(manifests), "--key", keys.alice.fingerprint,
                                      "--gpg-home", str(keys.alice.home), "--passphrase-env", "SIGN_PASS"])
    assert result.exit_code == 1 and "SIGN_PASS is not set" in result.output
