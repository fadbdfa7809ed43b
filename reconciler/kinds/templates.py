"""Event templates: text, attribute and file elements, and the tags events created from them get."""

# NOTE TO EVERY ENGINEER: this module is in use by the engine (models, adapters, loader). Extend it with
# surgical edits; do not rewrite or regenerate it, other code and tests depend on what is here.

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from selectolax.lexbor import LexborHTMLParser

from reconciler.backend.errors import MispError, Rejected
from reconciler.backend.web import session_for
from reconciler.kinds._kind import Entry, Kind, LiveObject, Names
from reconciler.kinds._misp import saved
from reconciler.model.fields import AsSet, Ordered

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class TextElement(Strict):
    name: str
    text: str = ""


class AttributeElement(Strict):
    name: str
    category: str
    type: str
    description: str = ""
    mandatory: bool = False
    batch: bool = False
    to_ids: bool = False


class FileElement(Strict):
    name: str
    category: str
    description: str = ""
    malware: bool = False
    mandatory: bool = False
    batch: bool = False


class Element(Strict):
    """Exactly one of text, attribute, file."""

    text: TextElement | None = None
    attribute: AttributeElement | None = None
    file: FileElement | None = None

    @model_validator(mode="after")
    def _one(self) -> Element:
        if sum(x is not None for x in (self.text, self.attribute, self.file)) != 1:
            raise ValueError("an element is exactly one of text, attribute or file")
        return self


class Template(Entry):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    share: bool = False
    tags: Annotated[list[str], AsSet()] = []
    elements: Annotated[list[Element], Ordered()] = []



# -- adapter: MISP's web pages ------------------------------------------------------------------------
# MISP 2.5.1 has no JSON read API for templates (index/view answer 500 to an API key) and black-holes every
# API write, so everything goes through a web session (reconciler.backend.web), as a browser would.
INDEX = "/templates/index"
MAX_INDEX_PAGES = 200  # CakePHP's pager, 50 templates a page: a bound, never reached in practice
ADD_FORM, EDIT_FORM = "form#TemplateAddForm", "form#TemplateEditForm"  # CakePHP's Form->create('Template')
FIELD = "data[Template][{}]"
# MISP's fresh install ships these four, owned by "MISP": never read, changed or deleted unless declared.
BUILT_IN = frozenset({"Phishing E-mail", "Phishing E-mail with malicious attachment", "Malware Report",
                      "Indicator List"})
WRAPPERS = {"text": "TemplateElementText", "attribute": "TemplateElementAttribute", "file": "TemplateElementFile"}


def _flag(value: bool) -> str:
    return "1" if value else "0"


def element_kind(element: Element) -> tuple[str, TextElement | AttributeElement | FileElement]:
    for kind in ("text", "attribute", "file"):
        value = getattr(element, kind)
        if value is not None:
            return kind, value
    raise AssertionError("an element is exactly one of text, attribute or file")


def element_summary(element: Element) -> dict[str, str]:
    """What MISP's view page shows of an element: its kind and its name (the canonical `elements`)."""
    kind, value = element_kind(element)
    return {kind: value.name.strip()}


def element_details(element: Element) -> dict[str, object]:
    """Everything of an element but its kind and name (those are `elements`), as MISP's element index shows
    it: text without surrounding whitespace (the page pads each value with a space and a non-breaking one)."""
    _kind, value = element_kind(element)
    details = value.model_dump(exclude={"name"})
    return {name: v.strip() if isinstance(v, str) else v for name, v in details.items()}


def element_form(element: Element) -> tuple[str, dict[str, str]]:
    """The element kind and the form fields MISP's element add popup posts."""
    kind, value = element_kind(element)
    prefix = f"data[{WRAPPERS[kind]}]"
    if isinstance(value, TextElement):
        fields = {"name": value.name, "text": value.text}
    elif isinstance(value, AttributeElement):
        fields = {"name": value.name, "description": value.description, "category": value.category,
                  "type": value.type, "complex": "0", "to_ids": _flag(value.to_ids),
                  "mandatory": _flag(value.mandatory), "batch": _flag(value.batch)}
    else:
        fields = {"name": value.name, "description": value.description, "category": value.category,
                  "malware": _flag(value.malware), "mandatory": _flag(value.mandatory), "batch": _flag(value.batch)}
    return kind, {f"{prefix}[{name}]": text for name, text in fields.items()}


