"""Credentials the tool creates reach only the person they are for: a created user's password and first API
key encrypted to their own PGP key, an auth key to its user's key, MISP's own "send credentials" mail only
when MISP will send it. Real keys (tests/secrets/conftest.py), the sandbox over the real client."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from reconciler.render.text import render_plan
from reconciler.sandbox.http import verify_password
from tests.canaries import CANARIES
from tests.engine.helpers import Workspace
from tests.secrets.conftest import GpgKey, Keys

ALICE = """
organisations:
  - {name: Delivery Org}
users:
  - email: alice@example.org
    org: Delivery Org
    role: User
    pgp_key: {file: alice.asc}
    deliver: {gpg_to_user: %s}
"""


def decrypt(key: GpgKey, path: Path) -> str | None:
    done = subprocess.run(["gpg", "--homedir", str(key.home), "--batch", "--decrypt", str(path)],
                          capture_output=True, check=False)
    return done.stdout.decode() if done.returncode == 0 else None


def credentials(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def stored_user(ws: Workspace, email: str) -> dict[str, object]:
    with ws.misp_db() as store:
        user = store.find_ci("users", "email", email)
    assert user is not None
    return dict(user)


async def whoami(ws: Workspace, api_key: str) -> object:
    async with ws.misp() as misp:
        answer = await misp.get("/users/view/me", headers={"Authorization": api_key})
        return answer.json()["User"]["email"] if answer.status_code == 200 else answer.status_code


def test_a_created_user_gets_a_password_and_api_key_only_they_can_read(tmp_path: Path, keys: Keys) -> None:
    ws = Workspace(tmp_path)
    out = tmp_path / "out" / "alice.asc"
    ws.write("users.yaml", ALICE % out)
    ws.write("alice.asc", keys.alice.public)
    planned = ws.plan()
    assert not planned.diagnostics.has_errors()
    assert f"credentials encrypted to the user's key, to {out}" in render_plan(planned.plan)

    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    armored = out.read_text()
    assert armored.startswith("-----BEGIN PGP MESSAGE-----")
    assert decrypt(keys.bob, out) is None  # someone else's key opens nothing
    clear = decrypt(keys.alice, out)
    assert clear is not None and "MISP account alice@example.org at " in clear
    given = credentials(clear)
    for name in ("Password", "API key"):  # the end-of-session sweep looks for them in every file too
        CANARIES.register(f"delivered-user-{name}", given[name])
    user = stored_user(ws, "alice@example.org")
    assert verify_password(given["Password"], str(user["password"]))
    assert asyncio.run(whoami(ws, given["API key"])) == "alice@example.org"
    # Neither value is anywhere in what we keep.
    state_db = (ws.state_dir / "sandbox.db").read_bytes()
    for value in (given["Password"], given["API key"]):
        assert value.encode() not in state_db
        assert value not in render_plan(planned.plan)
    assert ws.plan().plan.is_empty()  # deliver is about creation only: nothing to do afterwards


def test_deliver_needs_the_users_pgp_key(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("users.yaml", """
        organisations: [{name: Delivery Org}]
        users:
          - {email: nokey@example.org, org: Delivery Org, deliver: {gpg_to_user: out/nokey.asc}}
    """)
    from reconciler.manifest.load import load

    _, diags = load([ws.manifests])
    messages = [d.render() for d in diags]
    assert any("set pgp_key" in m and "users.yaml:4:" in m for m in messages), messages


def test_notify_to_a_disabled_user_is_refused_at_validate(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("users.yaml", """
        organisations: [{name: Delivery Org}]
        users:
          - {email: off@example.org, org: Delivery Org, disabled: true, notify: true}
    """)
    from reconciler.manifest.load import load

    _, diags = load([ws.manifests])
    assert any("disabled user" in d.render() for d in diags)


NOTIFIED = """
organisations: [{name: Mail Org}]
users:
  - {email: mailed@example.org, org: Mail Org, notify: true}
