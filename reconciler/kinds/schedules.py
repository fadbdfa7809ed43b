"""Periodic work MISP 2.5 runs from cron on its host: declared here, rendered as crontab or systemd units."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from reconciler.kinds._kind import Entry, Kind

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


KIND = Kind(name="schedules", model=Schedule, key=lambda e: e.name)
