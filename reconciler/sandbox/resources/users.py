"""Users (transcripts users--*): admin index/view/add/edit/delete and /users/view/me."""

from __future__ import annotations

import random
import re
from typing import Any

from starlette.responses import Response

from reconciler.sandbox.http import (
    INTERNAL_ERROR,
    JSON_TYPE,
    Ctx,
    MispAbort,
    change_text,
    deleted,
    generate_key,
    hash_key,
    hash_password,
    misp_error,
    misp_json,
    new_uuid,
    now_epoch,
    now_text,
    route,
    validation_error,
)
from reconciler.sandbox.resources.identity import ALL_PERMS
from reconciler.sandbox.resources.organisations import org_json
from reconciler.sandbox.resources.roles import default_role_id, role_json
from reconciler.sandbox.resources.settings import current
from reconciler.sandbox.store import Row

EMAIL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9_.-]+$",
                      re.IGNORECASE)
COMPLEXITY_RE = re.compile(r"^((?=.*\d)|(?=.*\W+))(?![\n])(?=.*[A-Z])(?=.*[a-z]).*$|.{16,}")
BOOLS = ("autoalert", "contactalert", "disabled", "change_pw", "termsaccepted", "force_logout",
         "external_auth_required", "notification_daily", "notification_weekly", "notification_monthly")
# The fields the GET "API description" of add/edit lists (users--errors steps 23-24).
OPTIONAL = ("password", "external_auth_required", "external_auth_key", "enable_password", "nids_sid", "server_id",
            "gpgkey", "certif_public", "autoalert", "contactalert", "disabled", "change_pw", "termsaccepted",
            "newsread")
# GET on delete answers the confirmation modal (HTML labelled JSON, users--errors step 22).
DELETE_MODAL = ('<div id="genericModal" class="modal hide fade" tabindex="-1" role="dialog">\n'
                '<h3 id="genericModalLabel">Delete user</h3>\n<p>Are you sure you want to delete the user? It is '
                'highly recommended to never delete users but to disable them instead.</p>\n</div>\n')
PRIVILEGED = ("perm_site_admin", "perm_sync", "perm_regexp_access", "restricted_to_site_admin")


def user_json(row: Row, *, view: bool = False, add: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"]), "password": "******" if not view else "*****",
                            "org_id": str(row["org_id"])}
    if not view:
        body["server_id"] = str(row["server_id"] or 0)
    body["email"] = row["email"]
    body["autoalert"] = bool(row["autoalert"])
    body["invited_by"] = str(row["invited_by"] or 0)
    body["gpgkey"] = row["gpgkey"]
    body["certif_public"] = row["certif_public"] or ""
    body["nids_sid"] = str(row["nids_sid"])
    body["termsaccepted"] = bool(row["termsaccepted"])
    body["newsread"] = str(row["newsread"] or 0)
    body["role_id"] = str(row["role_id"])
    body["change_pw"] = bool(row["change_pw"])
    body["contactalert"] = bool(row["contactalert"])
    body["disabled"] = bool(row["disabled"])
    body["expiration"] = row["expiration"]
    body["current_login"] = str(row["current_login"] or 0)
    body["last_login"] = str(row["last_login"] or 0)
    body["force_logout"] = bool(row["force_logout"])
    body["date_created"] = str(row["date_created"]) if row["date_created"] else None
    body["date_modified"] = str(row["date_modified"]) if row["date_modified"] else None
    body["sub"] = row["sub"]
    body["external_auth_required"] = bool(row["external_auth_required"])
    body["external_auth_key"] = row["external_auth_key"]
    body["last_api_access"] = str(row["last_api_access"] or 0)
    for name in ("notification_daily", "notification_weekly", "notification_monthly"):
        body[name] = bool(row[name])
    body["totp"] = "*****" if view else row["totp"]
    body["hotp_counter"] = row["hotp_counter"]
    body["last_pw_change"] = str(row["last_pw_change"]) if row["last_pw_change"] else None
    body["totp_is_set"] = "0"
    return body


MISSING_ROLE: dict[str, Any] = {
    **{name: None for name in ("id", "name", "created", "modified", *ALL_PERMS[:17], "default_role",
                               "memory_limit", "max_execution_time", "restricted_to_site_admin",
                               *ALL_PERMS[17:20], "enforce_rate_limit", "rate_limit_count", *ALL_PERMS[20:])},
    "permission": "0", "permission_description": "read_only"}
