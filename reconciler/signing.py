"""Signed changes: detached signatures over a manifest set's hash or a saved plan, and signed git commits.

Verification runs in a throwaway GnuPG home holding only the approvers' keyring, so a signature counts only
when its key is in that keyring, whatever the operator's own keyring trusts.

What is signed for a manifest set is `manifest_payload(hash)`, a line naming what it is, not the bare
hash: a signature made for one purpose (a plan, a commit, an e-mail) can never pass for another.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import gnupg

from reconciler.pgp import throwaway_gpg

SIGNATURES_DIR = ".signatures"  # <manifest dir>/.signatures/*.asc, one approver per file


class SigningError(Exception):
    """Signing was impossible (no such secret key, wrong passphrase) or the approvers' keyring is unusable."""


@dataclass(frozen=True, slots=True)
class VerificationResult:
    valid: bool
    fingerprint: str | None  # the signer's primary key fingerprint: who approved
    status: str  # GnuPG's word for it: "signature valid", "signature bad", "no public key", …
    signer: str = ""  # the key's user id, for the audit log
    signed_at: datetime | None = None
    source: str = ""  # which signature file or commit this was

    def describe(self) -> str:
        who = f"{self.fingerprint} ({self.signer})" if self.fingerprint else "unknown key"
        return f"{self.source or 'signature'}: {self.status}, {who}"

    def as_json(self) -> dict[str, object]:
        """For the audit log: who approved, or why a signature did not count."""
        return {"valid": self.valid, "fingerprint": self.fingerprint, "status": self.status,
                "signer": self.signer, "source": self.source,
                "signed_at": self.signed_at.isoformat() if self.signed_at else None}


@dataclass(frozen=True, slots=True)
class ApprovalResult:
    required: int
    approvers: tuple[str, ...]  # distinct fingerprints of valid signatures, sorted
    results: tuple[VerificationResult, ...] = field(default=())

    @property
    def approved(self) -> bool:
        return len(self.approvers) >= self.required

    def describe(self) -> str:
        return f"{len(self.approvers)} of {self.required} required approver signature(s)"

    def as_json(self) -> dict[str, object]:
        return {"approved": self.approved, "required": self.required, "approvers": list(self.approvers),
                "signatures": [result.as_json() for result in self.results]}


def manifest_payload(manifest_hash: str) -> bytes:
    """The bytes signed for a manifest set (see the module docstring for why not the bare hash)."""
    return f"misp-reconciler manifest-set sha256:{manifest_hash}\n".encode()


def plan_payload(plan_bytes: bytes) -> bytes:
    return b"misp-reconciler plan\n" + plan_bytes


def sign_detached(data: bytes, keyid: str, gpg_home: str | Path | None, *, passphrase: str | None = None) -> str:
    """An armored detached signature by `keyid` from the operator's keyring (gpg-agent or a passphrase)."""
    gpg = gnupg.GPG(gnupghome=str(gpg_home)) if gpg_home else gnupg.GPG()
    result = gpg.sign(data, keyid=keyid, detach=True, passphrase=passphrase, binary=False)
    if not result.data:
        raise SigningError(f"GnuPG could not sign with key {keyid} ({result.status or 'no secret key'})")
    return bytes(result.data).decode("ascii")


def read_keyring(keyring: Path) -> bytes:
    try:
        return keyring.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the approvers' keyring {keyring}: {exc.strerror}") from None


@contextmanager
def approvers_gpg(keyring: Path | bytes) -> Iterator[gnupg.GPG]:
    """A throwaway GnuPG home holding exactly the approvers' keys (a keyring file, or its armored keys as
    the state pinned them)."""
    keys = read_keyring(keyring) if isinstance(keyring, Path) else keyring
    with throwaway_gpg() as gpg:
        if not gpg.import_keys(keys).fingerprints:
            where = f" {keyring}" if isinstance(keyring, Path) else ""
            raise SigningError(f"the approvers' keyring{where} holds no PGP public key")
        yield gpg


def keyring_fingerprints(keyring: Path | bytes) -> tuple[str, ...]:
    """The primary fingerprints an approvers' keyring holds, sorted: what a state store can pin, so that a
    change swapping the keyring (it sits beside the manifests it guards) can be noticed."""
    with approvers_gpg(keyring) as gpg:
        return primary_fingerprints(gpg)


def armored_keys(keyring: Path | bytes) -> tuple[str, tuple[str, ...]]:
    """The approvers' public keys re-exported as armored text (what a state pins), and their fingerprints."""
    with approvers_gpg(keyring) as gpg:
        fingerprints = primary_fingerprints(gpg)
        return str(gpg.export_keys(list(fingerprints), armor=True)), fingerprints


def primary_fingerprints(gpg: gnupg.GPG) -> tuple[str, ...]:
    return tuple(sorted(key["fingerprint"] for key in gpg.list_keys()))


def verify_with(gpg: gnupg.GPG, data: bytes, signature: str | bytes, source: str) -> VerificationResult:
    sig_path = Path(gpg.gnupghome) / "candidate.sig"
    sig_path.write_bytes(signature.encode() if isinstance(signature, str) else signature)
    result = gpg.verify_data(str(sig_path), data)
    if len(result.sig_info) > 1:
        # python-gnupg reports only the last of several; judge one signature per file, never a mix.
        return VerificationResult(False, None, "several signatures in one file", source=source)
    signed_at = datetime.fromtimestamp(int(result.sig_timestamp), UTC) if result.sig_timestamp else None
    fingerprint = result.pubkey_fingerprint or result.fingerprint
    return VerificationResult(bool(result.valid), fingerprint if result.valid else None,
                              result.status or "not a signature", signer=result.username or "",
                              signed_at=signed_at, source=source)