# MISP 2.5.1's element index (TemplateElements/ajax/ajaxIndex.ctp and View/Elements/templateElements/
# templateRow{Text,Attribute,File}.ctp): one <li id="id_N"> per element, in position order, each value in a
# `templateTableArea` div named by its CSS class; Yes/No flags are the `templateTableTDShort` areas, in this
# order. Labels are translated, so the classes and positions are what we read, never the label text.
AREAS = {"templateTableTDName": "name", "templateTableTDText": "text", "templateTableTDDescription": "description",
         "templateTableTDDescriptionFile": "description", "templateTableTDCategory": "category",
         "templateTableTDTypes": "type"}
FLAGS = {"attribute": ("mandatory", "batch", "to_ids"), "file": ("malware", "mandatory", "batch"), "text": ()}
EDIT_CALL = re.compile(r"editTemplateElement\('(?P<kind>[a-z]+)'")
HEADERS = {"Text": "text", "Attribute": "attribute", "File": "file"}


def parse_element_index(page: str) -> list[dict[str, Any]]:
    """Each element of the index: id, kind, and its values (flags as booleans)."""
    elements = []
    for li in LexborHTMLParser(page).css("li.templateTableRow"):
        element_id = (li.attributes.get("id") or "").removeprefix("id_")
        edit = li.css_first("span.fa-edit")
        match = EDIT_CALL.search(edit.attributes.get("onclick") or "") if edit is not None else None
        header = li.css_first(".templateElementHeaderText")
        kind = match["kind"] if match else HEADERS.get(header.text(strip=True) if header is not None else "", "")
        values: dict[str, object] = {}
        flags = iter(FLAGS.get(kind, ()))
        for area in li.css("div.templateTableArea"):
            classes = (area.attributes.get("class") or "").split()
            cell = area.css_first("div.templateTableColumnName + div")
            text = (cell.text() if cell is not None else "").strip()  # str.strip drops the trailing &nbsp;
            if "templateTableTDShort" in classes:
                name = next(flags, None)
                if name is not None:
                    values[name] = text == "Yes"
                continue
            name = next((AREAS[c] for c in classes if c in AREAS), None)
            if name == "type" and cell is not None and (group := cell.css_first("span")) is not None:
                text = group.text(strip=True)  # a complex type: its group's name, then its member types
            if name is not None:
                values[name] = text
        elements.append({"id": element_id, "kind": kind, "name": values.pop("name", ""), "details": values})
    return elements


# MISP 2.5.1's templates index (View/Templates/index.ctp through genericElements/IndexTable/*): CakePHP's
# pager (50 a page, newest first, `rel="next"` on the next page's link); every cell names what it shows in
# `data-path`. The column headed "Name" shows `Template.org` (a MISP bug): the index holds no template name,
# so the name is read from each template's view page.
INDEX_CELLS = {"Template.id": "id", "Template.description": "description", "Template.org": "org"}


def parse_index(page: str) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of one index page (id, org, share, description) and the path of the next page, if any."""
    tree = LexborHTMLParser(page)
    rows: list[dict[str, Any]] = []
    for tr in tree.css("table tr"):
        cells = {td.attributes.get("data-path"): td for td in tr.css("td[data-path]")}
        if "Template.id" not in cells:
            continue
        row: dict[str, Any] = {name: cells[path].text().strip() for path, name in INDEX_CELLS.items()
                               if path in cells}
        share = cells.get("Template.share")
        row["share"] = share is not None and share.css_first("i.fa-check") is not None
        if str(row.get("id", "")).isdigit():
            rows.append(row)
    nxt = tree.css_first('.pagination a[rel="next"]')
    href = nxt.attributes.get("href") if nxt is not None else None
    return rows, (urlsplit(href).path or None) if href else None


# MISP 2.5.1's template view page (View/Templates/view.ctp through genericElements/SingleViews/single_view.ctp):
# a `table.meta_table` of rows `td.meta_table_key` (the label) and `td.meta_table_value`, in this order: Id,
# Name, Description, Tags, Organisation, Shareable. Tags are `span.tagComplete` (SingleViews/Fields/
# tagsField.ctp), the share flag is a `fa-check` or `fa-times` icon (booleanField.ctp): both are read by their
# structure. Name, description and organisation are plain text told apart only by their label, so we match
# MISP's English labels, and fall back on view.ctp's fixed row order when they are translated.
VIEW_LABELS = {"Name": "name", "Description": "description", "Organisation": "org"}
VIEW_ORDER = ("id", "name", "description", "tags", "org", "share")


def parse_view(page: str) -> dict[str, Any]:
    """Name, description, org, share and tag names of a template's view page."""
    table = LexborHTMLParser(page).css_first("table.meta_table")
    if table is None:
        raise MispError("MISP's template view page has no `table.meta_table`: not the MISP 2.5.1 page layout")
    rows = [(tr.css_first("td.meta_table_key"), tr.css_first("td.meta_table_value")) for tr in table.css("tr")]
    cells = {VIEW_LABELS[k.text(strip=True)]: v for k, v in rows
             if k is not None and v is not None and k.text(strip=True) in VIEW_LABELS}
    if len(cells) < len(VIEW_LABELS) and len(rows) == len(VIEW_ORDER):  # labels translated: by position
        cells = {name: v for name, (_k, v) in zip(VIEW_ORDER, rows, strict=True)
                 if name in VIEW_LABELS.values() and v is not None}
    if "name" not in cells:
        raise MispError("MISP's template view page shows no template name: not the MISP 2.5.1 page layout")
    # str.strip: each value is followed by a space, and an empty tag list is a lone non-breaking space
    out: dict[str, Any] = {name: cell.text().strip() for name, cell in cells.items()}
    out["tags"] = [span.text(strip=True) for span in table.css("span.tagComplete")]
    out["share"] = table.css_first("i.fa-check") is not None
    return out


