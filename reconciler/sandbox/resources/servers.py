"""Sync servers (transcripts servers--*): add and edit answers echo the remote's key, the index never does;
an empty authkey on edit keeps the stored one; delete answers with MISP's odd url/id.

`testConnection` is real twin-to-twin sync: it calls the remote's `/servers/getVersion` and `/servers/postTest`
over HTTP with the link's url and key. In-process sandboxes reach each other without ports through
`link_remote(app, url, other_app)` (an ASGI transport per url prefix).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from starlette.responses import Response

from reconciler.sandbox.http import Ctx, misp_error, misp_json, route, validation_error
from reconciler.sandbox.resources.instance import MISP_VERSION
from reconciler.sandbox.resources.organisations import find_org
from reconciler.sandbox.store import Row

if TYPE_CHECKING:
    from starlette.types import ASGIApp

BOOLS = ("push", "pull", "push_sightings", "push_galaxy_clusters", "push_analyst_data", "pull_analyst_data",
         "pull_galaxy_clusters", "publish_without_email", "unpublish_event", "self_signed", "internal",
         "skip_proxy", "remove_missing_tags", "caching_enabled")
EMPTY_PULL: dict[str, Any] = {"tags": {"OR": [], "NOT": []}, "orgs": {"OR": [], "NOT": []},
                              "type_attributes": {"NOT": []}, "type_objects": {"NOT": []}, "url_params": ""}
EMPTY_PUSH: dict[str, Any] = {"tags": {"OR": [], "NOT": []}, "orgs": {"OR": [], "NOT": []}}
AUTHKEY_RE = re.compile(r"^[A-Za-z0-9]{40}$")
URL_RE = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
POST_TEST_STRING = "testSandboxPostPayload"  # any fixed string: the remote must echo it back unchanged
TEST_TIMEOUT = 10.0  # seconds; MISP's own HttpSocket default for a connection test is of this order


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def server_json(row: Row, *, with_key: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(row["id"]), "name": row["name"], "url": row["url"]}
    if with_key:
        body["authkey"] = row["authkey"]
    body["org_id"] = str(row["org_id"])
    for name in ("push", "pull", "push_sightings", "push_galaxy_clusters", "push_analyst_data", "pull_analyst_data",
                 "pull_galaxy_clusters"):
        body[name] = bool(row[name])
    body.update({"lastpulledid": row["lastpulledid"], "lastpushedid": row["lastpushedid"],
                 "organization": row["organization"], "remote_org_id": str(row["remote_org_id"])})
    for name in ("publish_without_email", "unpublish_event", "self_signed"):
        body[name] = bool(row[name])
    body.update({"pull_rules": row["pull_rules"], "push_rules": row["push_rules"], "cert_file": row["cert_file"],
                 "client_cert_file": row["client_cert_file"]})
    for name in ("internal", "skip_proxy", "remove_missing_tags", "caching_enabled"):
        body[name] = bool(row[name])
    body["priority"] = str(row["priority"])
    return body


def org_summary(row: Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"id": str(row["id"]), "name": row["name"], "uuid": row["uuid"], "nationality": row["nationality"] or "",
            "sector": row["sector"] or "", "type": row["type"] or ""}


def index_entry(ctx: Ctx, row: Row) -> dict[str, Any]:
    # The index embeds both organisations but never the remote's key (servers--crud); a remote org that no
    # longer exists comes back as nulls (servers--errors step 19).
    remote = org_summary(ctx.store.get("organisations", row["remote_org_id"]))
    return {"Server": {**server_json(row, with_key=False), "cache_timestamp": False},
            "Organisation": org_summary(ctx.store.get("organisations", row["org_id"])),
            "RemoteOrg": remote or {"id": None, "name": None, "uuid": None, "nationality": None, "sector": None,
                                    "type": None},
            "User": [{"id": str(u["id"]), "email": u["email"]} for u in ctx.store.find("users", server_id=row["id"])]}


@route("/servers/index")
def index(ctx: Ctx) -> Response:
    rows = ctx.store.all("servers")
    if search := ctx.named.get("search"):
        needle = search.lower()
        rows = [r for r in rows if needle in (r["name"] or "").lower() or needle in (r["url"] or "").lower()]
    return misp_json([index_entry(ctx, r) for r in rows])


def rules_errors(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    for name, word in (("pull_rules", "pull"), ("push_rules", "push")):
        value = data.get(name)
        if not isinstance(value, str) or value == "":
            continue
        try:
            json.loads(value)
        except ValueError:
            errors[name] = f"The {word} filter rules must be in valid JSON format."
    return errors


def server_values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in BOOLS:
        if name in data:
            values[name] = int(data[name] not in (False, 0, "0", "", None, "false"))
    if "name" in data:
        values["name"] = data["name"]
    if "url" in data:
        values["url"] = str(data["url"]).rstrip("/")
    if data.get("authkey"):  # an empty key leaves the stored one (servers--crud)
        values["authkey"] = data["authkey"]
    # Stored as sent: an empty string stays empty, it does not go back to the defaults
    # (servers--add-full step 6).
    for name in ("pull_rules", "push_rules"):
        if name in data:
            values[name] = data[name]
    return values


def check_rules_are_strings(ctx: Ctx, data: dict[str, Any]) -> None:
    # MISP json_decodes the rules itself: an object instead of a JSON string is a PHP TypeError, a bare 500
    # (servers--errors step 8).
    if any(not isinstance(data.get(n, ""), str) for n in ("pull_rules", "push_rules")):
        raise misp_error(500, "An Internal Error Has Occurred.", ctx.url)


def certificate_values(row_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Certificates are stored as files named after the server id; the API only ever shows the file name
    (servers--add-full steps 1, 4, 5). The sandbox keeps the name, not the content."""
    values: dict[str, Any] = {}
    if data.get("submitted_cert"):
        values["cert_file"] = f"{row_id}.pem"
    elif data.get("delete_cert") not in (None, False, 0, "0", ""):
        values["cert_file"] = ""
    if data.get("submitted_client_cert"):
        values["client_cert_file"] = f"{row_id}_client.pem"
    elif data.get("delete_client_cert") not in (None, False, 0, "0", ""):
        values["client_cert_file"] = ""
    return values


