"""Signature allowedlist: web pages only (transcript allowedlists--api-key-refused: every API call, key or
not, `.json` or not, is answered with the 302 to the login page).

The reconciler reads the HTML index with an HTML parser and writes through the forms, so the markup keeps
MISP's: one table row per entry with the id, the name and edit/delete links, and CakePHP's pager text.
"""

from __future__ import annotations

import html
import re

from sqlalchemy import select
from starlette.responses import Response

from reconciler.sandbox.http import Ctx, route
from reconciler.sandbox.resources.web import (
    flash,
    page,
    posted_form,
    redirect,
    require_site_admin,
    token_inputs,
)
from reconciler.sandbox.schema import METADATA
from reconciler.sandbox.store import Row

PAGE_SIZE = 60  # CakePHP paginator limit of the admin index
NAME_FIELD = "data[Allowedlist][name]"
BAD_FORMAT = ('Name not in the right format. Allowedlist entries have to be enclosed by a valid php delimiter '
              '(which can be most non-alphanumeric / non-whitespace character). Format: "/8.8.8.8/" Please '
              'double check the name.')
NOT_UNIQUE = "A similar name already exists."
EMPTY = "valueNotEmpty"  # the rule has no message: CakePHP shows the rule's name
PAIRED = {"(": ")", "[": "]", "{": "}", "<": ">"}
PHP_MODIFIERS = set("imsxADSUXJun")
INDEX = "/admin/allowedlists/index"


def valid_php_regex(text: str) -> bool:
    """What MISP's validateValue checks with preg_match: a pattern between PHP delimiters, then modifiers.

    The pattern is compiled with Python's `re`, close to PCRE for what allowedlists use."""
    if len(text) < 2 or text[0].isalnum() or text[0].isspace() or text[0] == "\\":
        return False
    end = text.rfind(PAIRED.get(text[0], text[0]))
    if end <= 0 or not set(text[end + 1:]) <= PHP_MODIFIERS:
        return False
    flags = re.IGNORECASE if "i" in text[end + 1:] else 0
    try:
        re.compile(text[1:end], flags)
    except re.error:
        return False
    return True


def name_errors(ctx: Ctx, name: str, own_id: int | None = None) -> list[str]:
    if not name.strip():
        return [EMPTY]
    if not valid_php_regex(name):
        return [BAD_FORMAT]
    same = ctx.store.first("allowedlist", name=name)
    return [NOT_UNIQUE] if same is not None and same["id"] != own_id else []


def _page_number(ctx: Ctx) -> int:
    text = ctx.named.get("page", "1")
    return max(int(text), 1) if text.isdigit() else 1


def _row_html(ctx: Ctx, row: Row) -> str:
    rid = int(row["id"])
    action = f"/admin/allowedlists/delete/{rid}"
    head, tail = token_inputs(ctx, action, ())
    return (f'<tr><td class="short">{rid}&nbsp;</td><td>{html.escape(row["name"])}&nbsp;</td>'
            f'<td class="short action-links"><a href="/admin/allowedlists/edit/{rid}" class="fa fa-edit" '
            f'title="Edit" aria-label="Edit"></a>'
            f'<form action="{action}" name="post_{rid}" id="post_{rid}" style="display:none;" method="post">'
            f'{head}{tail}</form><a href="#" class="fa fa-trash" title="Delete" aria-label="Delete" '
            f'onclick="document.post_{rid}.submit(); event.returnValue = false; return false;"></a></td></tr>')


def _pager(number: int, pages: int, shown: int, total: int) -> str:
    start = (number - 1) * PAGE_SIZE + 1 if shown else 0
    prev = (f'<li class="prev"><a href="{INDEX}/page:{number - 1}" rel="prev">&laquo; previous</a></li>'
            if number > 1 else '<li class="prev disabled"><a href="">&laquo; previous</a></li>')
    nxt = (f'<li class="next"><a href="{INDEX}/page:{number + 1}" rel="next">next &raquo;</a></li>'
           if number < pages else '<li class="next disabled"><a href="">next &raquo;</a></li>')
    return (f'<p>Page {number} of {pages}, showing {shown} records out of {total} total, starting on record '
            f'{start}, ending on {start + shown - 1 if shown else 0}</p>'
            f'<div class="pagination"><ul>{prev}{nxt}</ul></div>')


