"""Saved plans: `plan -o plan.json`, then `apply plan.json`. Versioned; holds no secret.

Apply re-plans and requires the same changes (same objects, actions, fields and live fingerprints), the
same manifest hash and the same MISP instance, before the expiry. Anything else means the world moved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconciler.plans.plan import FORMAT_VERSION, Plan

DEFAULT_VALIDITY = timedelta(days=7)


class PlanFileError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SavedPlan:
    instance: str
    manifest_hash: str
    misp_uuid: str | None
    changes_hash: str
    expires_at: datetime
    paths: tuple[str, ...]
    env: str | None
    document: dict[str, Any]

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at


def plan_document(plan: Plan, *, paths: list[str], env: str | None,
                  validity: timedelta = DEFAULT_VALIDITY) -> dict[str, Any]:
    document = plan.as_json()
    document["saved"] = {
        "changes_hash": plan.changes_hash(),
        "expires_at": (datetime.now(UTC) + validity).isoformat(timespec="seconds"),
        "paths": paths, "env": env,
    }
    return document


def write_plan(path: Path, plan: Plan, *, paths: list[str], env: str | None,
               validity: timedelta = DEFAULT_VALIDITY) -> bytes:
    data = (json.dumps(plan_document(plan, paths=paths, env=env, validity=validity), indent=2,
                       ensure_ascii=False) + "\n").encode()
    path.write_bytes(data)
    return data


def read_plan(path: Path) -> SavedPlan:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanFileError(f"cannot read saved plan {path}: {exc}") from None
    if document.get("format_version") != FORMAT_VERSION or "saved" not in document:
        raise PlanFileError(f"{path} is not a saved plan of format {FORMAT_VERSION}")
    saved = document["saved"]
    return SavedPlan(
        instance=document["instance"], manifest_hash=document["manifest_hash"],
        misp_uuid=document.get("misp_uuid"), changes_hash=saved["changes_hash"],
        expires_at=datetime.fromisoformat(saved["expires_at"]), paths=tuple(saved.get("paths", [])),
        env=saved.get("env"), document=document)
