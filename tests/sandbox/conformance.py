"""Replay the recorded MISP 2.5.1 transcripts against fresh sandboxes and compare the answers.

Compared: status, content type, and the JSON *shape* (keys and value types, recursively), plus the values
that are stable between instances. Ignored: what the transcripts README lists as volatile (ids, uuids,
timestamps, run tags, generated keys, counters). Ids and keys created by earlier steps are mapped: each
answer's ids are recorded (transcript id → sandbox id) and later request paths and bodies are rewritten.

    python -m tests.sandbox.conformance                 # the per-scenario table
    python -m tests.sandbox.conformance users--errors   # every step of one scenario, with differences
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.sandbox import DEFAULT_ADMIN_KEY, create_app
from reconciler.sandbox.http import generate_key, hash_key, new_uuid, now_epoch

TRANSCRIPTS = Path(__file__).parents[3] / "shared" / "data" / "misp-transcripts"
KNOWN = Path(__file__).parent / "KNOWN_MISMATCHES.md"
VOLATILE = {"id", "uuid", "date_created", "date_modified", "created", "modified", "last_pw_change",
            "last_api_access", "current_login", "expiration", "timestamp", "authkey_start", "authkey_end",
            "authkey", "authkey_raw", "nids_sid", "colour", "org_id", "user_id", "role_id",
            "sharing_group_id", "tag_id", "model_id", "server_id", "remote_org_id", "invited_by", "created_by",
            "user_count", "org_count", "current_count", "total_count", "organisation_uuid", "sync_user_id",
            "id_", "unique_ips", "taxonomy_id", "count", "attribute_count"}
ID_KEYS = re.compile(r"(^id$|_id$)")
UUID_IN_PATH = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
ID_IN_PATH = re.compile(r"([/:])(\d+)(?=/|$|\.json)")


# Which kind of record an id belongs to: by the wrapper around it, by its field name, by its place in a path.
WRAPPER_KIND = {"Organisation": "organisations", "Org": "organisations", "Orgc": "organisations",
                "RemoteOrg": "organisations", "User": "users", "Role": "roles", "AuthKey": "auth_keys",
                "Tag": "tags", "SharingGroup": "sharing_groups", "Server": "servers", "Feed": "feeds",
                "Taxonomy": "taxonomies", "Log": "logs", "Regexp": "regexp", "Template": "templates",
                "TemplateElement": "template_elements", "OrgBlocklist": "org_blocklists",
                "EventBlocklist": "event_blocklists", "SharingGroupOrg": "sharing_group_orgs",
                "SharingGroupServer": "sharing_group_servers"}
FIELD_KIND = {"org_id": "organisations", "orgc_id": "organisations", "remote_org_id": "organisations",
              "user_id": "users", "invited_by": "users", "role_id": "roles", "tag_id": "tags",
              "sharing_group_id": "sharing_groups", "server_id": "servers", "taxonomy_id": "taxonomies",
              "template_id": "templates", "template_element_id": "template_elements", "feed_id": "feeds"}
# (controller, action) → kinds of its positional numeric arguments, when not the controller's own kind.
ARG_KINDS = {("auth_keys", "index"): ["users"], ("auth_keys", "add"): ["users"],
             ("sharing_groups", "addOrg"): ["sharing_groups", "organisations"],
             ("sharing_groups", "removeOrg"): ["sharing_groups", "organisations"],
             ("sharing_groups", "addServer"): ["sharing_groups", "servers"],
             ("sharing_groups", "removeServer"): ["sharing_groups", "servers"]}


def _controller_action(path: str) -> tuple[str, str]:
    segments = [s for s in path.split("?")[0].split("/") if s and s != "admin"]
    return (segments[0] if segments else "", segments[1] if len(segments) > 1 else "")


def path_kind(path: str) -> str:
    return _controller_action(path)[0]


def path_arg_kinds(path: str) -> list[str]:
    controller, action = _controller_action(path)
    return ARG_KINDS.get((controller, action), [controller] * 4)


@dataclass
class StepResult:
    index: int
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    name: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(s.ok for s in self.steps)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def same_text(value: str) -> str:
    return value


def compare(expected: Any, actual: Any, path: str, problems: list[str], *, key: str = "",
            map_url: Callable[[str], str] = same_text) -> None:
    """Shape and stable values; volatile keys only by type (null and string may alternate for them)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected and all(k.isdigit() for k in [*expected, *actual]):  # keyed by ids: compare in order
            if len(expected) != len(actual):
                problems.append(f"{path}: {len(actual)} entries instead of {len(expected)}")
            for (_, want), (_, got) in zip(expected.items(), actual.items(), strict=False):
                compare(want, got, f"{path}[id]", problems, key=key, map_url=map_url)
            return
        for name in expected:
            if name not in actual:
                problems.append(f"{path}.{name}: missing")
            else:
                compare(expected[name], actual[name], f"{path}.{name}", problems, key=name, map_url=map_url)
        for name in actual:
            if name not in expected:
                problems.append(f"{path}.{name}: unexpected")
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if expected and actual:
            compare(expected[0], actual[0], f"{path}[0]", problems, key=key, map_url=map_url)
        elif expected and not actual and key not in VOLATILE and not path.endswith("]"):
            problems.append(f"{path}: empty list, expected items")
        return
    volatile = key in VOLATILE or ID_KEYS.search(key) is not None
    if type_name(expected) != type_name(actual):
        if volatile and {type_name(expected), type_name(actual)} <= {"null", "string", "number"}:
            return
        problems.append(f"{path}: {type_name(actual)} instead of {type_name(expected)}")
        return
    if key == "url" and isinstance(expected, str):  # error bodies echo the path: ids mapped like requests
        expected = map_url(expected)
    if not volatile and not isinstance(expected, dict | list) and expected != actual:
        problems.append(f"{path}: {actual!r} instead of {expected!r}")


