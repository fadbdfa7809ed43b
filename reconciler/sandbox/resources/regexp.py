"""Import regexps (transcript regexp--crud-api): rules MISP applies to attribute values on import.

MISP has no JSON view for them: index and the edit form answer 500 over the API, and every successful
write answers a bodiless 302 to /regexp/admin_index. A rule is stored as one row per attribute type
(`type` "ALL" for every type), so the API cannot show ids; the transcript's ids come from the database.
"""

from __future__ import annotations

import html
from typing import Any, NoReturn

from starlette.responses import Response

from reconciler.sandbox.http import INTERNAL_ERROR, JSON_TYPE, Ctx, misp_error, route
from reconciler.sandbox.resources.web import page, require_site_admin

ATTRIBUTE_TYPES = (
    "md5", "sha1", "sha256", "filename", "pdb", "filename|md5", "filename|sha1", "filename|sha256", "ip-src",
    "ip-dst", "hostname", "domain", "domain|ip", "email", "email-src", "eppn", "email-dst", "email-subject",
    "email-attachment", "email-body", "float", "git-commit-id", "url", "http-method", "user-agent",
    "ja3-fingerprint-md5", "jarm-fingerprint", "favicon-mmh3", "hassh-md5", "hasshserver-md5", "regkey",
    "regkey|value", "AS", "snort", "bro", "zeek", "community-id", "dom-hash", "pattern-in-file",
    "pattern-in-traffic", "pattern-in-memory", "filename-pattern", "pgp-public-key", "pgp-private-key",
    "ssh-fingerprint", "yara", "stix2-pattern", "sigma", "gene", "kusto-query", "mime-type",
    "identity-card-number", "cookie", "vulnerability", "cpe", "weakness", "attachment", "malware-sample",
    "link", "comment", "text", "hex", "other", "named pipe", "mutex", "process-state", "target-user",
    "target-email", "target-machine", "target-org", "target-location", "target-external", "btc", "dash",
    "xmr", "iban", "bic", "bank-account-nr", "aba-rtn", "bin", "cc-number", "prtn", "phone-number",
    "threat-actor", "campaign-name", "campaign-id", "malware-type", "uri", "authentihash", "vhash", "ssdeep",
    "imphash", "telfhash", "pehash", "impfuzzy", "sha224", "sha384", "sha512", "sha512/224", "sha512/256",
    "sha3-224", "sha3-256", "sha3-384", "sha3-512", "tlsh", "cdhash", "filename|authentihash",
    "filename|vhash", "filename|ssdeep", "filename|imphash", "filename|impfuzzy", "filename|pehash",
    "filename|sha224", "filename|sha384", "filename|sha512", "filename|sha512/224", "filename|sha512/256",
    "filename|sha3-224", "filename|sha3-256", "filename|sha3-384", "filename|sha3-512", "filename|tlsh",
    "windows-scheduled-task", "windows-service-name", "windows-service-displayname", "whois-registrant-email",
    "whois-registrant-phone", "whois-registrant-name", "whois-registrant-org", "whois-registrar",
    "whois-creation-date", "x509-fingerprint-sha1", "x509-fingerprint-md5", "x509-fingerprint-sha256",
    "dns-soa-email", "size-in-bytes", "counter", "integer", "datetime", "port", "ip-dst|port", "ip-src|port",
    "hostname|port", "mac-address", "mac-eui-64", "email-dst-display-name", "email-src-display-name",
    "email-header", "email-reply-to", "email-x-mailer", "email-mime-boundary", "email-thread-index",
    "email-message-id", "github-username", "github-repository", "github-organisation", "jabber-id",
    "twitter-id", "dkim", "dkim-signature", "first-name", "middle-name", "last-name", "full-name",
    "date-of-birth", "place-of-birth", "gender", "passport-number", "passport-country", "passport-expiration",
    "redress-number", "nationality", "visa-number", "issue-date-of-the-visa", "primary-residence",
    "country-of-residence", "special-service-request", "frequent-flyer-number", "travel-details",
    "payment-details", "place-port-of-original-embarkation", "place-port-of-clearance",
    "place-port-of-onward-foreign-destination", "passenger-name-record-locator-number",
    "mobile-application-id", "azure-application-id", "chrome-extension-id", "cortex", "boolean", "anonymised",
    "onion-address",
)
# The index i of a per-type flag ("0": "1") is the position in /attributes/describeTypes' `types`
# (transcript regexp--crud-api #2 and #5: flags 0 and 2 gave rows for md5 and sha256).