MISSING_ORG: dict[str, Any] = {name: None for name in (
    "id", "name", "date_created", "date_modified", "description", "type", "nationality", "sector", "created_by",
    "uuid", "contacts", "local", "restricted_to_domain", "landingpage")}


def index_row(row: Row, roles: dict[int, Row], orgs: dict[int, Row]) -> dict[str, Any]:
    user = {k: v for k, v in user_json(row).items()
            if k not in ("password", "sub", "external_auth_required", "external_auth_key", "totp", "hotp_counter",
                         "totp_is_set", "notification_daily", "notification_weekly", "notification_monthly")}
    role = roles.get(row["role_id"])
    org = orgs.get(row["org_id"])
    return {"User": user,
            "Role": {"id": str(row["role_id"]), "name": role["name"] if role else None,
                     "perm_auth": bool(role and role["perm_auth"]),
                     "perm_site_admin": bool(role and role["perm_site_admin"]),
                     "perm_admin": bool(role and role["perm_admin"])},
            "Organisation": {"id": str(row["org_id"]), "name": org["name"] if org else None}}


def visible(ctx: Ctx, row: Row | None) -> Row | None:
    """Org admins see their own org's users only, and never site admins' edit/delete (reference §3.3)."""
    if row is None or ctx.is_site_admin:
        return row
    assert ctx.user is not None
    return row if row["org_id"] == ctx.user["org_id"] else None


# Named-parameter filters of the index (reference identity §3): column and whether it matches by substring.
INDEX_FILTERS = {"searchorg": ("org_id", False), "searchrole": ("role_id", False),
                 "searchemail": ("email", True), "searchdisabled": ("disabled", False),
                 "searchautoalert": ("autoalert", False)}


def matches(value: Any, spec: str, *, substring: bool) -> bool:
    """`a|b` means any of them; a `!` prefix negates an alternative (MISP's named-parameter syntax)."""
    text = str(value if value is not None else "").lower()
    wanted = [alt for alt in spec.lower().split("|") if not alt.startswith("!")]
    unwanted = [alt[1:] for alt in spec.lower().split("|") if alt.startswith("!")]

    def hit(alt: str) -> bool:
        return alt in text if substring else alt == text

    return (not wanted or any(hit(a) for a in wanted)) and not any(hit(a) for a in unwanted)


@route("/admin/users/index", access="org_admin")
def index(ctx: Ctx) -> Response:
    # Roles and orgs are read once per request: listing 10,000 users costs three queries, not 20,000.
    roles = {r["id"]: r for r in ctx.store.all("roles")}
    orgs = {o["id"]: o for o in ctx.store.all("organisations")}
    rows = ctx.store.all("users")
    if not ctx.is_site_admin:
        assert ctx.user is not None
        rows = [r for r in rows if r["org_id"] == ctx.user["org_id"]]
    for name, (column, substring) in INDEX_FILTERS.items():
        if name in ctx.named and (name != "searchorg" or ctx.is_site_admin):  # searchorg is site-admin only
            rows = [r for r in rows if matches(r[column], ctx.named[name], substring=substring)]
    if "value" in ctx.named:  # email, org name or role name
        def names(r: Row) -> str:
            org, role = orgs.get(r["org_id"]), roles.get(r["role_id"])
            return " ".join([r["email"], org["name"] if org else "", role["name"] if role else ""])
        rows = [r for r in rows if ctx.named["value"].lower() in names(r).lower()]
    return misp_json([index_row(r, roles, orgs) for r in rows])


def full_view(ctx: Ctx, row: Row, *, admin: bool = False) -> Response:
    role = ctx.store.get("roles", row["role_id"])
    org = ctx.store.get("organisations", row["org_id"])
    user = user_json(row, view=True)
    if row["gpgkey"]:
        user.update({"pgp_status": "GnuPG is not configured on this system.", "fingerprint": "N/A"})
    if admin:
        admin_roles = {r["id"] for r in ctx.store.all("roles") if r["perm_admin"] and not r["perm_site_admin"]}
        user["orgAdmins"] = {str(u["id"]): u["email"] for u in ctx.store.find("users", org_id=row["org_id"])
                             if u["role_id"] in admin_roles} or []
    # A user whose role/org no longer exists (an edit saves unknown ids, users--errors step 18) is
    # shown with every field of the missing record null; the role's computed level still reads read-only.
    return misp_json({"User": user, "Role": role_json(role) if role else MISSING_ROLE,
                      "UserSetting": [], "Organisation": org_json(org) if org else MISSING_ORG})