class Replayer:
    """One scenario against one fresh sandbox."""

    def __init__(self) -> None:
        self.app = create_app()
        # transcript id → sandbox id, per kind: ids of different tables collide (user 81 and tag 81)
        self.ids: dict[tuple[str, str], str] = {}
        self.any_ids: dict[str, str] = {}  # fallback when the kind of an id is unknown (named params)
        self.uuids: dict[str, str] = {}  # uuids MISP generated in the transcript → the sandbox's
        self.keys: dict[str, str] = {"<admin-key>": DEFAULT_ADMIN_KEY, "<unknown-40-char-key>": "U" * 40,
                                     "<short-key>": "short", "<basic-auth user:pass>": "Basic dXNlcjpwYXNz"}
        self.last_user_id: str | None = None
        self.user_keys: dict[int, str] = {}  # sandbox user id → its clear key, from user add answers

    def sandbox_id(self, kind: str | None, transcript_id: str) -> str:
        if kind is not None and (kind, transcript_id) in self.ids:
            return self.ids[(kind, transcript_id)]
        return self.any_ids.get(transcript_id, transcript_id)

    def map_path(self, path: str) -> str:
        origin = re.match(r"^https?://[^/]+", path)  # absolute urls in answers: map the path part only
        if origin:
            return origin.group(0) + self.map_path(path[origin.end():])
        path = UUID_IN_PATH.sub(lambda m: self.uuids.get(m.group(0).lower(), m.group(0)), path)
        kinds = iter(path_arg_kinds(path))
        return ID_IN_PATH.sub(lambda m: m.group(1) + self.sandbox_id(next(kinds, None) if m.group(1) == "/"
                                                                     else None, m.group(2)), path)

    def map_body(self, body: Any, kind: str | None, key: str = "") -> Any:
        if isinstance(body, dict):
            return {k: self.map_body(v, WRAPPER_KIND.get(k, kind), k) for k, v in body.items()}
        if isinstance(body, list):
            return [self.map_body(v, kind, key) for v in body]
        if isinstance(body, str | int) and not isinstance(body, bool) and ID_KEYS.search(key):
            mapped = self.sandbox_id(kind if key == "id" else FIELD_KIND.get(key), str(body))
            return mapped if isinstance(body, str) else int(mapped)
        return body

    def learn(self, expected: Any, actual: Any, kind: str | None, key: str = "") -> None:
        """Pair the ids of the recorded answer with the sandbox's, position by position, per kind."""
        if isinstance(expected, dict) and isinstance(actual, dict):
            for name in expected:
                if name in actual:
                    self.learn(expected[name], actual[name], WRAPPER_KIND.get(name, kind), name)
        elif isinstance(expected, list) and isinstance(actual, list):
            for a, b in zip(expected, actual, strict=False):
                self.learn(a, b, kind, key)
        elif key == "uuid" and isinstance(expected, str) and isinstance(actual, str):
            self.uuids.setdefault(expected.lower(), actual)
        elif ID_KEYS.search(key) and expected is not None and actual is not None \
                and str(expected) not in ("0", ""):
            id_kind = kind if key == "id" else FIELD_KIND.get(key)
            if id_kind is not None:
                self.ids.setdefault((id_kind, str(expected)), str(actual))
            self.any_ids.setdefault(str(expected), str(actual))

    def capture_keys(self, answer: Any) -> None:
        """Keep the clear key of each user the sandbox creates (user add answers it once as User.authkey)."""
        user = answer.get("User") if isinstance(answer, dict) else None
        if isinstance(user, dict) and isinstance(user.get("authkey"), str) and len(user["authkey"]) == 40:
            self.user_keys[int(user["id"])] = user["authkey"]

    def orgadmin_key(self) -> str:
        """The most recent org admin's key: the one its user add answered (so the sandbox holds exactly the
        keys MISP held), or, when that answer was not seen, a key made for it through the Store."""
        if "<orgadmin-key>" in self.keys:
            return self.keys["<orgadmin-key>"]
        store = self.app.state.store
        with store.transaction():
            admins = [u for u in store.all("users") if u["role_id"] == 2]
            key = self.user_keys.get(admins[-1]["id"], "") if admins else ""
            if not key:
                key = generate_key()
            if admins and admins[-1]["id"] not in self.user_keys:
                store.insert("auth_keys", {"uuid": new_uuid(), "authkey": hash_key(key), "authkey_start": key[:4],
                                           "authkey_end": key[-4:], "created": now_epoch(), "expiration": 0,
                                           "read_only": 0, "user_id": admins[-1]["id"], "comment": "conformance"})
        self.keys["<orgadmin-key>"] = key
        return key

    def headers(self, request: dict[str, Any]) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        auth = request.get("auth")
        if auth:
            parts = [self.orgadmin_key() if p == "<orgadmin-key>" else self.keys.get(p, p) for p in auth.split(",")]
            headers["Authorization"] = ",".join(parts)
        for name, value in (request.get("extra_headers") or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = self.keys.get(value, value)
        return headers

    async def step(self, client: httpx.AsyncClient, index: int, step: dict[str, Any]) -> StepResult:
        request, expected = step["request"], step["response"]
        body = request.get("json")
        content = step.get("body_text")
        if content is None and body is not None:
            content = json.dumps(self.map_body(body, path_kind(request["path"])))
        response = await client.request(request["method"], self.map_path(request["path"]),
                                        content=content, headers=self.headers(request))
        problems: list[str] = []
        if response.status_code != expected["status"]:
            problems.append(f"status {response.status_code} instead of {expected['status']}")
        want_type = expected["headers"].get("content-type", "")
        if response.headers.get("content-type", "") != want_type:
            problems.append(f"content-type {response.headers.get('content-type')!r} instead of {want_type!r}")
        if "json" in expected:
            try:
                actual = response.json()
            except ValueError:
                problems.append("answer is not JSON")
            else:
                compare(expected["json"], actual, "$", problems, map_url=self.map_path)
                self.capture_keys(actual)
                self.learn(expected["json"], actual, path_kind(request["path"]))
        return StepResult(index, step["name"], not problems, problems)

    async def run(self, name: str, steps: list[dict[str, Any]]) -> ScenarioResult:
        result = ScenarioResult(name)
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            for index, step in enumerate(steps):
                try:
                    result.steps.append(await self.step(client, index, step))
                except Exception as exc:
                    result.steps.append(StepResult(index, step["name"], False, [f"crashed: {exc!r}"]))
        return result


def scenarios() -> list[Path]:
    return sorted(TRANSCRIPTS.glob("*--*.json"))


def replay(path: Path) -> ScenarioResult:
    return asyncio.run(Replayer().run(path.stem, json.loads(path.read_text())))


def known_mismatches() -> dict[str, str]:
    """`scenario#step` (or `scenario#*`) → reason, from KNOWN_MISMATCHES.md's table lines."""
    known: dict[str, str] = {}
    for line in KNOWN.read_text().splitlines() if KNOWN.exists() else []:
        match = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line)
        if match:
            known[match.group(1)] = match.group(2)
    return known


def is_known(known: dict[str, str], scenario: str, step: int) -> bool:
    return f"{scenario}#{step}" in known or f"{scenario}#*" in known


def table(results: list[ScenarioResult]) -> str:
    lines = [f"{'scenario':45} matched / steps"]
    total = matched = 0
    for result in results:
        lines.append(f"{result.name:45} {result.matched:3} / {len(result.steps)}")
        total += len(result.steps)
        matched += result.matched
    share = 100.0 * matched / total if total else 0.0
    lines.append(f"{'TOTAL':45} {matched:3} / {total}  ({share:.1f} %)")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv:
        for name in argv:
            result = replay(TRANSCRIPTS / f"{name}.json")
            for step in result.steps:
                mark = "ok " if step.ok else "BAD"
                print(f"{mark} #{step.index:<3} {step.name}")
                for problem in step.problems[:12]:
                    print(f"        {problem}")
        return
    print(table([replay(path) for path in scenarios()]))


if __name__ == "__main__":
    main(sys.argv[1:])
