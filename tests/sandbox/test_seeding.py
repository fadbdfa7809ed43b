"""Bulk seeding: objects the real endpoints then list and serve like their own, fast."""

from __future__ import annotations

import httpx

from reconciler.sandbox import SandboxApp
from reconciler.sandbox.seeding import seed_large


async def test_seeded_objects_are_served_by_the_real_endpoints(sandbox_app: SandboxApp,
                                                               sandbox_http: httpx.AsyncClient) -> None:
    seeded = seed_large(sandbox_app, orgs=20, users=50, sharing_groups=5, tags=30, feeds=4, servers=3)
    orgs = (await sandbox_http.get("/organisations/index/scope:all")).json()
    assert sum(o["Organisation"]["name"].startswith("Seed Org") for o in orgs) == 20
    users = (await sandbox_http.get("/admin/users/index")).json()
    assert sum(u["User"]["email"].endswith("@seed.example") for u in users) == 50
    servers = (await sandbox_http.get("/servers/index")).json()
    assert [s["RemoteOrg"]["name"] for s in servers] == ["Seed Org 00000", "Seed Org 00001", "Seed Org 00002"]
    assert all("authkey" not in s["Server"] for s in servers)
    feeds = (await sandbox_http.get("/feeds/index")).json()
    assert sum(f["Feed"]["provider"] == "Seed" for f in feeds) == 4
    tags = (await sandbox_http.get("/tags/index")).json()["Tag"]
    assert sum(t["name"].startswith("seed:tag-") for t in tags) == 30
    first_sg = seeded.first_ids["sharing_groups"]
    view = (await sandbox_http.get(f"/sharing_groups/view/{first_sg}")).json()
    assert view["SharingGroup"]["name"] == "Seed SG 0000"
    assert len(view["SharingGroupOrg"]) == 2
    # A seeded user is a real user: editable through the API.
    first_user = seeded.first_ids["users"]
    edited = await sandbox_http.post(f"/admin/users/edit/{first_user}", json={"disabled": True})
    assert edited.status_code == 200 and edited.json()["User"]["disabled"] is True


def test_seeding_twice_appends_with_fresh_ids(sandbox_app: SandboxApp) -> None:
    first = seed_large(sandbox_app, orgs=2, users=2, sharing_groups=1, tags=0, feeds=0, servers=1)
    second = seed_large(sandbox_app, orgs=3, users=0, sharing_groups=0, tags=0, feeds=0, servers=0)
    assert second.first_ids["organisations"] == first.first_ids["organisations"] + 2
    with sandbox_app.state.store.transaction():
        assert sandbox_app.state.store.count("organisations") == 1 + 2 + 3


def test_large_seed_is_bulk_fast(sandbox_app: SandboxApp) -> None:
    seeded = seed_large(sandbox_app)  # its speed is printed by bench/sandbox_bench.py
    assert seeded.counts["users"] == 10000
    with sandbox_app.state.store.transaction():
        assert sandbox_app.state.store.count("users") == 10001
        assert sandbox_app.state.store.count("auth_keys") == 10001
