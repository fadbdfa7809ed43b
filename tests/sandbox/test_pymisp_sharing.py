"""PyMISP's sharing group, tag and taxonomy calls work against the sandbox served on a real socket.

PyMISP's objects get their MISP fields dynamically, so the answers are held as `Any` here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymisp import MISPOrganisation, MISPSharingGroup, MISPTag, PyMISP


@pytest.fixture
def misp(served_sandbox: tuple[str, str]) -> PyMISP:
    url, key = served_sandbox
    return PyMISP(url, key, ssl=False, timeout=30)


def test_sharing_groups_round_trip(misp: PyMISP) -> None:
    member = MISPOrganisation()
    member.name = "Member Org"
    org: Any = misp.add_organisation(member, pythonify=True)
    sg = MISPSharingGroup()
    sg.name = "PyMISP SG"
    sg.releasability = "tests"
    created: Any = misp.add_sharing_group(sg, pythonify=True)
    assert type(created).__name__ == "MISPSharingGroup" and created.name == "PyMISP SG"
    added: Any = misp.add_org_to_sharing_group(created, org, extend=True)
    assert added["name"] == "Organisation added to the sharing group."
    fetched: Any = misp.get_sharing_group(created, pythonify=True)
    assert [o["org_id"] for o in fetched.SharingGroupOrg] == [org.id]
    listed: Any = misp.sharing_groups(pythonify=True)
    assert [g.name for g in listed] == ["PyMISP SG"]
    removed: Any = misp.remove_org_from_sharing_group(created, org)
    assert removed["name"] == "Organisation removed from the sharing group."
    deleted: Any = misp.delete_sharing_group(created)
    assert deleted["name"] == "SharingGroup deleted"


def test_tags_round_trip(misp: PyMISP) -> None:
    tag = MISPTag()
    tag.name = "pymisp:tag"
    created: Any = misp.add_tag(tag, pythonify=True)
    assert type(created).__name__ == "MISPTag" and created.colour.startswith("#") and len(created.colour) == 7
    created.colour = "#123456"
    updated: Any = misp.update_tag(created, pythonify=True)
    assert updated.colour == "#123456"
    tags: Any = misp.tags(pythonify=True)
    assert {"pymisp:tag", "tlp:red"} <= {t.name for t in tags}
    deleted: Any = misp.delete_tag(created)
    assert deleted["name"] == "Tag deleted."


def test_taxonomies_enable_and_tags(misp: PyMISP) -> None:
    taxonomies: Any = misp.taxonomies(pythonify=True)
    pap: Any = next(t for t in taxonomies if t.namespace == "PAP")
    enabled: Any = misp.enable_taxonomy(pap)
    assert enabled["name"] == "Taxonomy enabled"
    tagged: Any = misp.enable_taxonomy_tags(pap)
    assert tagged["name"] == "The tag(s) has been saved."
    fetched: Any = misp.get_taxonomy(pap)
    assert fetched["Taxonomy"]["enabled"] is True
    assert all(e["existing_tag"]["Tag"]["hide_tag"] is False for e in fetched["entries"])
    disabled: Any = misp.disable_taxonomy(pap)
    assert disabled["name"] == "Taxonomy disabled"
