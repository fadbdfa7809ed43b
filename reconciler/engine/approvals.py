"""policy.require_signatures, anchored in the state so that the policy cannot sign itself away.

The approvers' keyring sits beside the manifests it guards. Were it trusted as found, one unreviewed commit
could swap the keyring for the author's own key, or delete the policy, and sign its own change. So the state
pins the approvers of the last signed apply (keys, not paths), and every later manifest set must be approved
by them as well as by the approvers it declares. Changing the keyring, lowering `min` or dropping the policy
therefore needs the signatures of the approvers in force before the change; the next apply pins the new ones.
The first signed apply of an instance pins whatever it declares (trust on first use: say so in review).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.signing import (
    SigningError,
    armored_keys,
    check_manifest_approvals,
    keyring_fingerprints,
    read_keyring,
)

if TYPE_CHECKING:
    from reconciler.manifest.desired import Desired
    from reconciler.state import StateStore


class NotApproved(Exception):
    """The manifests lack the signatures a policy in force asks for. The message says whose and how many."""


@dataclass(frozen=True, slots=True)
class Approvers:
    keyring: bytes  # armored public keys
    min: int
    source: str  # where this requirement comes from, for messages and the audit log


def in_force(desired: Desired, state: StateStore, instance: str) -> list[Approvers]:
    """The approver sets whose signatures this manifest set needs: the declared ones and the pinned ones. When
    they are the same keys and count, the declared keyring alone is used (the same keys, perhaps refreshed
    with a later expiry: a key's material cannot be changed without its secret key)."""
    pinned = state.approvers(instance)
    declared = desired.policy.require_signatures
    required: list[Approvers] = []
    if declared is not None:
        keyring = read_keyring(desired.base_dir / declared.keyring)
        required.append(Approvers(keyring, declared.min,
                                  f"policy.require_signatures ({declared.keyring}, min {declared.min})"))
        if pinned is not None and pinned.min == declared.min and keyring_fingerprints(keyring) == pinned.fingerprints:
            return required
    if pinned is not None:
        required.append(Approvers(pinned.keyring.encode(), pinned.min,
                                  f"the approvers pinned by the last signed apply ({len(pinned.fingerprints)} "
                                  f"key(s), min {pinned.min})"))
    return required


def check(desired: Desired, state: StateStore, instance: str) -> dict[str, object] | None:
    """Every approver set in force must approve this manifest set's hash (`misp-reconcile sign`). Returns
    what the audit log records, or None when no signatures are required."""
    try:
        required = in_force(desired, state, instance)
        results = [(approvers, check_manifest_approvals(desired.manifest_hash, desired.base_dir,
                                                        approvers.keyring, approvers.min))
                   for approvers in required]
    except SigningError as exc:
        raise NotApproved(f"cannot check the approvers' signatures: {exc}") from None
    if not results:
        return None
    for approvers, result in results:
        if not result.approved:
            details = "; ".join(r.describe() for r in result.results) or "no signature in .signatures/"
            raise NotApproved(f"the manifests are not approved by {approvers.source}: {result.describe()} "
                              f"({details}). Sign them with `misp-reconcile sign --key KEYID`, after review.")
    fingerprints = sorted({fp for _, result in results for fp in result.approvers})
    return {"approved": True, "approvers": fingerprints,
            "checks": [{"required_by": approvers.source, **result.as_json()} for approvers, result in results]}


def pin(desired: Desired, state: StateStore, instance: str, run_id: int | None) -> dict[str, object] | None:
    """After an approved apply: pin the declared approvers (or unpin, when the approved manifests dropped the
    policy). Returns the audit record of a change, None when nothing changed."""
    declared = desired.policy.require_signatures
    pinned = state.approvers(instance)
    if declared is None:
        if pinned is not None and state.unpin_approvers(instance):
            return {"kind": "approvers", "key": instance, "action": "unpin", "fingerprints": list(pinned.fingerprints)}
        return None
    keyring, fingerprints = armored_keys(desired.base_dir / declared.keyring)
    if pinned is not None and (pinned.keyring, pinned.fingerprints, pinned.min) == (keyring, fingerprints, declared.min):
        return None
    state.pin_approvers(instance, keyring, fingerprints, declared.min, run_id)
    return {"kind": "approvers", "key": instance, "action": "pin", "fingerprints": list(fingerprints),
            "min": declared.min}