@route("/admin/allowedlists/index", access="web")
def index(ctx: Ctx) -> Response:
    require_site_admin(ctx)
    total = ctx.store.count("allowedlist")
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    number = min(_page_number(ctx), pages)
    table_ = METADATA.tables["allowedlist"]
    query = select(table_).order_by(table_.c.id).limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)
    rows = [dict(r) for r in ctx.store.conn.execute(query).mappings()]
    table = ('<table class="table table-striped table-hover table-condensed"><tr>'
             f'<th><a href="{INDEX}/sort:id/direction:asc">Id</a></th>'
             f'<th><a href="{INDEX}/sort:name/direction:asc">Name</a></th><th class="actions">Actions</th></tr>'
             + "".join(_row_html(ctx, row) for row in rows) + "</table>")
    body = (f'<div class="allowedlists index"><h2>Signature Allowedlist</h2>{table}'
            f'{_pager(number, pages, len(rows), total)}</div>')
    return page(ctx, "Allowedlists", body)


# MISP routes these aliases to the same admin action (allowedlists--api-key-refused #0, #2).
route("/allowedlists/index", access="web")(index)
route("/allowedlists/admin_index", access="web")(index)


def _form(ctx: Ctx, action: str, name: str, errors: list[str]) -> Response:
    head, tail = token_inputs(ctx, action, (NAME_FIELD,))
    error = "".join(f'<div class="error-message">{html.escape(e)}</div>' for e in errors)
    body = (f'{flash("The allowedlist entry could not be saved. Please, try again.") if errors else ""}'
            f'<div class="allowedlist form"><form action="{action}" id="AllowedlistForm" method="post" '
            f'accept-charset="utf-8">{head}<fieldset><legend>Allowedlist entry</legend>'
            f'<div class="input text required{" error" if errors else ""}"><label for="AllowedlistName">Name'
            f'</label><input name="{NAME_FIELD}" type="text" value="{html.escape(name)}" id="AllowedlistName"/>'
            f'{error}</div></fieldset><button class="btn btn-primary" type="submit">Submit</button>{tail}'
            '</form></div>')
    return page(ctx, "Allowedlist", body)


def _find(ctx: Ctx) -> Row | None:
    return ctx.store.get("allowedlist", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None


def _not_found(ctx: Ctx) -> Response:
    return page(ctx, "Not Found", "<h2>Invalid allowedlist entry</h2>", status=404)


@route("/admin/allowedlists/add", methods=("GET", "POST"), access="web", wrong_method=None)
def add(ctx: Ctx) -> Response:
    require_site_admin(ctx)
    action = "/admin/allowedlists/add"
    if ctx.method != "POST":
        return _form(ctx, action, "", [])
    name = posted_form(ctx, action).get(NAME_FIELD, "").strip()  # MISP's Trim behaviour
    errors = name_errors(ctx, name)
    if errors:
        return _form(ctx, action, name, errors)
    row = ctx.store.insert("allowedlist", {"name": name})
    ctx.log("Allowedlist", row["id"], "add", name, f"name () => ({name})")
    return redirect(ctx, INDEX)


@route("/admin/allowedlists/edit", methods=("GET", "POST", "PUT"), access="web", wrong_method=None)
def edit(ctx: Ctx) -> Response:
    require_site_admin(ctx)
    row = _find(ctx)
    if row is None:
        return _not_found(ctx)
    action = f"/admin/allowedlists/edit/{row['id']}"
    if ctx.method == "GET":
        return _form(ctx, action, row["name"], [])
    name = posted_form(ctx, action).get(NAME_FIELD, "").strip()
    errors = name_errors(ctx, name, int(row["id"]))
    if errors:
        return _form(ctx, action, name, errors)
    ctx.store.update("allowedlist", row["id"], {"name": name})
    if name != row["name"]:
        ctx.log("Allowedlist", row["id"], "edit", name, f"name ({row['name']}) => ({name})")
    return redirect(ctx, INDEX)


@route("/admin/allowedlists/delete", methods=("POST", "DELETE"), access="web")
def delete(ctx: Ctx) -> Response:
    require_site_admin(ctx)
    row = _find(ctx)
    if row is None:
        return _not_found(ctx)
    posted_form(ctx, f"/admin/allowedlists/delete/{row['id']}")
    ctx.store.delete("allowedlist", id=row["id"])
    ctx.log("Allowedlist", row["id"], "delete", row["name"])
    return redirect(ctx, INDEX)
