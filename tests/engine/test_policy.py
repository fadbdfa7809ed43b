"""Self-lockout refusals: the tool never deletes or demotes its own user, its org, or the last site admin."""

from __future__ import annotations

from reconciler.engine.live import Live, Me
from reconciler.engine.policy import lockout_problems
from reconciler.kinds._kind import LiveObject
from reconciler.model.address import Address
from reconciler.plans.change import Action, Change, FieldChange


def misp() -> Live:
    live = Live(me=Me(user_id="1", email="admin@admin.test", org_id="1", role_id="1"))
    live.put("roles", LiveObject("admin", "1", {"perms": ["admin", "site_admin"]}))
    live.put("roles", LiveObject("User", "3", {"perms": ["tagger"]}))
    live.put("organisations", LiveObject("ORGNAME", "1", {}))
    live.put("organisations", LiveObject("Other", "2", {}))
    live.put("users", LiveObject("admin@admin.test", "1", {"role": "admin", "disabled": False}))
    live.put("users", LiveObject("ops@x.org", "2", {"role": "admin", "disabled": False}))
    return live


def delete(kind: str, key: str) -> Change:
    return Change(Address(kind, key), Action.DELETE)


def test_deleting_own_user_is_refused() -> None:
    assert lockout_problems([delete("users", "admin@admin.test")], misp()) == [
        'refusing to delete users["admin@admin.test"]: it is the user whose API key this tool uses']


def test_deleting_own_org_is_refused() -> None:
    [problem] = lockout_problems([delete("organisations", "ORGNAME")], misp())
    assert "organisation of the tool's own user" in problem


def test_demoting_own_user_is_refused() -> None:
    change = Change(Address("users", "admin@admin.test"), Action.UPDATE, (FieldChange("role", "admin", "User"),))
    [problem] = lockout_problems([change], misp())
    assert problem.startswith('refusing to demote or disable users["admin@admin.test"]')


def test_disabling_own_user_is_refused() -> None:
    change = Change(Address("users", "admin@admin.test"), Action.UPDATE, (FieldChange("disabled", False, True),))
    assert len(lockout_problems([change], misp())) == 1


def test_removing_the_last_other_site_admin_is_fine_while_we_remain() -> None:
    assert lockout_problems([delete("users", "ops@x.org"), delete("organisations", "Other")], misp()) == []


def test_plan_leaving_no_site_admin_is_refused() -> None:
    live = misp()
    live.me = Me(user_id="2", email="ops@x.org", org_id="2", role_id="1")  # we are ops; admin gets demoted
    change = Change(Address("users", "admin@admin.test"), Action.UPDATE, (FieldChange("role", "admin", "User"),))
    demote_me = Change(Address("users", "ops@x.org"), Action.UPDATE, (FieldChange("disabled", False, True),))
    problems = lockout_problems([change, demote_me], live)
    assert "refusing a plan that leaves no enabled site admin" in problems


def test_editing_own_role_to_drop_site_admin_is_refused() -> None:
    change = Change(Address("roles", "admin"), Action.UPDATE, (FieldChange("perms", ["admin", "site_admin"], ["admin"]),))
    problems = lockout_problems([change], misp())
    assert any(p.startswith('refusing to demote or disable users["admin@admin.test"]') for p in problems)