@dataclass(frozen=True)
class TemplateAdapter:
    """Event templates through MISP's web pages.

    Read: MISP's HTML index lists every template's id, owner org, share flag and description, page by page,
    but not its name (its "Name" column shows the org), so `fetch` reads each listed template's view page too:
    name, description, org, share and tags (one request per template, an exception to the Adapter protocol's
    one-read-per-kind rule that MISP's pages leave no way around). The elements are on the element index that
    page loads, which `fetch` reads for each *declared* template (the per-declared-object read exception;
    undeclared templates need no elements, they are only ever deleted). MISP's four built-in templates are
    left out unless declared, so they are never changed or deleted by accident.

    Elements: MISP's view page loads them from the element index (`/templateElements/index/<id>`, an HTML
    fragment), which shows every element in order with all its values. `elements` is each element's kind and
    name in order (drift in order, kind or name shows); `element_details` holds the rest of each element by
    position (`element_details["2"]["category"]`), so a detail changed in MISP shows as exactly that field.
    When either differs, the update deletes every element of the template and adds the declared ones again in
    manifest order (MISP appends an added element at the last position), rather than editing elements one
    by one.

    Writes: the add and edit forms with their CSRF tokens, the delete confirmation MISP's index opens in a
    modal; elements through MISP's AJAX endpoints. `tags` is a JSON list of tag ids in the form, and the edit
    form always starts from an empty list (MISP's script fills it in the browser), so an edit always sends
    the tags, the live ones when the manifest does not state them. Note MISP makes the writer's organisation
    the owner of a template it saves (an edit by a site admin takes ownership)."""

    async def fetch(self, client: MispClient, declared: Mapping[str, Entry]) -> Sequence[Mapping[str, Any]]:
        session = session_for(client, "templates")
        listed: dict[str, dict[str, Any]] = {}
        path: str | None = INDEX
        for _ in range(MAX_INDEX_PAGES):
            if path is None:
                break
            page_rows, path = parse_index(await session.get(path))
            listed.update((row["id"], row) for row in page_rows)
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for template_id in sorted(listed, key=int):  # MISP lists newest first; the lowest id wins a name
            row = {**listed[template_id], **parse_view(await session.get(f"/templates/view/{template_id}"))}
            if row["name"] in seen:
                continue  # MISP does not keep names unique: the first (lowest id) one is the one managed
            seen.add(row["name"])
            if row["name"] in BUILT_IN and row["name"] not in declared:
                continue  # by name only: editing a built-in in MISP's UI makes the editor's org its owner
            if row["name"] in declared:
                row["elements"] = await self.elements(client, template_id)
            rows.append(row)
        return rows

    async def elements(self, client: MispClient, template_id: str) -> list[dict[str, Any]]:
        page = await session_for(client, "templates").get(f"/templateElements/index/{template_id}")
        return parse_element_index(page)

    async def view(self, client: MispClient, template_id: str) -> dict[str, Any]:
        """One template as its view page and its element index show it."""
        page = await session_for(client, "templates").get(f"/templates/view/{template_id}")
        return {"id": template_id, **parse_view(page), "elements": await self.elements(client, template_id)}

    def parse(self, raw: Mapping[str, Any], names: Names) -> LiveObject | None:
        name, rid = str(raw.get("name") or ""), str(raw.get("id") or "")
        if not name or not rid:
            return None
        fields: dict[str, object] = {"name": name, "description": str(raw.get("description") or ""),
                                     "share": bool(raw.get("share"))}
        if "tags" in raw:
            fields["tags"] = sorted(str(t) for t in raw.get("tags") or [])
        if "elements" in raw:
            elements = raw.get("elements") or []
            fields["elements"] = [{str(e["kind"]): str(e["name"])} for e in elements]
            fields["element_details"] = {str(n): dict(e.get("details") or {}) for n, e in enumerate(elements, 1)}
        return LiveObject(key=name, id=rid, fields=fields, raw=raw)

    def desired(self, entry: Entry, names: Names) -> dict[str, object]:
        assert isinstance(entry, Template)
        stated = entry.model_fields_set
        want: dict[str, object] = {"name": entry.name}
        if "description" in stated:
            want["description"] = entry.description.strip()  # as the view page shows it: padded, so stripped
        if "share" in stated:
            want["share"] = entry.share
        if "tags" in stated:
            want["tags"] = sorted(set(entry.tags))
        if "elements" in stated:
            want["elements"] = [element_summary(e) for e in entry.elements]
            want["element_details"] = {str(n): element_details(e) for n, e in enumerate(entry.elements, 1)}
        return want

    def form(self, entry: Template, names: Names, live: LiveObject | None = None) -> dict[str, str]:
        """The add form (`live` None: every field) or the edit form (the stated fields; the edit form holds
        the current description and share flag, but its tag list always comes empty, see the class)."""
        stated = entry.model_fields_set
        values = {FIELD.format("name"): entry.name}
        if live is None or "description" in stated:
            values[FIELD.format("description")] = entry.description
        if live is None or "share" in stated:
            values[FIELD.format("share")] = _flag(entry.share)
        tags = entry.tags if live is None or "tags" in stated else live.fields.get("tags")
        if not isinstance(tags, list):
            raise MispError(f"template {entry.name!r}: its live tags were not read, an edit would remove them")
        try:
            ids = [int(names.id_of("tags", str(t))) for t in sorted(set(tags))]
        except KeyError as exc:
            raise MispError(f"template {entry.name!r}: tag {exc} is not known to MISP") from None
        values[FIELD.format("tags")] = json.dumps(ids)
        return values

    async def add_elements(self, client: MispClient, template_id: str, entry: Template) -> None:
        session = session_for(client, "templates")
        for element in entry.elements:  # MISP appends each one: manifest order is the resulting order
            kind, values = element_form(element)
            try:
                await session.ajax(f"/templateElements/add/{kind}/{template_id}", values)
            except Rejected as exc:
                raise MispError(f"template {entry.name!r}: MISP refused the {kind} element "
                                f"{element_kind(element)[1].name!r}: {exc}") from exc

    async def reread(self, client: MispClient, entry: Template, template_id: str, names: Names) -> LiveObject:
        return saved(self.parse(await self.view(client, template_id), names))

    async def create(self, client: MispClient, entry: Entry, names: Names) -> LiveObject:
        assert isinstance(entry, Template)
        response = await session_for(client, "templates").submit("/templates/add", ADD_FORM,
                                                                 self.form(entry, names))
        template_id = urlsplit(response.headers.get("location", "")).path.rstrip("/").rsplit("/", 1)[-1]
        if not template_id.isdigit():
            raise MispError(f"template {entry.name!r} was saved but MISP did not say its id "
                            f"(redirected to {response.headers.get('location')!r})")
        await self.add_elements(client, template_id, entry)
        return await self.reread(client, entry, template_id, names)

    async def update(self, client: MispClient, entry: Entry, live: LiveObject,
                     changed: Mapping[str, object], names: Names) -> LiveObject:
        assert isinstance(entry, Template)
        session = session_for(client, "templates")
        if set(changed) & {"name", "description", "share", "tags"}:
            await session.submit(f"/templates/edit/{live.id}", EDIT_FORM, self.form(entry, names, live))
        if set(changed) & {"elements", "element_details"}:
            current = live.raw.get("elements")
            if current is None:
                current = await self.elements(client, live.id)
            for element in current:
                try:
                    await session.ajax(f"/templateElements/delete/{element['id']}")
                except Rejected as exc:
                    if exc.status != 404:  # 404: already gone
                        raise
            await self.add_elements(client, live.id, entry)
        return await self.reread(client, entry, live.id, names)

    async def delete(self, client: MispClient, live: LiveObject, names: Names) -> None:
        """The index's trash icon opens `/templates/delete/<id>` in a modal (CRUD component, genericTemplates/
        delete.ctp), whose Delete button posts a hidden form back to that address."""
        path = f"/templates/delete/{live.id}"
        try:
            await session_for(client, "templates").submit(path, f'form[action$="{path}"]')
        except Rejected as exc:
            if exc.status != 404:  # 404 "Invalid Template.": already gone
                raise


KIND = Kind(name="templates", model=Template, key=lambda e: e.name, refs={"tags": "tags"},
            adapter=TemplateAdapter())