def verify_detached(data: bytes, signature: str | bytes, keyring_path: Path) -> VerificationResult:
    with approvers_gpg(keyring_path) as gpg:
        return verify_with(gpg, data, signature, "signature")


def check_approvals(data: bytes, signatures: Sequence[str | bytes | Path], keyring: Path | bytes,
                    min: int) -> ApprovalResult:  # `min` is the policy's own word (require_signatures.min)
    """Count distinct approvers with a valid signature over `data`. Two signatures by one key count once."""
    with approvers_gpg(keyring) as gpg:
        return tally(verify_all(gpg, data, signatures), min)


def verify_all(gpg: gnupg.GPG, data: bytes, signatures: Sequence[str | bytes | Path]) -> list[VerificationResult]:
    results = []
    for index, signature in enumerate(signatures):
        if isinstance(signature, Path):
            source, signature = str(signature), signature.read_bytes()
        else:
            source = f"signature {index + 1}"
        results.append(verify_with(gpg, data, signature, source))
    return results


def tally(results: Sequence[VerificationResult], min: int) -> ApprovalResult:
    approvers = sorted({r.fingerprint for r in results if r.valid and r.fingerprint})
    return ApprovalResult(required=min, approvers=tuple(approvers), results=tuple(results))


def signature_files(manifest_dir: Path) -> list[Path]:
    return sorted((manifest_dir / SIGNATURES_DIR).glob("*.asc"))


def check_manifest_approvals(manifest_hash: str, manifest_dir: Path, keyring: Path | bytes,
                             min: int) -> ApprovalResult:
    """What `policy.require_signatures` asks: enough approvers signed this manifest set, each either with a
    detached signature over its hash (`sign`) or by signing the git commit that holds it."""
    with approvers_gpg(keyring) as gpg:  # one GnuPG home for both kinds of signature
        results = verify_all(gpg, manifest_payload(manifest_hash), signature_files(manifest_dir))
        if in_git_work_tree(manifest_dir):
            results.append(commit_verdict(gpg, manifest_dir, "HEAD"))
    return tally(results, min)


def in_git_work_tree(path: Path) -> bool:
    """False when `path` is not in a repository, or in one without any commit yet."""
    done = subprocess.run(["git", "-C", str(path), "rev-parse", "--verify", "-q", "HEAD"],
                          capture_output=True, check=False)
    return done.returncode == 0


def sign_plan(plan_bytes: bytes, keyid: str, gpg_home: str | Path | None, *, passphrase: str | None = None) -> str:
    return sign_detached(plan_payload(plan_bytes), keyid, gpg_home, passphrase=passphrase)


def verify_plan(plan_bytes: bytes, signature: str | bytes, keyring: Path) -> VerificationResult:
    with approvers_gpg(keyring) as gpg:
        return verify_with(gpg, plan_payload(plan_bytes), signature, "plan signature")


# git's %G? letters (git-log(1), "Placeholders"): G good, U good with unknown validity. Validity is GnuPG's
# web of trust, which means nothing in a home holding only the approvers' keys: being there is the trust.
GIT_GOOD = {"G", "U"}
GIT_STATUS = {"B": "signature bad", "X": "signature expired", "Y": "signing key has expired",
              "R": "signing key was revoked", "E": "no public key", "N": "commit is not signed"}


def verify_git_commit(repo_dir: Path, keyring: Path | bytes, *, rev: str = "HEAD") -> VerificationResult:
    """Whether `rev` is signed by an approver, and the work tree under `repo_dir` holds exactly that commit
    (uncommitted or untracked files would be applied without having been signed)."""
    with approvers_gpg(keyring) as gpg:
        return commit_verdict(gpg, repo_dir, rev)


def commit_verdict(gpg: gnupg.GPG, repo_dir: Path, rev: str) -> VerificationResult:
    env = {**os.environ, "GNUPGHOME": gpg.gnupghome}
    fields = git(repo_dir, env, "log", "-1", "--format=%G?%n%GP%n%GF%n%GS%n%H", rev).split("\n")
    # Detached signatures (.signatures/) are added after the commit: they are not content to be signed.
    dirty = git(repo_dir, env, "status", "--porcelain", "--", ".", f":(exclude){SIGNATURES_DIR}")
    letter, primary, signing_key, signer, commit = (fields + [""] * 5)[:5]
    source = f"git commit {commit[:12] or rev}"
    if letter not in GIT_GOOD:
        return VerificationResult(False, None, GIT_STATUS.get(letter, f"git says {letter!r}"), source=source)
    if dirty.strip():
        return VerificationResult(False, None, "the work tree has uncommitted changes, which nobody signed",
                                  source=source)
    return VerificationResult(True, primary or signing_key, "signature valid", signer=signer, source=source)


def git(repo_dir: Path, env: dict[str, str], *args: str) -> str:
    # gpg.format=openpgp: a user's ssh-signing setting must not change what we verify.
    command = ["git", "-c", "gpg.format=openpgp", "-c", "gpg.program=gpg", "-C", str(repo_dir), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SigningError(f"git {args[0]} failed in {repo_dir}: {done.stderr.strip()}")
    return done.stdout.rstrip("\n")
