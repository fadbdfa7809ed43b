"""Organisation and event blocklists, by uuid."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reconciler.kinds._kind import Entry, Kind
from reconciler.kinds.organisations import UUID_PATTERN


class OrgBlock(Entry):
    uuid: Annotated[str, Field(pattern=UUID_PATTERN)]
    org_name: str | None = None
    comment: str | None = None


class EventBlock(Entry):
    uuid: Annotated[str, Field(pattern=UUID_PATTERN)]
    event_info: str | None = None
    org_name: str | None = None
    comment: str | None = None


ORG_BLOCKLIST = Kind(name="org_blocklist", model=OrgBlock, key=lambda e: e.uuid.lower(), key_fields=("uuid",),
                     normalise_key=str.lower)
EVENT_BLOCKLIST = Kind(name="event_blocklist", model=EventBlock, key=lambda e: e.uuid.lower(),
                       key_fields=("uuid",), normalise_key=str.lower)
