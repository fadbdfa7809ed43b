"""The rows of a fresh MISP 2.5.1 install: host org 1 ORGNAME, the six default roles, the site admin."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from reconciler.sandbox.http import hash_key, hash_password, new_uuid, now_epoch, now_text

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

ALL_PERMS = (
    "perm_add", "perm_modify", "perm_modify_org", "perm_publish", "perm_delegate", "perm_sync",
    "perm_admin", "perm_audit", "perm_auth", "perm_site_admin", "perm_regexp_access", "perm_tagger",
    "perm_template", "perm_sharing_group", "perm_tag_editor", "perm_sighting", "perm_object_template",
    "perm_publish_zmq", "perm_publish_kafka", "perm_decaying", "perm_galaxy_editor", "perm_warninglist",
    "perm_view_feed_correlations", "perm_analyst_data", "perm_skip_otp",
)


def _role(name: str, on: set[str], *, default: bool = False) -> dict[str, object]:
    return {"name": name, "created": now_text(), "modified": now_text(), "default_role": int(default),
            "memory_limit": None, "max_execution_time": None, "restricted_to_site_admin": 0,
            "enforce_rate_limit": 0, "rate_limit_count": 0,
            **{p: int(p in on) for p in ALL_PERMS}}


# Flags of MISP 2.5.1's default roles (reference identity §5 table, transcript roles--index-defaults).
_EVENT = {"perm_add", "perm_modify", "perm_modify_org"}
_COMMON = {"perm_audit", "perm_auth"}
_CONTRIBUTOR = {"perm_tagger", "perm_sighting", "perm_decaying", "perm_galaxy_editor", "perm_analyst_data"}
_PUBLISHING = {"perm_publish", "perm_delegate", "perm_publish_zmq", "perm_publish_kafka"}
DEFAULT_ROLES = (
    _role("admin", set(ALL_PERMS) - {"perm_skip_otp"}),
    _role("Org Admin", _EVENT | _COMMON | _CONTRIBUTOR | _PUBLISHING |
          {"perm_admin", "perm_template", "perm_sharing_group", "perm_tag_editor"}),
    _role("User", _EVENT | _COMMON | _CONTRIBUTOR, default=True),
    _role("Publisher", _EVENT | _COMMON | _CONTRIBUTOR | _PUBLISHING),
    _role("Sync user", _EVENT | _COMMON | _CONTRIBUTOR | _PUBLISHING |
          {"perm_sync", "perm_sharing_group", "perm_tag_editor"}),
    _role("Read Only", _COMMON),
)


@functools.cache
def admin_password_hash() -> str:
    """MISP's fresh install: admin@admin.test / "admin", to be changed at first login (change_pw 1).
    Hashed once per process: PBKDF2 is deliberately slow and tests create many sandboxes."""
    return hash_password("admin")


def seed(state: SandboxState) -> None:
    store = state.store
    now = now_text()
    org = store.insert("organisations", {
        "name": "ORGNAME", "date_created": now, "date_modified": now,
        "description": "Automatically generated admin organisation", "type": "ADMIN",
        "created_by": 0, "uuid": new_uuid(), "local": 1, "restricted_to_domain": "[]"})
    for role in DEFAULT_ROLES:
        store.insert("roles", role)
    admin = store.insert("users", {
        "password": admin_password_hash(), "org_id": org["id"], "email": "admin@admin.test", "role_id": 1,
        "nids_sid": 4000000, "change_pw": 1, "termsaccepted": 0, "disabled": 0, "autoalert": 0,
        "contactalert": 0, "invited_by": 0, "date_modified": now_epoch(), "current_login": 0,
        "last_login": 0, "newsread": 0, "certif_public": "", "gpgkey": None})
    key = state.admin_key
    store.insert("auth_keys", {
        "uuid": new_uuid(), "authkey": hash_key(key), "authkey_start": key[:4], "authkey_end": key[-4:],
        "created": now_epoch(), "expiration": 0, "read_only": 0, "user_id": admin["id"],
        "comment": "Initial auto-generated key", "allowed_ips": None, "unique_ips": None})
