"""`misp-reconcile sandbox serve` in a subprocess: it prints its URL and key, answers getVersion, applies fault
flags, refuses a non-loopback host and bad fault options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reconciler.sandbox import DEFAULT_ADMIN_KEY

COMMAND = [sys.executable, "-m", "reconciler", "sandbox", "serve"]


@contextmanager
def serving(*flags: str) -> Iterator[tuple[str, str]]:
    """Start the command on a free port; (url, admin key) as it printed them; stopped at the end."""
    process = subprocess.Popen([*COMMAND, "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout is not None and process.stderr is not None
        first, second = process.stdout.readline(), process.stdout.readline()
        assert first.startswith("MISP sandbox at http://127.0.0.1:"), first + (process.stderr.read()
                                                                               if process.poll() else "")
        yield first.split(" at ", 1)[1].strip(), second.split(": ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_answers_get_version_with_the_admin_key(tmp_path: Path) -> None:
    key = "K" * 40
    with serving("--admin-key", key, "--db", str(tmp_path / "sandbox.db")) as (url, printed_key):
        assert printed_key == key
        answer = httpx.get(f"{url}/servers/getVersion", headers={"Authorization": key, "Accept": "application/json"})
        assert answer.status_code == 200 and answer.json()["version"] == "2.5.1"
        refused = httpx.get(f"{url}/servers/getVersion", headers={"Authorization": DEFAULT_ADMIN_KEY,
                                                                    "Accept": "application/json"})
        assert refused.status_code == 403
    assert (tmp_path / "sandbox.db").exists()


def test_serve_fault_flags_apply_to_matching_paths() -> None:
    with serving("--fail-rate", "1", "--fail-status", "418", "--fault-path", "getVersion",
                 "--fault-method", "get") as (url, key):
        headers = {"Authorization": key, "Accept": "application/json"}
        assert httpx.get(f"{url}/servers/getVersion", headers=headers).status_code == 418
        assert httpx.get(f"{url}/servers/index", headers=headers).status_code == 200


def run(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *flags], capture_output=True, text=True, timeout=60, check=False)


def test_serve_refuses_a_public_host_without_force() -> None:
    result = run("--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "non-loopback host '0.0.0.0'" in result.stderr and "--force-public" in result.stderr


def test_serve_refuses_bad_fault_options_and_keys() -> None:
    for flags, message in ((("--fail-rate", "2"), "fail rate must be between 0 and 1"),
                           (("--latency", "soon"), "latency 'soon'"),
                           (("--drop-rate", "0.5", "--fault-path", "("), "not a regular expression"),
                           (("--admin-key", "short"), "40 characters")):
        result = run("--port", "0", *flags)
        assert result.returncode == 2, flags
        assert message in result.stderr, (flags, result.stderr)
