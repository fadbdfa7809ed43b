"""Periodic work MISP 2.5 runs from cron on its host: declared here, rendered as crontab or systemd units."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import as_text, saved, unwrap

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

Command = Literal["pull_all", "push_all", "fetch_feeds", "cache_feeds", "cache_servers", "update_taxonomies",
                  "update_galaxies", "update_warninglists", "update_noticelists", "update_object_templates"]
EVERY = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>[mhd])$")
AT = re.compile(r"^(?P<h>[0-9]{2}):(?P<m>[0-9]{2})$")


class Schedule(Entry):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    command: Command
    every: str | None = None
    at: str | None = None
    user: str | None = None  # the MISP user whose rights the job runs with (cake commands take a user id)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = EVERY.match(value)
        if match is None:
            raise ValueError(f"expected <N>m, <N>h or <N>d (e.g. 30m, 1h, 1d), got {value!r}")
        limits = {"m": 59, "h": 23, "d": 31}
        if int(match["n"]) > limits[match["unit"]] and not (match["unit"] == "m" and int(match["n"]) % 60 == 0):
            raise ValueError(f"{value!r} cannot be expressed in cron: at most {limits[match['unit']]}"
                             f"{match['unit']}")
        return value

    @field_validator("at")
    @classmethod
    def _at(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = AT.match(value)
        if match is None or int(match["h"]) > 23 or int(match["m"]) > 59:
            raise ValueError(f"expected a time of day HH:MM between 00:00 and 23:59, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.every is None) == (self.at is None):
            raise ValueError("a schedule takes exactly one of `every` or `at`")
        return self


# -- adapter: the embedded sandbox's record ------------------------------------------------------------
# Real MISP has no API for cron: on a real MISP the engine leaves this kind out (Kind.sandbox_only) and the
# plan says whether the host's crontab is current with the last `schedules render` (ops/schedules.py).
RECORD = "/sandbox/schedules"  # NOT MISP: the sandbox's record of what the instance would run
WHEN = ("every", "at")  # exactly one is set; the other is null


@dataclass(frozen=True)
class ScheduleAdapter:
    """The sandbox's schedule record (reconciler/sandbox/resources/workers.py): one list request; a POST adds
    or replaces a schedule by name, so create and update both send the whole schedule; DELETE by name.
    A schedule's name is its MISP id. Canonical: `every` and `at` both present, the unused one null, so that
    switching a manifest from `at` to `every` shows as the field it states."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        answer = await client.get(RECORD)
        return [row for row in answer if isinstance(row, Mapping)] if isinstance(answer, list) else []

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        row = unwrap(raw, "Schedule")
        name = as_text(row.get("name"))
        if not name:
            return None
        fields: dict[str, object] = {"name": name, "command": as_text(row.get("command"))}
        fields.update({key: None if row.get(key) is None else str(row[key]) for key in (*WHEN, "user")})
        return LiveObject(key=name, id=name, fields=fields, raw=row)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Schedule)
        return {"name": entry.name, **{field: getattr(entry, field) for field in sorted(entry.model_fields_set)}}

    async def send(self, client: MispClient, values: Mapping[str, object], names: Names) -> LiveObject:
        body = {name: value for name, value in values.items() if value is not None}
        return saved(self.parse(await client.post(RECORD, {"Schedule": body}), names))

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        return await self.send(client, self.desired(entry, names), names)

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        values = {**live.fields, **changed}
        for stated, other in (WHEN, WHEN[::-1]):
            if changed.get(stated) is not None:
                values[other] = None  # the record takes one of them: the manifest's replaces the other
        return await self.send(client, values, names)

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        await client.call("DELETE", f"{RECORD}/{live.id}", idempotent=False)


KIND = Kind(name="schedules", model=Schedule, key=lambda e: e.name, adapter=ScheduleAdapter(), sandbox_only=True)
