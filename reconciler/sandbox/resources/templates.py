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
FIELDS = ("data[Template][name]", "data[Template][description]", "data[Template][share]", "data[Template][tags]",
          "data[Template][tagsPusher]")
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
PAGE_SIZE = 50  # TemplatesController::$paginate: 50 a page, newest first


def _cell(path: str, css: str, value: str) -> str:
    """One cell of MISP's generic index table (genericElements/IndexTable/row.ctp): named by `data-path`."""
    return f'<td class="{css}" data-path="{path}">{value}</td>'


def _row_html(k: int, row: Row) -> str:
    rid, org = int(row["id"]), html.escape(row["org"] or "")
    share = "fa-check" if row["share"] else "fa-times"
    return (f'<tr data-row-id="{k}">' + _cell("Template.id", "short", str(rid))
            # the org column: OrgImgHelper without a logo, a link named by the org's name (all MISP knows here)
            + _cell("Organisation", "short", f'<a href="/organisations/view/{org}"><span class="welcome">{org}'
                                             '</span></a>')
            + _cell("Template.share", "short", f'<i class="fa {share} black" role="img" '
                                               f'aria-label="{"Yes" if row["share"] else "No"}"></i>')
            # Quirk (MISP 2.5.1 Templates/index.ctp): the column headed "Name" shows the org, never the name.
            + _cell("Template.org", "short", org)
            + _cell("Template.description", "bitwider", html.escape(row["description"] or ""))
            + '<td class="short action-links">'
            f'<a href="/templates/view/{rid}" title="" aria-label=""><i class="black fas fa-eye"></i></a> '
            f'<a href="/templates/edit/{rid}" title="Edit" aria-label="Edit"><i class="black fas fa-edit"></i></a> '
            f'<a href="#" title="" aria-label="" onclick="event.preventDefault();openGenericModal(\'/templates/'
            f'delete/{rid}\');"><i class="black fas fa-trash"></i></a> </td></tr>')


def _pagination(number: int, pages: int) -> str:
    """CakePHP's pager as genericElements/IndexTable/pagination_links.ctp asks for it."""
    def link(page: int, text: str, rel: str = "") -> str:
        rel_attr = f' rel="{rel}"' if rel else ""
        return f'<li><a href="/templates/index/page:{page}"{rel_attr}>{text}</a></li>'

    def off(css: str, text: str) -> str:
        return f'<li class="pagination_link {css} disabled"><span>{text}</span></li>'

    first = link(1, "&laquo; first") if number > 1 else off("first", "&laquo; first")
    prev = link(number - 1, "&laquo; previous", "prev") if number > 1 else off("prev", "&laquo; previous")
    numbers = "".join(f'<li class="active"><span>{n}</span></li>' if n == number else link(n, str(n))
                      for n in range(1, pages + 1)) if pages > 1 else ""
    nxt = link(number + 1, "next &raquo;", "next") if number < pages else off("next", "next &raquo;")
    last = link(pages, "last &raquo;") if number < pages else off("last", "last &raquo;")
    return f'<div class="pagination"><ul>{first}{prev}{numbers}{nxt}{last}</ul></div>'


