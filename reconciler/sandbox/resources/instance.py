"""Instance-wide endpoints: version and the instance's identity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_json, new_uuid, route

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

MISP_VERSION = "2.5.1"


def seed(state: SandboxState) -> None:
    state.store.insert("sandbox_settings", {"name": "MISP.uuid", "value": f'"{new_uuid()}"'})


def instance_uuid(ctx: Ctx) -> str:
    row = ctx.store.first("sandbox_settings", name="MISP.uuid")
    return str(row["value"]).strip('"') if row else "-"


@route("/servers/getVersion", access="user", wrong_method=None)
def get_version(ctx: Ctx) -> Response:
    # An org admin sees "-" for the uuid (transcript auth--org-admin-refusals).
    return misp_json({
        "version": MISP_VERSION, "pymisp_recommended_version": MISP_VERSION,
        "perm_sync": ctx.perm("perm_sync"), "perm_sighting": ctx.perm("perm_sighting"),
        "perm_galaxy_editor": ctx.perm("perm_galaxy_editor"),
        "perm_analyst_data": ctx.perm("perm_analyst_data"),
        "uuid": instance_uuid(ctx) if ctx.is_site_admin else "-",
        "request_encoding": ["gzip"], "filter_sightings": True,
    })