"""


async def set_setting(ws: Workspace, name: str, value: object) -> None:
    async with ws.misp() as misp:
        answer = await misp.post(f"/servers/serverSettingsEdit/{name}", json={"value": value, "force": True})
        assert answer.status_code == 200, answer.text


async def email_logs(ws: Workspace) -> list[str]:
    async with ws.misp() as misp:
        answer = await misp.post("/admin/logs/index", json={"action": "email"})
        return [row["Log"]["title"] for row in answer.json()]


def test_notify_is_refused_while_misp_does_not_send_mail(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("users.yaml", NOTIFIED)
    ws.plan()  # creates the sandbox
    asyncio.run(set_setting(ws, "MISP.disable_emailing", True))
    planned = ws.plan()
    errors = [d for d in planned.diagnostics if d.code == "credentials-undeliverable"]
    assert len(errors) == 1 and errors[0].path == 'users["mailed@example.org"].notify'
    assert "users.yaml" in errors[0].render()
    applied = ws.apply()
    assert applied.result is None  # nothing written: the user does not exist
    with pytest.raises(AssertionError):
        stored_user(ws, "mailed@example.org")


def test_notify_makes_misp_send_the_new_user_mail(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("users.yaml", NOTIFIED)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok
    titles = asyncio.run(email_logs(ws))
    assert any("to mailed@example.org sent, titled" in t and "New user registration" in t for t in titles), titles
    assert stored_user(ws, "mailed@example.org")["change_pw"] == 1
    # Once the user exists, notify means nothing more: no check, no mail, no change.
    asyncio.run(set_setting(ws, "MISP.disable_emailing", True))
    planned = ws.plan()
    assert planned.plan.is_empty() and not planned.diagnostics.has_errors()


KEYED = """
organisations: [{name: Key Org}]
users:
  - {email: alice@example.org, org: Key Org, pgp_key: {file: alice.asc}}
  - {email: plain@example.org, org: Key Org}
auth_keys:
  - {user: alice@example.org, comment: laptop, deliver: {gpg_to_user: %s}}
"""


def test_an_auth_key_is_delivered_encrypted_to_its_users_key(tmp_path: Path, keys: Keys) -> None:
    ws = Workspace(tmp_path)
    out = tmp_path / "keys" / "alice-laptop.asc"
    ws.write("all.yaml", KEYED % out)
    ws.write("alice.asc", keys.alice.public)
    applied = ws.apply()
    assert applied.result is not None and applied.result.ok, applied.result
    clear = decrypt(keys.alice, out)
    assert clear is not None and decrypt(keys.bob, out) is None
    assert asyncio.run(whoami(ws, clear.strip())) == "alice@example.org"
    assert clear.strip().encode() not in (ws.state_dir / "sandbox.db").read_bytes()


def test_an_auth_key_for_a_user_without_a_pgp_key_is_a_plan_error(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write("all.yaml", """
        organisations: [{name: Key Org}]
        users: [{email: plain@example.org, org: Key Org}]
        auth_keys: [{user: plain@example.org, comment: ci, deliver: {gpg_to_user: out/ci.asc}}]
    """)
    planned = ws.plan()
    errors = [d for d in planned.diagnostics if d.code == "credentials-undeliverable"]
    assert errors and errors[0].path == 'auth_keys["plain@example.org/ci"].deliver'


def test_a_sink_that_cannot_take_the_key_fails_before_the_key_exists(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (tmp_path / "not-a-dir").write_text("a file where a directory should be")
    ws.write("all.yaml", f"""
        organisations: [{{name: Key Org}}]
        users: [{{email: plain@example.org, org: Key Org}}]
        auth_keys: [{{user: plain@example.org, comment: ci, deliver: {{file: {tmp_path / 'not-a-dir' / 'ci.key'}}}}}]
    """)
    applied = ws.apply()
    assert applied.result is not None and not applied.result.ok
    failed = [o for o in applied.result.outcomes if o.status == "failed"]
    assert [o.change.kind for o in failed] == ["auth_keys"] and "not a writable directory" in failed[0].error

    async def keys_of_user() -> list[str]:
        async with ws.misp() as misp:
            rows = (await misp.get("/auth_keys/index")).json()
            return [json.dumps(r) for r in rows if r["User"]["email"] == "plain@example.org"]

    # Only the first key MISP made with the user; no key that nobody has was created.
    assert len(asyncio.run(keys_of_user())) == 1
