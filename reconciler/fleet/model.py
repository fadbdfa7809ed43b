"""The fleet file: instances (manifest dir, url, key reference, overlay) and links between them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.diags import Diagnostics, SourceRange
from reconciler.kinds.servers import Rules
from reconciler.model.secrets import SecretRef

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SYNC_ROLE = "Sync user"  # MISP's built-in role with perm_sync


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FleetInstance(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    manifests: Annotated[str, Field(min_length=1)]
    url: Annotated[str | None, Field(pattern=r"^https?://[^\s/]+")] = None
    key: SecretRef | None = None
    env: str | None = None  # overlay merged on top of the instance's manifests


class SyncUser(Strict):
    email: Annotated[str, Field(min_length=3)]
    role: Annotated[str, Field(min_length=1)] = SYNC_ROLE


class Link(Strict):
    from_: Annotated[str, Field(alias="from", min_length=1)]
    to: Annotated[str, Field(min_length=1)]
    pull: bool = False
    push: bool = False
    sync_user: SyncUser
    pull_rules: Rules | None = None
    push_rules: Rules | None = None

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


class Fleet(Strict):
    instances: Annotated[list[FleetInstance], Field(min_length=1)]
    links: list[Link] = []


class LoadedFleet:
    """A validated fleet file, with where each link and instance was written and where its manifests live."""

    def __init__(self, path: Path, fleet: Fleet, document: Any) -> None:
        self.path = path
        self.fleet = fleet
        self.document = document

    def where(self, *loc: str | int) -> SourceRange:
        from reconciler.manifest.load import position

        return position(self.path, self.document, loc)

    def instance(self, name: str) -> FleetInstance | None:
        return next((i for i in self.fleet.instances if i.name == name), None)

    def manifest_dir(self, instance: FleetInstance) -> Path:
        return (self.path.parent / instance.manifests).resolve()


def load_fleet(path: Path) -> tuple[LoadedFleet | None, Diagnostics]:
    """Parse and validate a fleet file; errors carry file:line:col as the manifests' do."""
    from reconciler.manifest.load import parse, plain, report

    diags = Diagnostics()
    document = parse(path, diags)
    if document is None:
        return None, diags
    try:
        fleet = Fleet.model_validate(plain(document))
    except ValidationError as exc:
        for error in exc.errors():
            loc = [("from" if p == "from_" else p) for p in error["loc"]]
            error = {**error, "loc": tuple(loc)}
            from reconciler.manifest.load import position

            report(diags, error, path_text="fleet", where=position(path, document, loc), model=Fleet)
        return None, diags
    return LoadedFleet(path, fleet, document), diags
