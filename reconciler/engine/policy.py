"""Deletion safety and self-lockout: the one place that decides what may be removed.

Canonical field names used here: users have `role` (a role name) and `disabled`; roles have `perms`
(flag names without `perm_`); organisations are keyed by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.engine.live import Live
from reconciler.model.address import Address
from reconciler.plans.change import Action, Change

if TYPE_CHECKING:
    from reconciler.manifest.document import Policy


def deletable(policy: Policy, kind: str, key: str, *, owned: bool) -> str | None:
    """The reason an undeclared live object is deleted, or None when it must stay."""
    protected = policy.protect.get(kind, []) if policy.protect else []
    if key in protected or key.casefold() in {p.casefold() for p in protected}:
        return None
    if policy.prune == "authoritative" or kind in (policy.authoritative or []):
        return f"{kind} is authoritative: anything undeclared is removed"
    if policy.prune == "owned" and owned:
        return "created by this tool and no longer declared"
    return None


def role_perms_after(changes: Iterable[Change], live: Live) -> dict[str, Any]:
    """Each role's perms once the plan is applied (a role edit can demote everyone holding it)."""
    perms = {k: r.fields.get("perms") for k, r in live.live("roles").items()}
    for change in changes:
        if change.kind != "roles":
            continue
        if change.action is Action.DELETE:
            perms.pop(change.key, None)
        for changed in change.fields:
            if changed.path == "perms":
                perms[change.key] = changed.after
    return perms


def _grants_site_admin(perms_by_role: dict[str, Any], role_name: Any) -> bool:
    perms = perms_by_role.get(str(role_name)) if role_name is not None else None
    return isinstance(perms, list | tuple) and "site_admin" in perms


@dataclass(slots=True)
class UsersAfter:
    """Each user's role and disabled flag as they would be once the plan is applied."""

    role: dict[str, Any]
    disabled: dict[str, Any]

    @classmethod
    def project(cls, changes: Iterable[Change], live: Live) -> UsersAfter:
        users = live.live("users")
        after = cls({k: u.fields.get("role") for k, u in users.items()},
                    {k: u.fields.get("disabled") for k, u in users.items()})
        for change in changes:
            if change.kind != "users":
                continue
            if change.action is Action.DELETE:
                after.role.pop(change.key, None)
            for changed in change.fields:
                if changed.path == "role":
                    after.role[change.key] = changed.after
                elif changed.path == "disabled":
                    after.disabled[change.key] = changed.after
        return after

    def is_admin(self, perms_by_role: dict[str, Any], key: str) -> bool:
        return key in self.role and self.disabled.get(key) is not True \
            and _grants_site_admin(perms_by_role, self.role[key])


def lockout_problems(changes: list[Change], live: Live) -> list[str]:
    """Plans that would cut the tool off from MISP: refused at plan time, with the object named."""
    if live.me is None:
        return []
    me = live.me
    me_key = next((k for k, u in live.live("users").items() if u.id == me.user_id), None)
    my_org = next((k for k, o in live.live("organisations").items() if o.id == me.org_id), None)
    protected_orgs = {my_org: "the organisation of the tool's own user",
                      live.extra.get("host_org"): "the host organisation"}
    problems = []
    for change in changes:
        if change.action is not Action.DELETE:
            continue
        if change.kind == "users" and change.key == me_key:
            problems.append(f"refusing to delete {change.address}: it is the user whose API key this tool uses")
        if change.kind == "organisations" and change.key in protected_orgs:
            problems.append(f"refusing to delete {change.address}: it is {protected_orgs[change.key]}")
    after = UsersAfter.project(changes, live)
    perms_before = {k: r.fields.get("perms") for k, r in live.live("roles").items()}
    perms_after = role_perms_after(changes, live)
    was_admin = me_key is not None and _grants_site_admin(perms_before,
                                                          live.live("users")[me_key].fields.get("role"))
    if was_admin and me_key in after.role and not after.is_admin(perms_after, me_key):
        problems.append(f"refusing to demote or disable {Address('users', me_key)}: it is the user whose API "
                        "key this tool uses")
    if live.live("users") and live.live("roles") and not any(after.is_admin(perms_after, k) for k in after.role):
        problems.append("refusing a plan that leaves no enabled site admin")
    return problems
