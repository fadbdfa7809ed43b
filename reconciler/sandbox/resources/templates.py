"""Event templates, their elements and tags (transcripts templates--api-surface, templates--elements-crud).

MISP 2.5.1 has no JSON views for templates: over the API, index/view/forms answer 500 and every template
write is black-holed by the Security component (400), whatever the body. What works is the browser: HTML
forms with CSRF tokens over a web session, which is what the reconciler drives. Template elements are
AJAX endpoints (`X-Requested-With: XMLHttpRequest`) answering MISP's legacy `{saved, success|errors}`.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.responses import Response

from reconciler.sandbox.http import (
    INTERNAL_ERROR,
    NO_PERMISSION,
    Ctx,
    MispAbort,
    misp_error,
    misp_json,
    route,
)
from reconciler.sandbox.resources.web import BLACK_HOLED, page, posted_form, redirect, token_inputs
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from reconciler.sandbox.app import SandboxState

NOT_VISIBLE = "No template with the provided ID exists, or you are not authorised to see it."
AJAX_ONLY = "This action is for ajax requests only."
EMPTY = "This field cannot be left empty."
FIELDS = ("data[Template][name]", "data[Template][description]", "data[Template][share]", "data[Template][tags]")
ELEMENT_TABLES = {"text": ("template_element_texts", "TemplateElementText", ("name", "text")),
                  "attribute": ("template_element_attributes", "TemplateElementAttribute",
                                ("name", "description", "category", "type", "complex", "to_ids", "mandatory",
                                 "batch")),
                  "file": ("template_element_files", "TemplateElementFile",
                           ("name", "description", "category", "malware", "mandatory", "batch"))}
BUILT_IN = (  # MISP's fresh install ships these four shared templates owned by "MISP" (ids 1-4)
    ("Phishing E-mail", "Create a MISP event about a Phishing E-mail."),
    ("Phishing E-mail with malicious attachment",
     "A MISP event based on Spear-phishing containing a malicious attachment."),
    ("Malware Report", "This is a template for a generic malware report."),
    ("Indicator List", "A simple template for indicator lists."),
)


def seed(state: SandboxState) -> None:
    state.store.insert_many("templates", [{"name": name, "description": description, "org": "MISP", "share": 1}
                                          for name, description in BUILT_IN])


# -- helpers -------------------------------------------------------------------------------------------
def _is_web(ctx: Ctx) -> bool:
    return ctx.authkey is None  # web_or_user routes: no API key means the browser session let us in


def _no_view(ctx: Ctx) -> MispAbort:
    """The API asked for a view MISP only has in HTML: 500 (templates--api-surface #0, #1, #3, #9)."""
    return misp_error(500, INTERNAL_ERROR, ctx.url)


def _org_name(ctx: Ctx) -> str:
    org = ctx.store.get("organisations", (ctx.user or {}).get("org_id") or 0)
    return str(org["name"]) if org else ""


def _visible(ctx: Ctx, row: Row | None) -> bool:
    return row is not None and (ctx.is_site_admin or bool(row["share"]) or row["org"] == _org_name(ctx))


def _may_write(ctx: Ctx, row: Row | None) -> bool:
    if not ctx.perm("perm_template"):
        return False
    return row is None or ctx.is_site_admin or row["org"] == _org_name(ctx)


def _template(ctx: Ctx, index: int = 0) -> Row | None:
    text = ctx.args[index] if len(ctx.args) > index else ""
    return ctx.store.get("templates", text) if text.isdigit() else None


def _forbidden(ctx: Ctx) -> MispAbort:
    if _is_web(ctx):
        return MispAbort(page(ctx, "Forbidden", f"<h2>{NO_PERMISSION}</h2>", status=403))
    return ctx.deny()


def _tag_ids(text: str) -> list[int]:
    """`tags` is a JSON-encoded list of tag ids; anything else means no tags."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [int(v) for v in value if str(v).isdigit()] if isinstance(value, list) else []


def _set_tags(ctx: Ctx, template_id: int, tags: list[int]) -> None:
    ctx.store.delete("template_tags", template_id=template_id)
    known = [t for t in tags if ctx.store.get("tags", t) is not None]
    ctx.store.insert_many("template_tags", [{"template_id": template_id, "tag_id": t} for t in known])


# -- templates -----------------------------------------------------------------------------------------
def _row_html(ctx: Ctx, row: Row) -> str:
    rid = int(row["id"])
    head, tail = token_inputs(ctx, f"/templates/delete/{rid}", ())
    return (f'<tr><td class="short">{rid}</td><td class="short">{"Yes" if row["share"] else "No"}</td>'
            f'<td>{html.escape(row["org"] or "")}</td><td>{html.escape(row["name"] or "")}</td>'
            f'<td>{html.escape(row["description"] or "")}</td><td class="short action-links">'
            f'<a href="/templates/view/{rid}" class="fa fa-eye" title="View"></a>'
            f'<a href="/templates/edit/{rid}" class="fa fa-edit" title="Edit"></a>'
            f'<form action="/templates/delete/{rid}" id="post_{rid}" style="display:none;" method="post">'
            f'{head}{tail}</form><a href="#" class="fa fa-trash" title="Delete"></a></td></tr>')


@route("/templates/index", access="web_or_user")
def index(ctx: Ctx) -> Response:
    if not _is_web(ctx):
        raise _no_view(ctx)
    rows = [r for r in ctx.store.all("templates") if _visible(ctx, r)]
    table = ('<table class="table table-striped table-hover table-condensed"><tr><th>Id</th><th>Shareable</th>'
             '<th>Owner</th><th>Name</th><th>Description</th><th class="actions">Actions</th></tr>'
             + "".join(_row_html(ctx, r) for r in rows) + "</table>")
    return page(ctx, "Templates", f'<div class="templates index"><h2>Templates</h2>{table}</div>')


def _elements(ctx: Ctx, template_id: int) -> list[tuple[Row, Row | None]]:
    out = []
    for element in sorted(ctx.store.find("template_elements", template_id=template_id),
                          key=lambda e: (e["position"] or 0, e["id"])):
        table = ELEMENT_TABLES.get(element["element_definition"], ("", "", ()))[0]
        out.append((element, ctx.store.first(table, template_element_id=element["id"]) if table else None))
    return out


ELEMENT_HEADERS = {"text": "Text", "attribute": "Attribute", "file": "File"}
# (CSS class of the area, label) per element kind, in the order MISP's element rows show them; the last
# three of attributes and files are `templateTableTDShort` Yes/No flags.
ELEMENT_AREAS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "text": (("templateTableTDName", "Name", "name"), ("templateTableTDText", "Text", "text")),
    "attribute": (("templateTableTDName", "Name", "name"), ("templateTableTDDescription", "Description", "description"),
                  ("templateTableTDCategory", "Category", "category"), ("templateTableTDTypes", "Types", "type"),
                  ("templateTableTDShort", "Mandatory", "mandatory"), ("templateTableTDShort", "Batch", "batch"),
                  ("templateTableTDShort", "IDS", "to_ids")),
    "file": (("templateTableTDName", "Name", "name"), ("templateTableTDDescriptionFile", "Description", "description"),
             ("templateTableTDCategory", "Category", "category"), ("templateTableTDShort", "Malware", "malware"),
             ("templateTableTDShort", "Req.", "mandatory"), ("templateTableTDShort", "Batch", "batch")),
}
FLAG_COLUMNS = frozenset({"mandatory", "batch", "to_ids", "malware"})


def _area(css: str, label: str, value: str, *, nbsp: bool = True) -> str:
    return (f'<div class="{css} templateTableArea"><div class="templateTableColumnName">{label}</div>'
            f'<div class="">{value}{"&nbsp;" if nbsp else ""}</div></div>')


def _element_row(ctx: Ctx, element: Row, sub: Row | None, may_modify: bool) -> str:
    """One element as MISP 2.5.1's element index shows it (View/Elements/templateElements/templateRow*.ctp):
    a header naming the kind, then one labelled area per column (flags as Yes/No), then the actions."""
    kind, eid = str(element["element_definition"]), int(element["id"])
    values = dict(sub or {})
    areas = []
    for css, label, column in ELEMENT_AREAS.get(kind, ()):
        value = values.get(column)
        if column in FLAG_COLUMNS:
            text = "Yes" if value else "No"
        elif column == "type" and values.get("complex"):
            text = f'<span style="color:red">{html.escape(str(value or ""))}</span> ()'  # group members: not kept
        else:
            text = html.escape(str(value or ""))
        areas.append(_area(css, label, text))
    actions = "&nbsp;"
    if may_modify:
        head, tail = token_inputs(ctx, "/templateElements/delete", ())
        actions = (f'<form action="/templateElements/delete" class="inline-delete" style="display:inline-block;" '
                   f'id="TemplateElement_{eid}_delete" method="post" accept-charset="utf-8">{head}{tail}</form>'
                   f'<span class="fa fa-trash useCursorPointer" title="Delete template element" role="button" '
                   f'tabindex="0" aria-label="Delete template element" onClick="deleteObject(\'template_elements\', '
                   f'\'delete\' ,\'{eid}\', \'{element["template_id"]}\');"></span>'
                   f'<span class="fa fa-edit useCursorPointer" title="Edit template element" role="button" '
                   f'tabindex="0" aria-label="Edit template element" onClick="editTemplateElement(\'{kind}\' '
                   f',\'{eid}\');"></span>')
    areas.append(_area("templateTableTDActions", "Actions", actions, nbsp=False))
    table = '<table style="width:100%">' if kind == "attribute" else '<table class="templateTable">'
    return (f'<li id="id_{eid}" class="templateTableRow"><div class="templateElementHeader" '
            f'style="width:100%; position:relative;"><div class="templateGlass"></div>'
            f'<div class ="templateElementHeaderText">{ELEMENT_HEADERS.get(kind, kind)}</div></div>'
            f'{table}<tr><td><div style="display:inline">{"".join(areas)}</div></td></tr></table></li>')


def _elements_html(ctx: Ctx, template: Row) -> str:
    """MISP's element index fragment (TemplateElements/ajax/ajaxIndex.ctp, rendered without a layout): the
    template view page loads it into its `#templateElements` div."""
    template_id = int(template["id"])
    may_modify = ctx.is_site_admin or template["org"] == _org_name(ctx)
    rows = "".join(_element_row(ctx, e, sub, may_modify) for e, sub in _elements(ctx, template_id))
    sortable = ' id="sortable"' if may_modify else ""
    add = (f'<div id="AddTemplateElementDiv" role="button" tabindex="0" aria-label="Add a new template element" '
           f'title="Add a new template element" class="addTemplateElement useCursorPointer" '
           f'onClick="templateAddElementClicked({template_id});">+</div>') if may_modify else ""
    return (f'<div id="ajaxTemplateElementsIndex"><h2>Template Elements</h2><ul{sortable} '
            f'style="list-style:none; margin:0px;">{rows}</ul>{add}</div>')


@route("/templates/view", access="web_or_user")
def view(ctx: Ctx) -> Response:
    row = _template(ctx)
    if not _visible(ctx, row):
        raise misp_error(404, NOT_VISIBLE, ctx.url)
    assert row is not None
    if not _is_web(ctx):
        raise _no_view(ctx)
    tags = [ctx.store.get("tags", t["tag_id"]) for t in ctx.store.find("template_tags", template_id=row["id"])]
    tag_items = "".join(f'<li class="template-tag" data-id="{t["id"]}">{html.escape(t["name"])}</li>'
                        for t in tags if t)
    body = (f'<div class="templates view"><h2>{html.escape(row["name"] or "")}</h2><dl>'
            f'<dt>Id</dt><dd id="templateId">{row["id"]}</dd>'
            f'<dt>Name</dt><dd id="templateName">{html.escape(row["name"] or "")}</dd>'
            f'<dt>Description</dt><dd id="templateDescription">{html.escape(row["description"] or "")}</dd>'
            f'<dt>Owner</dt><dd id="templateOrg">{html.escape(row["org"] or "")}</dd>'
            f'<dt>Shareable</dt><dd id="templateShare">{"Yes" if row["share"] else "No"}</dd></dl>'
            f'<ul id="templateTags">{tag_items}</ul>'
            # as MISP's view page: the elements are not on it, its script loads the element index in here
            f'<div id="templateElements" class="view"><script type="text/javascript">$(document).ready('
            f'function() {{ updateIndex({row["id"]}, \'template\'); }});</script></div></div>')
    return page(ctx, "Template", body)


def _form(ctx: Ctx, action: str, values: dict[str, str], errors: dict[str, str]) -> Response:
    head, tail = token_inputs(ctx, action, FIELDS)

    def field(name: str, label: str) -> str:
        key = f"data[Template][{name}]"
        error = f'<div class="error-message">{html.escape(errors[name])}</div>' if name in errors else ""
        return (f'<div class="input text"><label>{label}</label><input name="{key}" type="text" '
                f'value="{html.escape(values.get(key, ""))}" id="Template{name.title()}"/>{error}</div>')

    share = "checked" if values.get(FIELDS[2]) == "1" else ""
    body = (f'<div class="templates form"><form action="{action}" id="TemplateForm" method="post">{head}'
            f'{field("name", "Name")}{field("description", "Description")}'
            f'<input type="hidden" name="{FIELDS[2]}" value="{values.get(FIELDS[2], "0")}" {share}/>'
            f'<input type="hidden" name="{FIELDS[3]}" value="{html.escape(values.get(FIELDS[3], "[]"))}"/>'
            f'<button type="submit" class="btn btn-primary">Submit</button>{tail}</form></div>')
    return page(ctx, "Template", body)


def _save(ctx: Ctx, action: str, row: Row | None) -> Response:
    """The POSTed form: validate (name and description must not be empty), save, set the tag links."""
    form = posted_form(ctx, action)
    values: dict[str, Any] = {"name": form.get(FIELDS[0], "").strip(), "description": form.get(FIELDS[1], "").strip(),
              # Quirk (reference identity §9): org becomes the writer's org name, on edit too.
              "share": 1 if form.get(FIELDS[2]) in ("1", "on", "true") else 0, "org": _org_name(ctx)}
    errors = {k: EMPTY for k in ("name", "description") if not values[k]}
    if errors:
        return _form(ctx, action, form, errors)
    if row is None:
        saved = ctx.store.insert("templates", values)
        ctx.log("Template", saved["id"], "add", values["name"],
                f"name () => ({values['name']}), description () => ({values['description']})")
    else:
        saved = ctx.store.update("templates", row["id"], values)
        ctx.log("Template", row["id"], "edit", values["name"])
    _set_tags(ctx, int(saved["id"]), _tag_ids(form.get(FIELDS[3], "[]")))
    return redirect(ctx, f"/templates/view/{saved['id']}")


@route("/templates/add", methods=("GET", "POST"), access="web_or_user", wrong_method=None)
def add(ctx: Ctx) -> Response:
    if not _is_web(ctx):
        # No form tokens can come with an API call: every write is black-holed (templates--api-surface #4-5).
        raise _no_view(ctx) if ctx.method == "GET" else misp_error(400, BLACK_HOLED, ctx.url)
    if not _may_write(ctx, None):
        raise _forbidden(ctx)
    if ctx.method != "POST":
        return _form(ctx, "/templates/add", {}, {})
    return _save(ctx, "/templates/add", None)


@route("/templates/edit", methods=("GET", "POST", "PUT"), access="web_or_user", wrong_method=None)
def edit(ctx: Ctx) -> Response:
    if not _is_web(ctx) and ctx.method != "GET":
        raise misp_error(400, BLACK_HOLED, ctx.url)  # templates--api-surface #6: before any lookup
    row = _template(ctx)
    if not _visible(ctx, row):
        raise misp_error(404, NOT_VISIBLE, ctx.url) if not _is_web(ctx) else MispAbort(
            page(ctx, "Not Found", f"<h2>{NOT_VISIBLE}</h2>", status=404))
    assert row is not None
    if not _is_web(ctx):
        raise _no_view(ctx)
    if not _may_write(ctx, row):
        raise _forbidden(ctx)
    action = f"/templates/edit/{row['id']}"
    if ctx.method == "GET":
        values = {FIELDS[0]: row["name"] or "", FIELDS[1]: row["description"] or "",
                  FIELDS[2]: "1" if row["share"] else "0",
                  FIELDS[3]: json.dumps([t["tag_id"] for t in ctx.store.find("template_tags", template_id=row["id"])])}
        return _form(ctx, action, values, {})
    return _save(ctx, action, row)


@route("/templates/delete", methods=("GET", "POST", "DELETE"), access="web_or_user", wrong_method=None)
def delete(ctx: Ctx) -> Response:
    if not _is_web(ctx) and ctx.method != "GET":
        raise misp_error(400, BLACK_HOLED, ctx.url)  # templates--api-surface #7, even for a missing id
    row = _template(ctx)
    if row is None:
        raise misp_error(404, "Invalid Template.", ctx.url)  # templates--api-surface #8
    if not _is_web(ctx) or ctx.method == "GET":
        raise _no_view(ctx)
    if not _may_write(ctx, row):
        raise _forbidden(ctx)
    posted_form(ctx, f"/templates/delete/{row['id']}")
    for element, _sub in _elements(ctx, int(row["id"])):
        _delete_element(ctx, element)
    ctx.store.delete("template_tags", template_id=row["id"])
    ctx.store.delete("templates", id=row["id"])
    ctx.log("Template", row["id"], "delete", row["name"] or "")
    return redirect(ctx, "/templates/index")


# -- template elements ---------------------------------------------------------------------------------
def _ajax_only(ctx: Ctx) -> None:
    if ctx.request.headers.get("x-requested-with") != "XMLHttpRequest":
        raise misp_error(405, AJAX_ONLY, ctx.url)  # templates--elements-crud #3


def _element_body(ctx: Ctx, wrapper: str) -> dict[str, Any]:
    """JSON (API) or a form-encoded body (`data[TemplateElementText][name]=…`, browser)."""
    if "application/x-www-form-urlencoded" in ctx.request.headers.get("content-type", ""):
        form = parse_qs(ctx.body_bytes.decode("utf-8", "replace"), keep_blank_values=True)
        prefix = f"data[{wrapper}]["
        return {k[len(prefix):-1]: v[-1] for k, v in form.items() if k.startswith(prefix) and k.endswith("]")}
    return ctx.data(wrapper)


def _element_errors(ctx: Ctx, kind: str, data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name in ("name", "text") if kind == "text" else ("name",):
        if not str(data.get(name) or "").strip():
            errors[name] = [EMPTY]
    if kind == "text":
        return errors
    # Quirk: MISP 2.5.1 rejects the category (and type) of every attribute/file element sent through the
    # API, valid or not (transcript templates--elements-crud #1, #2); the browser form is validated normally.
    wanted = ("category", "type") if kind == "attribute" else ("category",)
    message = {"category": "Please choose a category.", "type": "Please choose a type."}
    for name in wanted:
        value = str(data.get(name) or "")
        if not _is_web(ctx) or not value or value.startswith("Select "):
            errors[name] = [message[name]]
    return errors


def _flags(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name in data:
            value = data[name]
            out[name] = (1 if str(value).lower() in ("1", "true", "on") else 0) if name in (
                "complex", "to_ids", "mandatory", "batch", "malware") else str(value)
    return out


@route("/templateElements/add", methods=("POST",), access="web_or_user")
def element_add(ctx: Ctx) -> Response:
    _ajax_only(ctx)
    kind = ctx.args[0] if ctx.args else ""
    template = _template(ctx, 1)
    if kind not in ELEMENT_TABLES or template is None:
        raise misp_error(404, "Not Found", ctx.url)
    if not _may_write(ctx, template):
        raise ctx.deny()
    table, wrapper, names = ELEMENT_TABLES[kind]
    data = _element_body(ctx, wrapper)
    errors = _element_errors(ctx, kind, data)
    if errors:
        return misp_json({"saved": False, "errors": errors})
    last = max((e["position"] or 0 for e in ctx.store.find("template_elements", template_id=template["id"])),
               default=0)
    element = ctx.store.insert("template_elements", {"template_id": template["id"], "position": last + 1,
                                                     "element_definition": kind})
    ctx.store.insert(table, {"template_element_id": element["id"], **_flags(data, names)})
    ctx.log("TemplateElement", element["id"], "add", f"TemplateElement ({element['id']})")
    return misp_json({"saved": True, "success": "Element successfully added to template."})


def _element(ctx: Ctx, index: int) -> Row:
    text = ctx.args[index] if len(ctx.args) > index else ""
    element = ctx.store.get("template_elements", text) if text.isdigit() else None
    if element is None:
        raise misp_error(404, "Not Found", ctx.url)  # templates--elements-crud #6
    template = ctx.store.get("templates", element["template_id"])
    if not _may_write(ctx, template):
        raise ctx.deny()
    return element


@route("/templateElements/edit", methods=("POST", "PUT"), access="web_or_user")
def element_edit(ctx: Ctx) -> Response:
    _ajax_only(ctx)
    element = _element(ctx, 1)
    kind = element["element_definition"]
    if (ctx.args[0] if ctx.args else "") != kind:
        raise misp_error(404, "Not Found", ctx.url)
    table, wrapper, names = ELEMENT_TABLES[kind]
    sub = ctx.store.first(table, template_element_id=element["id"]) or {}
    data = {**sub, **_element_body(ctx, wrapper)}
    errors = _element_errors(ctx, kind, data)
    if errors:
        return misp_json({"saved": False, "errors": errors})
    if sub:
        ctx.store.update(table, sub["id"], _flags(data, names))
    ctx.log("TemplateElement", element["id"], "edit", f"TemplateElement ({element['id']})")
    return misp_json({"saved": True, "success": "Element successfully edited."})


def _delete_element(ctx: Ctx, element: Row) -> None:
    table = ELEMENT_TABLES.get(element["element_definition"], ("", "", ()))[0]
    if table:
        ctx.store.delete(table, template_element_id=element["id"])
    ctx.store.delete("template_elements", id=element["id"])


@route("/templateElements/delete", methods=("POST", "DELETE"), access="web_or_user")
def element_delete(ctx: Ctx) -> Response:
    _ajax_only(ctx)
    element = _element(ctx, 0)
    _delete_element(ctx, element)
    # The remaining elements are renumbered 1..n, keeping their order.
    for position, (other, _sub) in enumerate(_elements(ctx, int(element["template_id"])), start=1):
        ctx.store.update("template_elements", other["id"], {"position": position})
    ctx.log("TemplateElement", element["id"], "delete", f"TemplateElement ({element['id']})")
    return misp_json({"saved": True, "success": "Element deleted."})


@route("/templateElements/index", access="web_or_user")
def element_index(ctx: Ctx) -> Response:
    template = _template(ctx)
    if not _visible(ctx, template):
        raise misp_error(404, NOT_VISIBLE, ctx.url)
    assert template is not None
    if not _is_web(ctx):
        raise _no_view(ctx)  # templates--elements-crud / api-surface #9, #10: with or without the ajax header
    return page(ctx, "Template elements", _elements_html(ctx, template), layout=False)
