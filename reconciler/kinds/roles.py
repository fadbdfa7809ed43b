"""Roles: managed whole. `permission` sets MISP's four event flags; `perms` lists every other flag granted."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_bool, as_int, as_text, rows, stated, unwrap
from reconciler.model.fields import AsSet

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

# MISP 2.5.1's perm_* flags, without the prefix (db_schema.json roles; perm_full is legacy and never read).
ALL_PERMS = frozenset({
    "add", "modify", "modify_org", "publish", "delegate", "sync", "admin", "audit", "auth", "site_admin",
    "regexp_access", "tagger", "template", "sharing_group", "tag_editor", "sighting", "object_template",
    "publish_zmq", "publish_kafka", "decaying", "galaxy_editor", "warninglist", "view_feed_correlations",
    "analyst_data", "skip_otp",
})
# Derived from `permission` on every save: never sent, never compared as flags (reference §5).
EVENT_FLAGS = frozenset({"add", "modify", "modify_org", "publish"})
Permission = Literal["read_only", "manage_own", "manage_org", "publish"]


class Role(Entry):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    permission: Permission = "read_only"
    perms: Annotated[list[str], AsSet()] = []
    default: bool | None = None
    max_execution_time: Annotated[int | None, Field(ge=-1, le=2**31 - 1)] = None
    memory_limit: Annotated[str | None, Field(pattern=r"^(-1|\d+[MG])$")] = None
    enforce_rate_limit: bool | None = None
    rate_limit_count: Annotated[int | None, Field(ge=0, le=2**31 - 1)] = None
    restricted_to_site_admin: bool | None = None

    @field_validator("perms")
    @classmethod
    def _known_flags(cls, perms: list[str]) -> list[str]:
        import difflib

        for flag in perms:
            if flag in EVENT_FLAGS:
                raise ValueError(f"{flag!r} follows from `permission`; set permission instead")
            if flag not in ALL_PERMS:
                close = difflib.get_close_matches(flag, sorted(ALL_PERMS - EVENT_FLAGS), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"unknown permission flag {flag!r}{hint}")
        return perms


# -- MISP adapter -----------------------------------------------------------------------------------------
PERMISSION_LEVELS = ("read_only", "manage_own", "manage_org", "publish")  # MISP's "0".."3"
OTHER_FIELDS = ("max_execution_time", "memory_limit", "enforce_rate_limit", "rate_limit_count",
                "restricted_to_site_admin")


class RoleAdapter:
    """Roles are managed whole: every perm_* flag is sent on each write, and `permission` always — an edit
    without it demotes the role to read-only (transcript roles--crud, "edit without permission")."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        return rows(await client.get("/roles/index"), "Role")

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        role = unwrap(raw, "Role")
        level = as_int(role.get("permission"))
        perms = sorted(name[len("perm_"):] for name, value in role.items()
                       if name.startswith("perm_") and name[len("perm_"):] in ALL_PERMS - EVENT_FLAGS
                       and as_bool(value))
        fields: dict[str, object] = {
            "name": str(role["name"]),
            "permission": PERMISSION_LEVELS[level] if 0 <= level < len(PERMISSION_LEVELS) else "read_only",
            "perms": perms,
            "default": as_bool(role.get("default")),
            "max_execution_time": as_text(role.get("max_execution_time")),
            "memory_limit": as_text(role.get("memory_limit")),
            "enforce_rate_limit": as_bool(role.get("enforce_rate_limit")),
            "rate_limit_count": as_int(role.get("rate_limit_count")),
            "restricted_to_site_admin": as_bool(role.get("restricted_to_site_admin")),
        }
        return LiveObject(key=str(role["name"]), id=str(role["id"]), fields=fields, raw=role)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Role)
        want: dict[str, object] = {
            "name": entry.name,
            "permission": entry.permission or "read_only",
            "perms": sorted(set(entry.perms or ())),
        }
        for name in stated(entry, (*OTHER_FIELDS, "default")):
            value = getattr(entry, name)
            if name in ("max_execution_time", "memory_limit"):
                want[name] = as_text(value)
            elif name == "rate_limit_count":
                want[name] = as_int(value)
            else:
                want[name] = bool(value)
        return want

    def body(self, want: Mapping[str, object]) -> dict[str, object]:
        body: dict[str, object] = {"name": want["name"],
                                   "permission": str(PERMISSION_LEVELS.index(str(want["permission"])))}
        granted = set(want.get("perms") or ())  # type: ignore[call-overload]
        body.update({f"perm_{flag}": flag in granted for flag in sorted(ALL_PERMS - EVENT_FLAGS)})
        for name in OTHER_FIELDS:
            if name in want:
                body[name] = want[name]
        return body

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        want = self.desired(entry, names)
        answer = await client.post("/admin/roles/add", {"Role": self.body(want)})
        role = self.parse(answer, names)
        assert role is not None
        if want.get("default"):
            role = await self.set_default(client, role, names)
        return role

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        want = self.desired(entry, names)
        role = live
        if set(changed) - {"default"}:
            # Like `permission`, a rate_limit_count the edit leaves out is reset (to 0): always send it.
            want.setdefault("rate_limit_count", live.fields.get("rate_limit_count", 0))
            answer = await client.post(f"/admin/roles/edit/{live.id}", {"Role": self.body(want)})
            parsed = self.parse(answer, names)
            assert parsed is not None
            role = parsed
        if changed.get("default") is True:
            role = await self.set_default(client, role, names)
        role.fields["default"] = live.fields.get("default") if "default" not in changed else changed["default"]
        return role

    async def set_default(self, client: MispClient, role: LiveObject, names: Names) -> LiveObject:
        # The effective default lives in admin_settings; the role row does not show it (reference §5).
        await client.post(f"/admin/roles/set_default/{role.id}")
        for other in names.live("roles").values():
            other.fields["default"] = False
        role.fields["default"] = True
        return role

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.post(f"/admin/roles/delete/{live.id}")


KIND = Kind(name="roles", model=Role, key=lambda e: e.name, adapter=RoleAdapter())