def _done(ctx: Ctx) -> Response:
    # MISP labels this bodiless redirect as JSON (transcript regexp--crud-api #3).
    base = ctx.app_state.base_url
    return Response("", status_code=302, media_type=None,
                    headers={"location": f"{base}/regexp/admin_index", "content-type": JSON_TYPE})


def _no_view(ctx: Ctx) -> NoReturn:
    """MISP renders a form/list view here, which has no JSON variant: 500 (regexp--crud-api #0, #1, #6)."""
    raise misp_error(500, INTERNAL_ERROR, ctx.url)


def _types(data: dict[str, Any]) -> list[str]:
    if str(data.get("all", "0")) == "1":
        return ["ALL"]
    return [name for index, name in enumerate(ATTRIBUTE_TYPES) if str(data.get(str(index), "0")) == "1"]


def _save(ctx: Ctx, data: dict[str, Any]) -> None:
    """One row per selected type. Nothing valid to save: MISP re-renders the form, which is the 500."""
    pattern = str(data.get("regexp") or "")
    types = _types(data)
    if not pattern or not types:
        _no_view(ctx)
    for kind in types:
        row = ctx.store.insert("regexp", {"regexp": pattern, "replacement": str(data.get("replacement") or ""),
                                          "type": kind})
        ctx.log("Regexp", row["id"], "add", f"Regexp ({row['id']})",
                f"regexp () => ({pattern}), replacement () => ({row['replacement']}), type () => ({kind})")


def _find(ctx: Ctx, message: str) -> dict[str, Any]:
    row = ctx.store.get("regexp", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise misp_error(404, message, ctx.url)
    return row


def _html_index(ctx: Ctx) -> Response:
    """The list MISP renders for a browser: the only way to read the rules (the API answers 500)."""
    rows = ctx.store.all("regexp")  # ordered by id, as MISP's index sorts them
    cells = "".join(
        f'<tr><td class="short">{row["id"]}</td><td>{html.escape(row["regexp"] or "")}</td>'
        f'<td>{html.escape(row["replacement"] or "")}</td><td class="short">{html.escape(row["type"] or "")}</td>'
        f'<td class="short action-links"><a href="/admin/regexp/edit/{row["id"]}" class="fa fa-edit" title="Edit">'
        "</a></td></tr>" for row in rows)
    table = ('<table class="table table-striped table-hover table-condensed"><tr><th>Id</th><th>Regexp</th>'
             f'<th>Replacement</th><th>Type</th><th class="actions">Actions</th></tr>{cells}</table>')
    return page(ctx, "Regexp", f'<div class="regexp index"><h2>Import Regexp</h2>{table}</div>')


@route("/regexp/index", access="web_or_user")
def index(ctx: Ctx) -> Response:
    return _html_index(ctx) if ctx.authkey is None else _no_view(ctx)


@route("/admin/regexp/index", access="web_or_user")
def admin_index(ctx: Ctx) -> Response:
    if ctx.authkey is None:
        require_site_admin(ctx)
        return _html_index(ctx)
    if not ctx.is_site_admin:  # an org admin's key: 403 (transcript auth--org-admin-refusals #47)
        raise ctx.deny()
    return _no_view(ctx)


@route("/admin/regexp/add", methods=("GET", "POST"), wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":
        return _no_view(ctx)
    _save(ctx, ctx.data("Regexp"))
    return _done(ctx)


@route("/admin/regexp/edit", methods=("GET", "POST", "PUT"), wrong_method=None)
def edit(ctx: Ctx) -> Response:
    row = _find(ctx, "Invalid Regexp")
    if ctx.method == "GET":
        return _no_view(ctx)
    # Quirk: MISP deletes every row of the edited rule (same pattern) and saves the rule anew, so the
    # edited entry gets a new id and the old id answers 404 (transcript regexp--crud-api #8-#9).
    for old in ctx.store.find("regexp", regexp=row["regexp"]):
        ctx.store.delete("regexp", id=old["id"])
        ctx.log("Regexp", old["id"], "delete", f"Regexp ({old['id']})")
    _save(ctx, ctx.data("Regexp"))
    return _done(ctx)


@route("/admin/regexp/delete", methods=("POST", "DELETE"))
def delete(ctx: Ctx) -> Response:
    row = _find(ctx, "Invalid regexp")  # lower-case r, unlike edit (transcript regexp--crud-api #14)
    ctx.store.delete("regexp", id=row["id"])
    ctx.log("Regexp", row["id"], "delete", f"Regexp ({row['id']})")
    return _done(ctx)