@route("/admin/users/view", access="org_admin")
def admin_view(ctx: Ctx) -> Response:
    row = visible(ctx, ctx.store.get("users", ctx.args[0])) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid user")
    return full_view(ctx, row, admin=True)


@route("/users/view", access="user")
def self_view(ctx: Ctx) -> Response:
    assert ctx.user is not None
    ident = ctx.args[0] if ctx.args else "me"
    row = ctx.user if ident == "me" else visible(ctx, ctx.store.get("users", ident)) if ident.isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid user or not authorised.")
    return full_view(ctx, row)


def check_password(password: str) -> list[str]:
    if len(password) < 12:
        return ["Password length requirement not met."]
    if not COMPLEXITY_RE.match(password):
        return ["Password complexity requirement not met."]
    return []


def user_values(ctx: Ctx, data: dict[str, Any], current: Row | None, failure: str, url: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    if "email" in data or current is None:
        email = str(data.get("email") or "").strip()
        if not email:
            errors["email"] = "Mandatory field not set."
        elif not EMAIL_RE.match(email):
            errors["email"] = ["Please enter a valid email address."]
        else:
            same = ctx.store.find_ci("users", "email", email)
            if same is not None and (current is None or same["id"] != current["id"]):
                errors["email"] = ["An account with this email address already exists."]
        values["email"] = email
    if data.get("password"):
        problems = check_password(str(data["password"]))
        if problems:
            errors["password"] = problems
        values["password"] = hash_password(str(data["password"]))
        values["last_pw_change"] = now_epoch()
    if errors:
        raise validation_error(failure, url, errors) if current is None else edit_error(failure, url, errors, current)
    for name in BOOLS:
        if name in data:
            values[name] = int(data[name] not in (False, 0, "0", "", None, "false"))
    for name in ("gpgkey", "certif_public", "external_auth_key"):
        if name in data:
            values[name] = data[name].strip() if isinstance(data[name], str) else data[name]  # MISP trims
    if "nids_sid" in data and str(data["nids_sid"]).isdigit():
        values["nids_sid"] = int(data["nids_sid"])
    return values


def edit_error(failure: str, url: str, errors: Any, current: Row) -> MispAbort:
    """A failed edit also echoes the user's id (users--errors steps 13-15)."""
    return MispAbort(misp_json({"saved": False, "name": failure, "message": failure, "url": url,
                                "errors": errors, "id": str(current["id"])}, 403))


def assignable(ctx: Ctx, role: Row, current_role_id: int | None) -> bool:
    """Org admins may not hand out privileged roles (reference §3.3: MISP answers 500)."""
    if ctx.is_site_admin or role["id"] == current_role_id:
        return True
    return not any(role[flag] for flag in PRIVILEGED)


@route("/admin/users/add", methods=("POST",), access="org_admin", wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":
        return misp_json({"name": "/admin/users/add API description",
                          "description": "POST a User object in JSON format to this API to create a new user.",
                          "mandatory_fields": ["email", "org_id", "role_id"], "optional_fields": list(OPTIONAL),
                          "url": "/admin/users/add"})
    assert ctx.user is not None
    data = ctx.data("User")
    values = user_values(ctx, data, None, "Could not add User", ctx.url)
    org_id = data.get("org_id", ctx.user["org_id"]) if ctx.is_site_admin else ctx.user["org_id"]
    if not str(org_id).isdigit() or ctx.store.get("organisations", org_id) is None:
        raise validation_error("Could not add User", ctx.url, ["Invalid organisation"])
    role_id = data.get("role_id") or default_role_id(ctx.store)
    role = ctx.store.get("roles", role_id) if str(role_id).isdigit() else None
    if role is None:
        raise misp_error(405, "Invalid role", ctx.url)
    if not assignable(ctx, role, None):
        raise misp_error(500, INTERNAL_ERROR, ctx.url)
    now = now_epoch()
    row = ctx.store.insert("users", {
        "password": values.pop("password", hash_key(generate_key())), "org_id": int(str(org_id)),
        "role_id": role["id"], "server_id": 0, "invited_by": ctx.user["id"], "nids_sid":
        values.pop("nids_sid", random.randint(1_000_000, 9_999_999)), "gpgkey": "", "certif_public": "",
        "change_pw": 1, "autoalert": 0, "contactalert": 0, "disabled": 0, "termsaccepted": 0, "newsread": 0,
        "date_created": now, "date_modified": now, "last_pw_change": now, "current_login": 0, "last_login": 0,
        "last_api_access": 0, "external_auth_key": "", **values})
    key = generate_key()  # advanced auth keys: the user's first key, returned once in clear
    ctx.store.insert("auth_keys", {"uuid": new_uuid(), "authkey": hash_key(key), "authkey_start": key[:4],
                                   "authkey_end": key[-4:], "created": now, "expiration": 0, "read_only": 0,
                                   "user_id": row["id"], "comment": "", "allowed_ips": None})
    # Title as MISP writes it (transcript auth--org-admin-refusals #45: "User (83): <email>").
    ctx.log("User", row["id"], "add", f"User ({row['id']}): {row['email']}", change_text({}, row, row))
    if data.get("notify") not in (None, False, 0, "0", "", "false"):
        row = send_credentials(ctx, row, str(data.get("password") or ""))
    body = user_json(row)
    body = {**{k: body[k] for k in list(body)[:6]}, "authkey": key, **{k: body[k] for k in list(body)[6:]}}
    return misp_json({"User": body})


def send_credentials(ctx: Ctx, row: Row, given_password: str) -> Row:
    """MISP's "send credentials" after an add (reference §3.3, User::initiatePasswordReset with firstTime):
    the mail carries the password given, or a fresh random one that replaces the stored password, and
    change_pw is set. With MISP.disable_emailing on, or to a disabled user, no mail goes out, nothing is
    logged and the answer does not say so — but the password is replaced all the same."""
    password = given_password or generate_key()[:20] + "aA1"
    row = ctx.store.update("users", row["id"], {"password": hash_password(password), "last_pw_change": now_epoch(),
                                                 "change_pw": 1})
    if current(ctx.store, "MISP.disable_emailing") or row["disabled"]:
        return row
    subject = f"[{current(ctx.store, 'MISP.org')} MISP] New user registration"
    # MISP's SendEmail log line, with its two spaces before "to" (User::sendEmail).
    title = f'{"Encrypted email" if row["gpgkey"] else "Email"}  to {row["email"]} sent, titled "{subject}".'
    ctx.store.insert("logs", {"title": title, "created": now_text(), "model": "User", "model_id": row["id"],
                              "action": "email", "user_id": 0, "change": "", "email": row["email"],
                              "org": "SYSTEM", "ip": "", "description": ""})
    return row


@route("/admin/users/edit", methods=("POST", "PUT"), access="org_admin", wrong_method=None)
def edit(ctx: Ctx) -> Response:
    row = visible(ctx, ctx.store.get("users", ctx.args[0])) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid user")
    if ctx.method not in ("POST", "PUT"):
        return misp_json({"name": "/admin/users/edit API description",
                          "description": "POST a User object in JSON format to this API to edit a user.",
                          "optional_fields": ["email", "org_id", "role_id", *OPTIONAL], "url": "/admin/users/edit"})
    data = ctx.data("User")
    values = user_values(ctx, data, row, "Could not edit User", ctx.url)
    if "role_id" in data:
        role = ctx.store.get("roles", data["role_id"]) if str(data["role_id"]).isdigit() else None
        if role is not None and not assignable(ctx, role, row["role_id"]):
            raise misp_error(500, INTERNAL_ERROR, ctx.url)
        values["role_id"] = int(data["role_id"])  # MISP saves an unknown role id as sent (users--errors)
    if "org_id" in data and ctx.is_site_admin and str(data["org_id"]).isdigit():
        values["org_id"] = int(data["org_id"])
    values["date_modified"] = now_epoch()
    updated = ctx.store.update("users", row["id"], values)
    ctx.log("User", row["id"], "edit", updated["email"], change_text(row, updated, values))
    return misp_json({"User": user_json(updated)})


@route("/admin/users/delete", methods=("POST", "DELETE"), access="org_admin", wrong_method=None)
def delete(ctx: Ctx) -> Response:
    row = visible(ctx, ctx.store.get("users", ctx.args[0])) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid user")
    if ctx.method not in ("POST", "DELETE"):
        return Response(DELETE_MODAL, media_type=None, headers={"content-type": JSON_TYPE})
    ctx.store.delete("users", id=row["id"])  # the user's auth keys stay behind, as in MISP (reference §3.3)
    ctx.log("User", row["id"], "delete", row["email"])
    return deleted("User deleted.", ctx.url, str(row["id"]))
