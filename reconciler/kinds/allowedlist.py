"""The allowedlist ("block from export"): regular expressions; MISP only manages it over a web session."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import field_validator
from selectolax.lexbor import LexborHTMLParser

from reconciler.backend.errors import MispError
from reconciler.backend.web import session_for
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import saved
from reconciler.kinds._regex import check_pcre

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class AllowedlistEntry(Entry):
    name: str

    @field_validator("name")
    @classmethod
    def _pcre(cls, value: str) -> str:
        return check_pcre(value)




# -- adapter: MISP's web pages (MISP answers every API call here with a redirect to its login page) ------
INDEX = "/admin/allowedlists/index"
NAME_FIELD = "data[Allowedlist][name]"
MAX_PAGES = 1000  # a pager that never ends is MISP misbehaving, not a list to read forever


@dataclass(frozen=True)
class AllowedlistAdapter:
    """Reads the HTML index page by page (CakePHP's pager, `rel="next"`), writes through the add and delete
    forms with the CSRF tokens each page carries. Entries are keyed by their regex; an entry has no other
    field, so a changed regex is a delete and a create, never an edit."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        rows: list[dict[str, Any]] = []
        async for _path, page_rows, _tree in self.pages(client):
            rows.extend(page_rows)
        return rows

    async def pages(self, client: MispClient) -> AsyncIterator[tuple[str, list[dict[str, Any]], LexborHTMLParser]]:
        session = session_for(client, "allowedlist")
        path: str | None = INDEX
        for _ in range(MAX_PAGES):
            if path is None:
                return
            tree = LexborHTMLParser(await session.get(path))
            rows = []
            for tr in tree.css("div.allowedlists table tr"):
                cells = tr.css("td")
                if len(cells) >= 2:
                    rows.append({"id": cells[0].text(strip=True), "name": cells[1].text(strip=True)})
            yield path, rows, tree
            nxt = tree.css_first('.pagination li.next a[rel="next"]')
            href = nxt.attributes.get("href") if nxt is not None else None
            path = urlsplit(href).path if href else None

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        name, rid = str(raw.get("name") or ""), str(raw.get("id") or "")
        return LiveObject(key=name, id=rid, fields={"name": name}, raw=raw) if name and rid else None

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, AllowedlistEntry)
        return {"name": entry.name}

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, AllowedlistEntry)
        await session_for(client, "allowedlist").submit("/admin/allowedlists/add", "form#AllowedlistForm",
                                                        {NAME_FIELD: entry.name})
        async for _path, rows, _tree in self.pages(client):  # the id: MISP's redirect does not say it
            for row in rows:
                if row["name"] == entry.name.strip():
                    return saved(self.parse(row, names))
        raise MispError(f"allowedlist entry {entry.name!r} was saved but is not in MISP's index")

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        return live  # the regex is the key: nothing else to change

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        action = f"/admin/allowedlists/delete/{live.id}"
        async for path, _rows, tree in self.pages(client):  # the page listing it holds its delete form
            if tree.css_first(f'form[action="{action}"]') is not None:
                await session_for(client, "allowedlist").submit(path, f'form[action="{action}"]')
                return
        # already gone: nothing to do


KIND = Kind(name="allowedlist", model=AllowedlistEntry, key=lambda e: e.name, scalar_field="name",
            adapter=AllowedlistAdapter())
