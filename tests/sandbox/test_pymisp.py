"""PyMISP, the reference MISP client, works against the sandbox served on a real socket.

PyMISP's objects get their MISP fields dynamically, so the answers are held as `Any` here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymisp import MISPOrganisation, MISPRole, MISPUser, PyMISP


@pytest.fixture
def misp(served_sandbox: tuple[str, str]) -> PyMISP:
    url, key = served_sandbox
    return PyMISP(url, key, ssl=False, timeout=30)


def listed(answer: Any) -> list[Any]:
    assert isinstance(answer, list), answer
    return answer


def test_organisations_round_trip(misp: PyMISP) -> None:
    assert [o.name for o in listed(misp.organisations(pythonify=True))] == ["ORGNAME"]
    org = MISPOrganisation()
    org.name = "PyMISP Org"
    org.uuid = "2C4E7D1A-5F3B-4C3D-9E8F-0A1B2C3D4E5F"
    created: Any = misp.add_organisation(org, pythonify=True)
    assert type(created).__name__ == "MISPOrganisation" and created.uuid == org.uuid.lower() and created.local is True
    created.description = "edited through PyMISP"
    updated: Any = misp.update_organisation(created, pythonify=True)
    assert type(updated).__name__ == "MISPOrganisation" and updated.description == "edited through PyMISP"
    fetched: Any = misp.get_organisation(created.id, pythonify=True)
    assert type(fetched).__name__ == "MISPOrganisation" and fetched.name == "PyMISP Org"
    assert "PyMISP Org" in {o.name for o in listed(misp.organisations(scope="all", pythonify=True))}
    deleted: Any = misp.delete_organisation(created)
    assert deleted["success"] is True
    missing: Any = misp.get_organisation(created.id)
    assert missing["errors"][0] == 404


def test_users_round_trip(misp: PyMISP) -> None:
    user = MISPUser()
    user.email = "pymisp@example.org"
    user.org_id = 1
    user.role_id = 3
    created: Any = misp.add_user(user, pythonify=True)
    assert type(created).__name__ == "MISPUser" and created.email == "pymisp@example.org"
    created.autoalert = True
    updated: Any = misp.update_user(created, pythonify=True)
    assert type(updated).__name__ == "MISPUser" and updated.autoalert is True
    emails = {u.email for u in listed(misp.users(pythonify=True))}
    assert emails == {"admin@admin.test", "pymisp@example.org"}
    me: Any = misp.get_user(pythonify=True)
    assert type(me).__name__ == "MISPUser" and me.email == "admin@admin.test"
    deleted: Any = misp.delete_user(created)
    assert deleted["success"] is True
    assert {u.email for u in listed(misp.users(pythonify=True))} == {"admin@admin.test"}


def test_roles_round_trip(misp: PyMISP) -> None:
    roles = listed(misp.roles(pythonify=True))
    assert len(roles) == 6 and all(isinstance(r, MISPRole) for r in roles)
    answer: Any = misp.set_default_role(4)
    assert answer["success"] is True
    assert [r.id for r in listed(misp.roles(pythonify=True)) if r.default] == ["4"]
    role: Any = MISPRole()
    role.name = "PyMISP role"
    role.permission = "2"
    created: Any = misp.add_role(role, pythonify=True)
    assert type(created).__name__ == "MISPRole" and created.perm_modify_org is True and created.perm_publish is False
    created.perm_tagger = True
    updated: Any = misp.update_role(created, pythonify=True)  # sends `permission` back, so the level is kept
    assert type(updated).__name__ == "MISPRole" and updated.perm_tagger is True and updated.permission == "2"
    deleted: Any = misp.delete_role(created)
    assert deleted["success"] is True
    assert len(listed(misp.roles())) == 6


def test_organisation_exists_uses_head(misp: PyMISP) -> None:
    assert misp.organisation_exists(1) is True
    assert misp.organisation_exists(999) is False
