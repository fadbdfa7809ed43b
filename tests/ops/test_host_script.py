"""`settings host-script`: host-only settings as one shell script, each checked against the catalogue."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli.main import cli


def host_script(*sets: str, extra: tuple[str, ...] = ()) -> Result:
    args = [arg for value in sets for arg in ("--set", value)]
    return CliRunner().invoke(cli, ["settings", "host-script", *args, *extra])


def commands(script: str) -> list[list[str]]:
    return [shlex.split(line) for line in script.splitlines() if line.startswith("sudo ")]


def test_host_only_settings_become_set_setting_commands() -> None:
    result = host_script("MISP.tmpdir=/srv/misp tmp", "MISP.online_version_check=false",
                         "Security.disable_local_feed_access=true")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("#!/bin/sh\n")
    assert commands(result.stdout) == [
        ["sudo", "-u", "www-data", "/var/www/MISP/app/Console/cake", "Admin", "setSetting", "MISP.tmpdir",
         "/srv/misp tmp"],
        ["sudo", "-u", "www-data", "/var/www/MISP/app/Console/cake", "Admin", "setSetting",
         "MISP.online_version_check", "false"],
        ["sudo", "-u", "www-data", "/var/www/MISP/app/Console/cake", "Admin", "setSetting",
         "Security.disable_local_feed_access", "true"],
    ]


def test_user_and_misp_dir_are_honoured() -> None:
    result = host_script("MISP.python_bin=/usr/bin/python3", extra=("--user", "apache", "--misp-dir", "/srv/MISP"))
    assert commands(result.stdout)[0][:4] == ["sudo", "-u", "apache", "/srv/MISP/app/Console/cake"]


def test_a_secret_is_read_from_the_environment_on_the_host() -> None:
    result = host_script("Security.encryption_key")
    assert result.exit_code == 0, result.output
    assert '"${MISP_SECURITY_ENCRYPTION_KEY:?' in result.stdout
    refused = host_script("Security.encryption_key=hunter2hunter2hunter2hunter2xx")
    assert refused.exit_code == 1
    assert "is a secret" in refused.stderr and "hunter2" not in refused.output


@pytest.mark.parametrize(("assignment", "message"), [
    ("MISP.tmpdri=/tmp", "unknown setting 'MISP.tmpdri' (did you mean 'MISP.tmpdir'?)"),
    ("MISP.baseurl=https://misp.test", "not a host-only setting"),
    ("MISP.online_version_check=maybe", "expected true or false"),
    ("MISP.tmpdir", "expected NAME=VALUE"),
])
def test_bad_assignments_are_refused_and_nothing_is_printed(assignment: str, message: str) -> None:
    result = host_script(assignment, "MISP.tmpdir=/tmp")
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_nothing_to_set_lists_the_host_only_settings() -> None:
    result = host_script()
    assert result.exit_code == 1 and "MISP.tmpdir" in result.stderr


@pytest.mark.skipif(shutil.which("sh") is None, reason="no sh")
def test_the_script_is_valid_shell(tmp_path: Path) -> None:
    path = tmp_path / "host.sh"
    path.write_text(host_script("MISP.tmpdir=/tmp/it's here", "Security.encryption_key").stdout)
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0
