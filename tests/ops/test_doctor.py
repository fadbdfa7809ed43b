"""`doctor`: read-only diagnostics of the sandbox, the exit code on critical findings, a dump with no secret."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from reconciler.model.secrets import REDACTOR
from tests.canaries import CANARIES
from tests.engine.helpers import Workspace
from tests.ops.conftest import invoke

CRITICAL_BY_DEFAULT = {"MISP.external_baseurl": "https://misp.example.test", "GnuPG.email": "misp@example.test",
                       "GnuPG.homedir": "/var/www/MISP/.gnupg"}


def set_settings(ws: Workspace, values: dict[str, object]) -> None:
    async def write() -> None:
        async with ws.misp() as misp:
            for name, value in values.items():
                answer = await misp.post(f"/servers/serverSettingsEdit/{name}", json={"value": value, "force": True})
                assert answer.status_code == 200, answer.text

    asyncio.run(write())


def test_report_on_a_fresh_sandbox_names_the_critical_settings_and_exits_1(ws: Workspace) -> None:
    ws.write("instance.yaml", "instance:\n  requires: '>=2.5.0'\n")
    result = invoke(ws, "doctor")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "MISP 2.5.1 (meets >=2.5.0)" in out
    assert "workers: Background jobs not enabled" in out
    assert "3 critical" in out and "recommended" in out and "optional" in out
    for name in CRITICAL_BY_DEFAULT:
        assert name in out
    assert out.index("critical    │") < out.index("recommended │")  # worst first


def test_without_critical_findings_doctor_exits_0(ws: Workspace) -> None:
    ws.write("instance.yaml", "instance:\n  requires: '>=2.5'\n")
    set_settings(ws, CRITICAL_BY_DEFAULT)
    result = invoke(ws, "doctor")
    assert result.exit_code == 0, result.output
    assert "0 critical" in result.stdout


def test_an_unmet_version_requirement_is_critical(ws: Workspace) -> None:
    ws.write("instance.yaml", "instance:\n  requires: '>=2.6.0'\n")
    set_settings(ws, CRITICAL_BY_DEFAULT)
    result = invoke(ws, "doctor")
    assert result.exit_code == 1
    assert "does NOT meet >=2.6.0" in result.stdout
    assert "1 critical" in result.stdout and "│ version  │" in result.stdout


@pytest.fixture
def canaries() -> dict[str, str]:
    return {name: CANARIES.get(f"doctor-{name}") for name in ("redacted", "named", "registered")}


def test_dump_holds_settings_but_none_of_the_canary_secrets(ws: Workspace, tmp_path: Path,
                                                            canaries: dict[str, str]) -> None:
    ws.write("instance.yaml", "instance:\n  name: sandbox\n")
    REDACTOR.register(canaries["registered"])  # a secret this process resolved: masked wherever it shows
    set_settings(ws, {"Proxy.password": canaries["redacted"], "Plugin.Cortex_authkey": canaries["named"],
                      "MISP.footermidleft": canaries["registered"], "MISP.footermidright": "plain footer"})
    dump = tmp_path / "dump.json"
    result = invoke(ws, "doctor", "--dump", str(dump))
    assert result.exit_code in (0, 1), result.output
    text = dump.read_text()
    for canary in canaries.values():
        assert canary not in text
        assert canary not in result.output
    data = json.loads(text)
    assert data["settings"]["MISP.footermidright"] == "plain footer"
    assert "MISP.baseurl" in data["settings"]
    assert {"Proxy.password", "Plugin.Cortex_authkey", "MISP.footermidleft", "Security.salt"} <= set(data["withheld"])
    assert not any(name in data["settings"] for name in data["withheld"])
    assert dump.stat().st_mode & 0o077 == 0