@route("/templates/index", access="web_or_user")
def index(ctx: Ctx) -> Response:
    if not _is_web(ctx):
        raise _no_view(ctx)
    rows = sorted((r for r in ctx.store.all("templates") if _visible(ctx, r)), key=lambda r: -int(r["id"]))
    pages = max((len(rows) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    text = ctx.named.get("page", "1")
    number = int(text) if text.isdigit() and int(text) > 0 else 1
    if number > pages:
        raise MispAbort(page(ctx, "Not Found", "<h2>Not Found</h2>", status=404))  # CakePHP 2's paginator
    shown = rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    start = (number - 1) * PAGE_SIZE + 1 if shown else 0
    headers = "".join(f'<th class="pagination_link"><a href="/templates/index/sort:{sort}/direction:asc">{name}'
                      '</a></th>' for name, sort in (("Id", "Template.id"), ("Org", "Organisation.name"),
                                                     ("Share", "Template.share"), ("Name", "Template.org"),
                                                     ("Description", "Template.description")))
    pager = _pagination(number, pages)
    table = (f'<div style=""><table class="table table-striped table-hover table-condensed"><thead>{headers}'
             f'<th class="actions">Actions</th></thead><tbody>'
             + "".join(_row_html(k, r) for k, r in enumerate(shown)) + "</tbody></table></div>")
    counter = (f"<p>Page {number} of {pages}, showing {len(shown)} records out of {len(rows)} total, starting on "
               f"record {start}, ending on {start + len(shown) - 1 if shown else 0}</p>")
    return page(ctx, "Templates", f'<div id="index_container_5f3a_content" class="index"><h2>Templates</h2>'
                                  f'{pager}{table}{counter}{pager}</div>')


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


def _meta_row(label: str, value: str) -> str:
    """One row of MISP's single view (genericElements/SingleViews/single_view.ctp): the value, then a space."""
    return (f'<tr><td class="meta_table_key " title="">{label}</td>'
            f'<td class="meta_table_value " title="">{value} </td></tr>')


def _viewed_template(ctx: Ctx) -> Row:
    """The template a page shows (view, element index): 404 when not visible, and pages only for a browser."""
    row = _template(ctx)
    if not _visible(ctx, row):
        raise misp_error(404, NOT_VISIBLE, ctx.url)
    assert row is not None
    if not _is_web(ctx):
        raise _no_view(ctx)
    return row


@route("/templates/view", access="web_or_user")
def view(ctx: Ctx) -> Response:
    row = _viewed_template(ctx)
    tags = [ctx.store.get("tags", t["tag_id"]) for t in ctx.store.find("template_tags", template_id=row["id"])]
    # SingleViews/Fields/tagsField.ctp: a coloured span per tag, or a lone "&nbsp" (sic) without tags
    tag_spans = "".join(f'<span class="tagComplete" style="background-color:{html.escape(t["colour"] or "")};'
                        f'color:#ffffff">{html.escape(t["name"])}</span>' for t in tags if t) or "&nbsp"
    share = '<i class="fas fa-check"></i>' if row["share"] else '<i class="fas fa-times"></i>'  # booleanField.ctp
    rows = (_meta_row("Id", str(row["id"])) + _meta_row("Name", html.escape(row["name"] or ""))
            + _meta_row("Description", html.escape(row["description"] or ""))
            + _meta_row("Tags", tag_spans) + _meta_row("Organisation", html.escape(row["org"] or ""))
            + _meta_row("Shareable", share))
    body = ('<div class="view"><div class="row-fluid"><div class="span8"><div><h2 class="overflow">Template</h2>'
            f'<table class="meta_table table table-striped table-condensed">{rows}</table></div></div>'
            '<div class="span4"></div></div><div id="accordion"></div><br></div>'
            # templateElements/templateElements.ctp: the elements are not on the page, a script loads them
            f'<div id="templateElements" class="view"><script type="text/javascript">$(document).ready('
            f'function() {{ updateIndex({row["id"]}, \'template\'); }});</script></div>')
    return page(ctx, "Template", body)


def _form(ctx: Ctx, action: str, values: dict[str, str], selected: list[int]) -> Response:
    """MISP's template form (Templates/add.ctp through genericElements/Form/genericForm.ctp). The tag list
    input always starts as "[]": MISP's script fills it from `selectedTags` in the browser."""
    head, tail = token_inputs(ctx, action, FIELDS)
    form_id = "TemplateEditForm" if action.startswith("/templates/edit") else "TemplateAddForm"
    share = ' checked="checked"' if values.get(FIELDS[2]) == "1" else ""
    known = "".join(f'<option value="{t["id"]}">{html.escape(t["name"])}</option>' for t in ctx.store.all("tags"))
    selected_js = ", ".join(f'"{t}"' for t in selected)
    body = (f'<div class="form"><form action="{action}" class="genericForm" id="{form_id}" method="post" '
            f'accept-charset="utf-8">{head}<fieldset><legend>{"Edit" if form_id == "TemplateEditForm" else "Create"}'
            ' Template</legend><div class="clear"></div>'
            f'<div class="input text"><label for="TemplateName">Name</label><input name="{FIELDS[0]}" '
            f'type="text" value="{html.escape(values.get(FIELDS[0], ""))}" id="TemplateName"/></div>'
            '<div class="clear"></div><div id="tagList"><label>Tags</label><table><tr><td id="addTagFieldTD">'
            f'<div class="clear"><input name="{FIELDS[3]}" id="hiddenTags" style="display:none;" type="text" '
            'value="[]"/></div>'
            f'<div class="clear"><select name="{FIELDS[4]}" id="addTagField" style="display:none;">'
            f'<option value="">Add a tag</option>{known}</select></div></td></tr></table></div>'
            f'<script type="text/javascript">var selectedTags = [{selected_js}];</script><div class="clear"></div>'
            f'<div class="input clear"><label for="TemplateDescription">Template Description</label>'
            f'<textarea name="{FIELDS[1]}" class="span6" placeholder="A description of the template" '
            f'id="TemplateDescription">{html.escape(values.get(FIELDS[1], ""))}</textarea></div>'
            f'<div class="clear"></div><div class="input checkbox"><input type="hidden" name="{FIELDS[2]}" '
            f'id="TemplateShare_" value="0"/><input type="checkbox" name="{FIELDS[2]}" value="1" '
            f'id="TemplateShare"{share}/><label for="TemplateShare">Share this template with others</label></div>'
            '<div class="clear"></div><div class="clear"></div></fieldset>'
            f'<button onClick="$(\'#{form_id}\').submit();" class="btn btn-primary">Submit</button>{tail}</form></div>')
    return page(ctx, "Template", body)


def _save(ctx: Ctx, action: str, row: Row | None) -> Response:
    """The POSTed form: save as posted and set the tag links. MISP 2.5.1's Template model has no validation
    rules, so an empty name or description is saved too (a failed save would be a 500)."""
    form = posted_form(ctx, action)
    values: dict[str, Any] = {"name": form.get(FIELDS[0], ""), "description": form.get(FIELDS[1], ""),
              # Quirk (reference identity §9): org becomes the writer's org name, on edit too.
              "share": 1 if form.get(FIELDS[2]) in ("1", "on", "true") else 0, "org": _org_name(ctx)}
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
        return _form(ctx, "/templates/add", {}, [])
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
                  FIELDS[2]: "1" if row["share"] else "0"}
        return _form(ctx, action, values, [t["tag_id"] for t in ctx.store.find("template_tags",
                                                                               template_id=row["id"])])
    return _save(ctx, action, row)


NO_EDIT = "No template with the provided ID exists, or you are not authorised to edit it."


def _delete_modal(ctx: Ctx, template_id: int, error: str | None) -> Response:
    """The CRUD component's confirmation (genericTemplates/delete.ctp, ajax layout: a fragment) that the
    index's trash icon opens: a hidden form posting back here, or the validation error and no form."""
    action = f"/templates/delete/{template_id}"
    if error is not None:
        body = (f'<div class="modal-body modal-body-long"><p>{html.escape(error)}</p></div><div class="modal-footer">'
                '<button type="button" class="btn btn-secondary cancel-button" data-dismiss="modal">Cancel</button></div>')
    else:
        head, tail = token_inputs(ctx, action, ())
        body = (f'<div class="modal-body modal-body-long"><p>Are you sure you want to delete Template #{template_id}?'
                f'</p></div><div class="modal-footer"><form action="{action}" name="post_{template_id}d" '
                f'id="post_{template_id}d" style="display:none;" method="post">{head}{tail}</form><a href="#" '
                f'class="btn btn-primary" onclick="document.post_{template_id}d.submit(); event.returnValue = false; '
                'return false;">Delete</a><button type="button" class="btn btn-secondary cancel-button" '
                'data-dismiss="modal">Cancel</button></div>')
    return page(ctx, "Template", '<div id="genericModal" class="modal hide fade" tabindex="-1" role="dialog" '
                                 'aria-labelledby="genericModalLabel" aria-hidden="true"><div class="modal-header">'
                                 '<button type="button" class="close" data-dismiss="modal" aria-hidden="true">'
                                 '<span aria-hidden="true">&times;</span></button><h3 id="genericModalLabel">'
                                 f'Delete Template</h3></div>{body}</div>', layout=False)


@route("/templates/delete", methods=("GET", "POST", "DELETE"), access="web_or_user", wrong_method=None)
def delete(ctx: Ctx) -> Response:
    if not _is_web(ctx) and ctx.method != "GET":
        raise misp_error(400, BLACK_HOLED, ctx.url)  # templates--api-surface #7, even for a missing id
    row = _template(ctx)
    if row is None:
        raise misp_error(404, "Invalid Template.", ctx.url)  # templates--api-surface #8
    if not _is_web(ctx):
        raise _no_view(ctx)
    if ctx.method == "GET" or not _may_write(ctx, row):
        return _delete_modal(ctx, int(row["id"]), None if _may_write(ctx, row) else NO_EDIT)
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
    template = _viewed_template(ctx)  # templates--elements-crud / api-surface #9, #10: with or without ajax
    return page(ctx, "Template elements", _elements_html(ctx, template), layout=False)
