"""Instance-wide endpoints: version, identity and diagnostics (transcript diagnostics--version-and-schema).

The diagnostics describe a healthy MISP 2.5.1 on MySQL at db version 130: the schema check is computed from
MISP's own db_schema.json (so it never reports a difference), the database configuration is the recorded one.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_json, new_uuid, route

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

MISP_VERSION = "2.5.1"
DB_VERSION = "130"  # the update level of MISP 2.5.1's schema (db_schema.json "db_version")
CHECKED_COLUMN_FIELDS = ["column_name", "is_nullable", "data_type", "character_maximum_length", "numeric_precision",
                         "collation_name", "column_type", "column_default", "extra"]


def seed(state: SandboxState) -> None:
    state.store.insert("sandbox_settings", {"name": "MISP.uuid", "value": f'"{new_uuid()}"'})


def instance_uuid(ctx: Ctx) -> str:
    row = ctx.store.first("sandbox_settings", name="MISP.uuid")
    return str(row["value"]).strip('"') if row else "-"


@cache
def data_file(name: str) -> Any:
    return json.loads(resources.files("reconciler.sandbox").joinpath(f"data/{name}").read_text("utf-8"))


@route("/servers/getVersion", access="user", wrong_method=None)
def get_version(ctx: Ctx) -> Response:
    # An org admin sees "-" for the uuid (transcript auth--org-admin-refusals); POST answers the same
    # (diagnostics--version-and-schema step 6).
    return misp_json({
        "version": MISP_VERSION, "pymisp_recommended_version": MISP_VERSION,
        "perm_sync": ctx.perm("perm_sync"), "perm_sighting": ctx.perm("perm_sighting"),
        "perm_galaxy_editor": ctx.perm("perm_galaxy_editor"),
        "perm_analyst_data": ctx.perm("perm_analyst_data"),
        "uuid": instance_uuid(ctx) if ctx.is_site_admin or ctx.perm("perm_sync") else "-",
        "request_encoding": ["gzip"], "filter_sightings": True,
    })


@route("/servers/getPyMISPVersion", access="user", wrong_method=None)
def get_pymisp_version(ctx: Ctx) -> Response:
    return misp_json({"version": MISP_VERSION})


@route("/servers/getInstanceUUID", access="user", wrong_method=None)
def get_instance_uuid(ctx: Ctx) -> Response:
    if not (ctx.is_site_admin or ctx.perm("perm_sync")):  # sync users only (reference §0.3)
        raise ctx.deny()
    return misp_json({"uuid": instance_uuid(ctx)})


def schema_diagnostic() -> dict[str, Any]:
    schema = data_file("db_schema.json")
    return {
        "dataSource": "Database/MysqlObserverExtended", "actual_db_version": DB_VERSION,
        "checked_table_column": CHECKED_COLUMN_FIELDS, "diagnostic": [], "diagnostic_index": [],
        "expected_db_version": DB_VERSION, "error": "", "update_locked": False, "remaining_lock_time": 0,
        "update_fail_number_reached": False, "indexes": schema["indexes"],
        "columnPerTable": {table: [c["column_name"] for c in columns] for table, columns in schema["schema"].items()},
    }


@route("/servers/dbSchemaDiagnostic")
def db_schema_diagnostic(ctx: Ctx) -> Response:
    return misp_json(schema_diagnostic())


@route("/servers/dbConfiguration")
def db_configuration(ctx: Ctx) -> Response:
    return misp_json(data_file("db-configuration.json"))


@route("/servers/updateProgress")
def update_progress(ctx: Ctx) -> Response:
    """The last schema update a fresh 2.5.1 ran (its one command at level 130), finished and unlocked; times as
    recorded."""
    return misp_json({
        "commands": ["ALTER TABLE `bookmarks` MODIFY `comment` TEXT CHARACTER SET utf8mb4 COLLATE "
                     "utf8mb4_unicode_ci;"],
        "results": [f"Successfully executed the SQL query for {DB_VERSION}"],
        "time": {"started": ["2026-11-28 12:33:31", "2026-11-28 12:33:31"], "elapsed": ["00:00:00"]},
        "current": "1", "total": "1", "failed_num": [], "toward_db_version": DB_VERSION, "preTestSuccess": True,
        "db_version": DB_VERSION, "complete_update_remaining": "0", "update_locked": False,
        "lock_remaining_time": "0", "update_fail_number_reached": False,
        "process_list": {"STATE": "", "PROGRESS": "0", "STAGE": "0", "MAX_STAGE": "0"},
    })
