"""Pure parts of export and drift: built from LiveObjects by hand, no MISP involved."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from reconciler.engine.drift import FieldDrift, Side, with_attribution
from reconciler.engine.export import Export, build_export, kind_text
from reconciler.engine.live import Live
from reconciler.engine.targets import sandbox_db_url
from reconciler.kinds import KINDS, kind_named
from reconciler.kinds._kind import LiveObject
from tests.engine.helpers import Workspace
from tests.lifecycle.helpers import call


def test_a_sync_servers_key_is_written_as_a_reference_with_a_placeholder_comment(tmp_path: Path) -> None:
    live = Live()
    live.put("servers", LiveObject(key="hub", id="3", fields={
        "name": "hub", "url": "https://hub.example.org", "remote_org": "Hub Org", "push": True, "pull": False}))
    export = build_export(live, [kind_named("servers")])
    text = kind_text(export, "servers", tmp_path)
    assert "authkey: {env: MISP_SYNC_HUB_KEY}  # set MISP_SYNC_HUB_KEY\n" in text
    assert export.secrets == ["MISP_SYNC_HUB_KEY"]
    assert "push: true" in text and "pull: false" in text


def test_every_kind_in_the_registry_can_be_written(tmp_path: Path) -> None:
    """A kind added to KINDS needs nothing here to be exported (its canonical fields are manifest words)."""
    export = Export()
    for kind in KINDS:
        assert isinstance(kind_text(export, kind.name, tmp_path), str)


def test_attribution_names_the_user_whose_log_row_changed_the_field(tmp_path: Path) -> None:
    """Real rows the sandbox logged for a user edit, as MISP's /admin/logs/index would list them."""
    ws = Workspace(tmp_path)

    async def edit() -> str:
        made = await call(ws, "POST", "/admin/users/add", {"email": "eve@example.org", "org_id": "1", "role_id": "3"})
        user_id = str(made["User"]["id"])
        await call(ws, "POST", f"/admin/users/edit/{user_id}", {"autoalert": True})
        return user_id

    user_id = asyncio.run(edit())
    engine = sa.create_engine(sandbox_db_url(ws.state_dir, "sandbox"))
    with engine.connect() as connection:
        rows: list[dict[str, Any]] = [dict(r._mapping) for r in connection.execute(
            sa.text("SELECT * FROM logs WHERE model = 'User' AND model_id = :id ORDER BY id"), {"id": int(user_id)})]
    drift = FieldDrift("autoalert", Side.MISP, True, False)
    attributed = with_attribution(drift, [{k: str(v) for k, v in row.items()} for row in rows])
    assert attributed.attribution is not None
    assert attributed.attribution.who == "admin@admin.test" and attributed.attribution.action == "edit"
    assert with_attribution(FieldDrift("nids_sid", Side.MANIFESTS, 1, 2), rows).attribution is None
