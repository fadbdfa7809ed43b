"""Import regexps: MISP applies them in ascending id order, so the list order is meaningful."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator
from selectolax.lexbor import LexborHTMLParser

from reconciler.backend.errors import MispError, Rejected
from reconciler.backend.web import session_for
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._regex import check_pcre

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

RegexpType = Literal["ALL", "attribute", "event", "object", "Attribute", "Event", "Object"]


class Regexp(Entry):
    regexp: str
    replacement: str = ""
    type: RegexpType = "ALL"

    @field_validator("regexp")
    @classmethod
    def _pcre(cls, value: str) -> str:
        return check_pcre(value)


def regexp_key(regexp: str, replacement: str, type_: str) -> str:
    return f"{regexp}/{replacement}/{type_}"


# -- adapter ----------------------------------------------------------------------------------------
# MISP has no JSON view of the rules (its index answers 500 to the API): they are read from the HTML index
# through a web session, in id order, which is the order MISP applies them in. Writes use the API, whose
# add/delete answer a bodiless 302. MISP's edit deletes the rule and saves it anew with a new id, so the
# adapter never edits: an ordered list is reconciled with deletes and creates only.
#
# Ordering: the live rows whose key is declared, in id order, are compared with the declared list. From the
# first difference on, those live rows are *stale copies*: they get a key of their own ("<key> (row <id>)")
# and `stale_copy_of` in raw, so the plan shows them as deletes (the engine treats a stale copy of a
# declared rule as ours), and the declared rules from there on are missing, so the plan shows them as
# creates. Creates run first, in manifest order (the first create of a run makes them all, one after the
# other, whatever order the engine calls them in), then the deletes: new ids are above every old one, so
# the resulting id order is the manifest's. Rules whose key is not declared (added by hand) are left where
# they are and never reordered.
INDEX = "/admin/regexp/index"


def stale_key(key: str, row_id: str) -> str:
    return f"{key} (row {row_id})"


@dataclass
class _Creates:
    """The creates a run owes, in manifest order, done in one go by the first create call."""

    order: list[str]
    entries: dict[str, Regexp]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    results: dict[str, LiveObject | MispError] | None = None


_CREATES: weakref.WeakKeyDictionary[MispClient, _Creates] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class RegexpAdapter:
    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        rows = await self.read(client)
        if not declared:  # a re-read after a lost answer: plain keys, no ordering
            return rows
        order = list(declared)
        managed = [row for row in rows if row["key"] in declared]
        first = 0
        while first < min(len(managed), len(order)) and managed[first]["key"] == order[first]:
            first += 1
        for row in managed[first:]:
            row["stale_copy_of"] = row["key"]
        seen: set[str] = set()
        for row in rows:  # a second row of the same undeclared rule: a key of its own
            if row["key"] in seen and "stale_copy_of" not in row:
                row["duplicate_of"] = row["key"]
            seen.add(row["key"])
        entries = {key: entry for key, entry in declared.items() if isinstance(entry, Regexp)}
        _CREATES[client] = _Creates(order[first:], entries)
        return rows

    async def read(self, client: MispClient) -> list[dict[str, Any]]:
        tree = LexborHTMLParser(await session_for(client, "regexps").get(INDEX))
        rows = []
        for tr in tree.css("div.regexp table tr"):
            cells = tr.css("td")
            if len(cells) < 4 or not cells[0].text(strip=True).isdigit():
                continue
            regexp, replacement, type_ = cells[1].text(), cells[2].text(), cells[3].text(strip=True)
            rows.append({"id": cells[0].text(strip=True), "regexp": regexp, "replacement": replacement,
                         "type": type_, "key": regexp_key(regexp, replacement, type_)})
        return sorted(rows, key=lambda row: int(row["id"]))

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        rid, key = str(raw["id"]), str(raw["key"])
        if raw.get("stale_copy_of") or raw.get("duplicate_of"):
            key = stale_key(key, rid)
        fields = {"regexp": raw["regexp"], "replacement": raw["replacement"], "type": raw["type"]}
        return LiveObject(key=key, id=rid, fields=fields, raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Regexp)
        return {"regexp": entry.regexp, "replacement": entry.replacement, "type": entry.type}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, Regexp)
        key = KIND.key_of(entry)
        batch = _CREATES.get(client)
        if batch is None or key not in batch.order:
            return await self.add(client, entry)
        async with batch.lock:
            if batch.results is None:
                batch.results = {}
                failed: str | None = None
                for pending in batch.order:
                    if failed is not None:
                        batch.results[pending] = MispError(
                            f"not created: regexps are created in manifest order and {failed!r} failed")
                        continue
                    try:
                        batch.results[pending] = await self.add(client, batch.entries[pending])
                    except MispError as exc:
                        batch.results[pending], failed = exc, pending
        result = batch.results.get(key)
        if isinstance(result, MispError):
            raise result
        return result if result is not None else await self.add(client, entry)

    async def add(self, client: MispClient, entry: Regexp) -> LiveObject:
        if entry.type != "ALL":
            raise MispError(f"regexp {entry.regexp!r}: only type ALL can be written by this version (MISP "
                            f"stores other types as attribute-type flags); {entry.type!r} is not supported yet")
        await client.post("/admin/regexp/add", {"Regexp": {"regexp": entry.regexp,
                                                           "replacement": entry.replacement, "all": 1}})
        key = KIND.key_of(entry)
        mine = [row for row in await self.read(client) if row["key"] == key]
        if not mine:
            raise MispError(f"regexp {entry.regexp!r} was saved but is not in MISP's index")
        row = mine[-1]  # the newest row of that rule: the one just made
        return LiveObject(key=key, id=str(row["id"]), fields={"regexp": entry.regexp, "replacement": entry.replacement, "type": entry.type}, raw=row)

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        return live  # every field is part of the key: a different rule is a delete and a create

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        try:
            await client.post(f"/admin/regexp/delete/{live.id}")
        except Rejected as exc:
            if exc.status != 404:  # 404: already gone
                raise


KIND = Kind(name="regexps", model=Regexp, key=lambda e: regexp_key(e.regexp, e.replacement, e.type),
            key_fields=("regexp", "replacement", "type"), adapter=RegexpAdapter())