ADD_DESCRIPTION = {
    "name": "/servers/add API description",
    "description": "POST an Server object in JSON format to this API to add a server.",
    "mandatory_fields": ["url", "name", "remote_org_id", "authkey"],
    "optional_fields": ["push", "pull", "push_sightings", "push_rules", "pull_rules", "submitted_cert",
                        "submitted_client_cert", "json"],
    "url": "/servers/add",
}


def add_errors(data: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    if not data.get("name"):
        errors["name"] = ["This field cannot be left blank"]
    if not URL_RE.match(str(data.get("url", ""))):
        errors["url"] = ["Invalid baseurl, please make sure that the protocol is set."]
    if not AUTHKEY_RE.match(str(data.get("authkey", ""))):
        errors["authkey"] = ["The authkey has to be exactly 40 characters long and consist of alphanumeric "
                             "characters."]
    return {**errors, **rules_errors(data)}


@route("/servers/add", methods=("POST",), wrong_method=None)
def add(ctx: Ctx) -> Response:
    if ctx.method != "POST":  # GET describes the endpoint (servers--errors step 17)
        return misp_json(ADD_DESCRIPTION)
    data = ctx.data("Server")
    if not data.get("remote_org_id"):
        raise misp_error(405, "No remote org ID set. Please pass it as remote_org_id", ctx.url)
    remote = find_org(ctx.store, str(data["remote_org_id"]))
    if remote is None:
        raise validation_error("Could not add Server", ctx.url, {"Organisation": "Invalid Remote Organisation"})
    check_rules_are_strings(ctx, data)
    if errors := add_errors(data):
        raise validation_error("Could not add Server", ctx.url, errors)
    assert ctx.user is not None
    # `priority` and `internal` are ignored on add: MISP appends at the lowest priority and only lets an edit
    # set `internal` (servers--add-full step 1).
    values = {"org_id": ctx.user["org_id"], "pull_rules": compact(EMPTY_PULL), "push_rules": compact(EMPTY_PUSH),
              "priority": ctx.store.count("servers") + 1, **server_values(data), "internal": 0,
              "remote_org_id": remote["id"]}
    row = ctx.store.insert("servers", values)
    if certs := certificate_values(row["id"], data):
        row = ctx.store.update("servers", row["id"], certs)
    ctx.log("Server", row["id"], "add", f"Server ({row['id']}): {row['url']}")
    return misp_json({"Server": server_json(row, with_key=True)})


def server_or_404(ctx: Ctx) -> Row:
    row = ctx.store.get("servers", ctx.args[0]) if ctx.args and ctx.args[0].isdigit() else None
    if row is None:
        raise ctx.not_found("Invalid server")
    return row


@route("/servers/edit", methods=("POST", "PUT"))
def edit(ctx: Ctx) -> Response:
    row = server_or_404(ctx)
    data = ctx.data("Server")
    check_rules_are_strings(ctx, data)
    # MISP's edit failure drops the id from the url; a bad url gives errors null (servers--errors 11, 12).
    if "url" in data and not URL_RE.match(str(data["url"])):
        raise validation_error("Could not edit Server", "/servers/edit", None)
    if errors := rules_errors(data):
        raise validation_error("Could not edit Server", "/servers/edit", errors)
    values = {**server_values(data), **certificate_values(row["id"], data)}
    if "priority" in data:
        values["priority"] = int(data["priority"])
    # Edit does not check the remote org: an unknown numeric id is saved as is, and the index then embeds an
    # all-null RemoteOrg (servers--errors steps 13 and 19).
    remote_ref = str(data.get("remote_org_id") or "")
    remote = find_org(ctx.store, remote_ref) if remote_ref else None
    if remote is not None:
        values["remote_org_id"] = remote["id"]
    elif remote_ref.isdigit():
        values["remote_org_id"] = int(remote_ref)
    updated = ctx.store.update("servers", row["id"], values)
    ctx.log("Server", row["id"], "edit", f"Server ({row['id']}): {updated['url']}")
    return misp_json({"Server": server_json(updated, with_key=True)})


@route("/servers/delete", methods=("POST", "DELETE"), wrong_method="This endpoint expects POST requests.")
def delete(ctx: Ctx) -> Response:
    row = server_or_404(ctx)
    ctx.store.delete("servers", id=row["id"])
    ctx.log("Server", row["id"], "delete", f"Server ({row['id']}): {row['url']}")
    # MISP puts its message where the id belongs (servers--crud).
    return misp_json({"saved": True, "success": True, "name": "Server deleted", "message": "Server deleted",
                      "url": "/servers/delete/Server deleted", "id": "Server deleted"})


# -- connection test (reference misp-sync-ops-api.md 1.6) ------------------------------------------------

def link_remote(app: Any, url_prefix: str, remote: ASGIApp) -> None:
    """Let `app`'s connection tests reach `remote` (an ASGI app) for server urls starting with `url_prefix`,
    without a port: used to link in-process sandboxes into a fleet."""
    app.state.extra.setdefault("remote_transports", {})[url_prefix.rstrip("/")] = remote


def transport_for(ctx: Ctx, url: str) -> httpx.AsyncBaseTransport | None:
    for prefix, remote in ctx.app_state.extra.get("remote_transports", {}).items():
        if url == prefix or url.startswith(prefix + "/"):
            return httpx.ASGITransport(app=remote)
    return None  # a real network connection


def version_tuple(text: Any) -> tuple[int, int, int] | None:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", str(text))
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def compare_versions(remote: tuple[int, int, int]) -> tuple[Any, Any]:
    """(mismatch, newer) as MISP reports them: which part differs first, and which side is ahead."""
    local = version_tuple(MISP_VERSION)
    assert local is not None
    for part, mine, theirs in zip(("major", "minor", "hotfix"), local, remote, strict=True):
        if mine != theirs:
            return part, "local" if mine > theirs else "remote"
    return False, False


async def post_test(client: httpx.AsyncClient, url: str, key: str) -> Any:
    """1 when the remote echoes our payload, 8 when the POST fails, 9 when mangled, 10 when the remote saw other
    content headers; "too old" when it has no postTest."""
    try:
        answer = await client.post(f"{url}/servers/postTest", json={"testString": POST_TEST_STRING},
                                   headers={"Authorization": key, "Accept": "application/json"})
    except httpx.HTTPError:
        return 8
    if answer.status_code == 404:
        return "too old"
    try:
        echoed = answer.json()
    except ValueError:
        return 8
    if not isinstance(echoed, dict) or echoed.get("body", {}).get("testString") != POST_TEST_STRING:
        return 9
    headers = echoed.get("headers", {})
    if "application/json" not in str(headers.get("Content-type")) or \
            "application/json" not in str(headers.get("Accept")):
        return 10
    return 1


def status_for(version: dict[str, Any]) -> int:
    if version.get("perm_sync"):
        return 1
    return 8 if version.get("perm_sighting") else 7


def off_this_machine(url: str) -> bool:
    """The twin only ever talks to other twins: in process, or on a loopback address. A link to anywhere else
    is reported unreachable without sending anything (a sandbox must never reach a real MISP)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


async def run_connection_test(ctx: Ctx, row: Row) -> dict[str, Any]:
    url, key = row["url"], row["authkey"]
    if transport_for(ctx, url) is None and off_this_machine(url):
        return {"status": 2, "client_certificate": None}  # never sends traffic beyond this machine
    headers = {"Authorization": key, "Accept": "application/json", "Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport_for(ctx, url), timeout=TEST_TIMEOUT) as client:
        try:
            answer = await client.get(f"{url}/servers/getVersion", headers=headers)
        except httpx.HTTPError:
            return {"status": 2, "client_certificate": None}
        if answer.status_code in (401, 403):
            return {"status": 4, "client_certificate": None}
        try:
            version = answer.json()
        except ValueError:
            version = None
        remote = version_tuple(version.get("version")) if isinstance(version, dict) else None
        if answer.status_code != 200 or remote is None or not isinstance(version, dict):
            return {"status": 3, "client_certificate": None}
        mismatch, newer = compare_versions(remote)
        post = await post_test(client, url, key)
    return {"status": status_for(version), "local_version": MISP_VERSION, "version": version["version"],
            "mismatch": mismatch, "newer": newer, "post": post, "response_encoding": None,
            "request_encoding": version.get("request_encoding", []), "client_certificate": None,
            "uuid": version.get("uuid", "-")}


@route("/servers/testConnection", methods=("GET", "POST"), transactional=False)
async def test_connection(ctx: Ctx) -> Response:
    """Calls the remote over HTTP outside the database transaction: handlers must not await inside one."""
    with ctx.store.transaction():
        row = server_or_404(ctx)
    result = await run_connection_test(ctx, row)
    if result["status"] != 1:  # MISP logs failed tests as errors on the server (reference 1.6)
        with ctx.store.transaction():
            ctx.log("Server", row["id"], "error", f"Connection test to {row['url']} returned status "
                    f"{result['status']}")
    return misp_json(result)


@route("/servers/postTest", methods=("POST",), access="user")
def echo_post(ctx: Ctx) -> Response:
    headers = ctx.request.headers
    return misp_json({"body": ctx.json(), "headers": {
        "Content-type": headers.get("content-type", ""), "Accept": headers.get("accept", ""),
        "Authorization": "OK" if headers.get("authorization") else 0}})


@route("/servers/getRemoteUser", transactional=False)
async def get_remote_user(ctx: Ctx) -> Response:
    """Who the link's key is on the remote: the remote's `/users/view/me`, summarised as MISP does."""
    with ctx.store.transaction():
        row = server_or_404(ctx)
    if transport_for(ctx, row["url"]) is None and off_this_machine(row["url"]):
        return misp_json({"error": "ConnectError"})  # never sends traffic beyond this machine
    headers = {"Authorization": row["authkey"], "Accept": "application/json"}
    try:
        async with httpx.AsyncClient(transport=transport_for(ctx, row["url"]), timeout=TEST_TIMEOUT) as client:
            answer = await client.get(f"{row['url']}/users/view/me", headers=headers)
    except httpx.HTTPError as exc:
        return misp_json({"error": type(exc).__name__})
    if answer.status_code != 200:
        return misp_json({"error": answer.status_code})
    try:
        me = answer.json()
        body: dict[str, Any] = {"User": me["User"]["email"], "Role name": me["Role"]["name"],
                                "Sync flag": "Yes" if me["Role"].get("perm_sync") else "No"}
    except (ValueError, KeyError, TypeError):
        return misp_json({"error": "Invalid response"})
    if expiration := answer.headers.get("x-auth-key-expiration"):
        body["Auth key expiration"] = expiration
    return misp_json(body)


@route("/servers/changePriority", methods=("GET", "POST"))
def change_priority(ctx: Ctx) -> Response:
    """Swap with the neighbour up or down, then renumber every link 1..n (reference 1.2)."""
    row = server_or_404(ctx)
    direction = ctx.args[1] if len(ctx.args) > 1 else ""
    if direction not in ("up", "down"):
        raise misp_error(403, "Invalid direction.", ctx.url)
    ordered = sorted(ctx.store.all("servers"), key=lambda r: (r["priority"], r["id"]))
    at = next(i for i, r in enumerate(ordered) if r["id"] == row["id"])
    other = at - 1 if direction == "up" else at + 1
    if 0 <= other < len(ordered):
        ordered[at], ordered[other] = ordered[other], ordered[at]
    for number, server in enumerate(ordered, start=1):
        if server["priority"] != number:
            ctx.store.update("servers", server["id"], {"priority": number})
    ctx.log("Server", row["id"], "edit", f"Server ({row['id']}): {row['url']}", f"priority moved {direction}")
    return misp_json({"saved": True, "success": True, "name": "Priority changed.", "message": "Priority changed.",
                      "url": f"/servers/changePriority/{row['id']}/{direction}"})
