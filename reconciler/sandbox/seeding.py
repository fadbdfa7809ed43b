"""Bulk seeding for benchmarks and large tests: thousands of objects in a second or two.

Rows go straight through the Store with one multi-row INSERT per table (`Store.insert_many`), shaped like what
the real endpoints create (same columns, defaults, flags and key hashing), but without per-row log entries:
MISP's logs record requests, and nobody made these. Names are stable (`Seed Org 00042`), so a manifest can
declare the same objects.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from reconciler.sandbox.http import hash_key, hash_password, new_uuid, now_epoch, now_text
from reconciler.sandbox.schema import METADATA

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxApp
    from reconciler.sandbox.store import Store

USER_ROLE_ID = 3  # "User", the default role of a fresh install
SITE_ADMIN_ID = 1  # the install's admin user: who "created" everything seeded
EMPTY_PULL = ('{"tags":{"OR":[],"NOT":[]},"orgs":{"OR":[],"NOT":[]},"type_attributes":{"NOT":[]},'
              '"type_objects":{"NOT":[]},"url_params":""}')
EMPTY_PUSH = '{"tags":{"OR":[],"NOT":[]},"orgs":{"OR":[],"NOT":[]}}'


@dataclass(frozen=True, slots=True)
class Seeded:
    """First id of each kind written (ids are consecutive from there) and how many."""

    first_ids: dict[str, int]
    counts: dict[str, int]


def next_id(store: Store, table: str) -> int:
    column = METADATA.tables[table].c.id
    return int(store.conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def org_rows(count: int, now: str) -> list[dict[str, Any]]:
    return [{"name": f"Seed Org {i:05d}", "uuid": new_uuid(), "local": 1, "date_created": now, "date_modified": now,
             "created_by": SITE_ADMIN_ID, "description": None, "type": "", "nationality": "", "sector": "",
             "restricted_to_domain": "[]"} for i in range(count)]


def user_rows(count: int, first_org: int, orgs: int) -> list[dict[str, Any]]:
    # Users added without a password get a random one; one hash serves them all (PBKDF2 is slow on purpose).
    password = hash_password(secrets.token_hex(16))
    now = now_epoch()
    return [{"email": f"user{i:06d}@seed.example", "org_id": first_org + i % orgs, "role_id": USER_ROLE_ID,
             "password": password, "server_id": 0, "invited_by": SITE_ADMIN_ID, "nids_sid": 4_000_001 + i,
             "gpgkey": "", "certif_public": "", "change_pw": 1, "autoalert": 0, "contactalert": 0, "disabled": 0,
             "termsaccepted": 0, "newsread": 0, "date_created": now, "date_modified": now, "last_pw_change": now,
             "current_login": 0, "last_login": 0, "last_api_access": 0, "external_auth_key": ""}
            for i in range(count)]


def key_rows(first_user: int, count: int) -> list[dict[str, Any]]:
    """Each user's first API key, as user add creates it; nobody knows them (hex keys are 40 alphanumerics)."""
    now = now_epoch()
    rows = []
    for i in range(count):
        key = secrets.token_hex(20)
        rows.append({"uuid": new_uuid(), "authkey": hash_key(key), "authkey_start": key[:4], "authkey_end": key[-4:],
                     "created": now, "expiration": 0, "read_only": 0, "user_id": first_user + i, "comment": "",
                     "allowed_ips": None})
    return rows


def tag_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        name = f"seed:tag-{i:05d}"
        rows.append({"name": name, "colour": "#" + hashlib.md5(name.encode()).hexdigest()[:6], "exportable": 1,
                     "org_id": 0, "user_id": 0, "hide_tag": 0, "local_only": 0, "is_galaxy": 0,
                     "is_custom_galaxy": 0, "numerical_value": None})
    return rows


def sharing_group_rows(count: int, host_org_uuid: str, now: str) -> list[dict[str, Any]]:
    return [{"name": f"Seed SG {i:04d}", "releasability": "", "description": "", "uuid": new_uuid(),
             "organisation_uuid": host_org_uuid, "org_id": 1, "sync_user_id": SITE_ADMIN_ID, "active": 1,
             "created": now, "modified": now, "local": 0, "roaming": 0} for i in range(count)]


def sharing_group_members(first_sg: int, count: int, first_org: int, orgs: int) -> tuple[list[dict[str, Any]],
                                                                                           list[dict[str, Any]]]:
    """The creator's org and one seeded org per group; the local instance (server 0), as add does."""
    members: list[dict[str, Any]] = []
    for i in range(count):
        members.append({"sharing_group_id": first_sg + i, "org_id": 1, "extend": 1})
        if orgs:
            members.append({"sharing_group_id": first_sg + i, "org_id": first_org + i % orgs, "extend": 0})
    servers = [{"sharing_group_id": first_sg + i, "server_id": 0, "all_orgs": 0} for i in range(count)]
    return members, servers


def feed_rows(count: int) -> list[dict[str, Any]]:
    # REST add's defaults (feeds--add-formats): freetext, fixed event, distribution 0, not enabled.
    return [{"name": f"Seed Feed {i:04d}", "provider": "Seed", "url": f"https://feeds.seed.example/{i:04d}.txt",
             "source_format": "freetext", "fixed_event": 1, "distribution": 0, "enabled": 0, "default": 0,
             "input_source": "network", "settings": json.dumps({"common": {"excluderegex": ""}}),
             "rules": None, "sharing_group_id": 0, "tag_id": 0, "event_id": 0} for i in range(count)]


def server_rows(count: int, first_org: int, orgs: int) -> list[dict[str, Any]]:
    return [{"name": f"Seed Server {i:03d}", "url": f"https://misp{i:03d}.seed.example", "authkey": secrets.token_hex(20),
             "org_id": 1, "remote_org_id": first_org + i % orgs if orgs else 1, "priority": i + 1,
             "pull_rules": EMPTY_PULL, "push_rules": EMPTY_PUSH, "pull": 1, "push": 0} for i in range(count)]


def seed_large(app: SandboxApp, *, orgs: int = 1000, users: int = 10000, sharing_groups: int = 500,
               tags: int = 2000, feeds: int = 100, servers: int = 50) -> Seeded:
    """Add that many objects of each kind to `app` in one transaction; returns where each kind's ids start."""
    store = app.state.store
    now = now_text()
    with store.transaction():
        first = {table: next_id(store, table) for table in
                 ("organisations", "users", "sharing_groups", "tags", "feeds", "servers")}
        host = store.get("organisations", 1)
        store.insert_many("organisations", org_rows(orgs, now))
        if orgs:
            store.insert_many("users", user_rows(users, first["organisations"], orgs))
            store.insert_many("auth_keys", key_rows(first["users"], users))
        store.insert_many("sharing_groups", sharing_group_rows(sharing_groups, host["uuid"] if host else "", now))
        members, sg_servers = sharing_group_members(first["sharing_groups"], sharing_groups,
                                                    first["organisations"], orgs)
        store.insert_many("sharing_group_orgs", members)
        store.insert_many("sharing_group_servers", sg_servers)
        store.insert_many("tags", tag_rows(tags))
        store.insert_many("feeds", feed_rows(feeds))
        store.insert_many("servers", server_rows(servers, first["organisations"], orgs))
    counts = {"organisations": orgs, "users": users if orgs else 0, "sharing_groups": sharing_groups,
              "tags": tags, "feeds": feeds, "servers": servers}
    return Seeded(first_ids=first, counts=counts)
