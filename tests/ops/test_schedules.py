"""`schedules render` (crontab, systemd) and `schedules status`, against the sandbox for user e-mails."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from croniter import croniter

from reconciler.kinds.schedules import Schedule
from reconciler.ops.schedules import CAKE, RenderOptions, cron_times, irregular, on_calendar, render
from tests.engine.helpers import Workspace
from tests.ops.conftest import invoke

MANIFEST = """\
schedules:
  - {name: pull, command: pull_all, every: 30m}
  - {name: feeds, command: fetch_feeds, every: 2h, user: admin@admin.test}
  - {name: cache, command: cache_feeds, every: 1d, user: "1"}
  - {name: taxonomies, command: update_taxonomies, at: "06:00"}
  - {name: templates, command: update_object_templates, every: 60m}
  - {name: galaxies, command: update_galaxies, every: 3d}
"""


def schedule(**kw: str) -> Schedule:
    return Schedule.model_validate({"name": "s", "command": "pull_all", **kw})


@pytest.mark.parametrize(("when", "cron", "calendar"), [
    ({"every": "30m"}, "*/30 * * * *", "*-*-* *:00/30:00"),
    ({"every": "2h"}, "0 */2 * * *", "*-*-* 00/2:00:00"),
    ({"every": "1h"}, "0 * * * *", "*-*-* *:00:00"),
    ({"every": "120m"}, "0 */2 * * *", "*-*-* 00/2:00:00"),
    ({"every": "1d"}, "0 0 * * *", "*-*-* 00:00:00"),
    ({"every": "2d"}, "0 0 */2 * *", "*-*-01/2 00:00:00"),
    ({"at": "06:00"}, "0 6 * * *", "*-*-* 06:00:00"),
    ({"at": "23:05"}, "5 23 * * *", "*-*-* 23:05:00"),
])
def test_intervals_become_cron_and_calendar_expressions(when: dict[str, str], cron: str, calendar: str) -> None:
    item = schedule(**when)
    assert cron_times(item) == cron
    assert croniter.is_valid(cron)
    assert on_calendar(item) == calendar


def test_every_command_has_a_cake_task() -> None:
    commands = Schedule.model_fields["command"].annotation.__args__  # type: ignore[union-attr]
    assert set(commands) == set(CAKE)


def cron_lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_crontab_render_is_valid_cron_with_the_right_cake_commands(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    result = invoke(ws, "schedules", "render", "--format", "crontab")
    assert result.exit_code == 0, result.output
    lines = cron_lines(result.stdout)
    assert len(lines) == 6
    for fields in lines:
        assert croniter.is_valid(" ".join(fields[:5])), fields
        assert fields[5] == "www-data"
        assert fields[6] == "/var/www/MISP/app/Console/cake"
    commands = {" ".join(f[7:]) for f in lines}
    assert commands == {"Server pullAll 1 full", "Server fetchFeed 1 all", "Server cacheFeed 1 all",
                        "Admin updateTaxonomies", "Admin updateObjectTemplates 1", "Admin updateGalaxies"}
    assert ["0", "6", "*", "*", "*"] in [f[:5] for f in lines]


def test_crontab_honours_user_and_misp_dir_and_writes_a_cron_d_file(ws: Workspace, tmp_path: Path) -> None:
    ws.write("schedules.yaml", MANIFEST)
    out = tmp_path / "cron.d"
    result = invoke(ws, "schedules", "render", "-o", str(out), "--user", "apache", "--misp-dir", "/srv/misp/")
    assert result.exit_code == 0, result.output
    text = (out / "misp-reconciler").read_text()
    assert all(f[5] == "apache" and f[6] == "/srv/misp/app/Console/cake" for f in cron_lines(text))


def fake_misp(root: Path) -> Path:
    cake = root / "app" / "Console" / "cake"
    cake.parent.mkdir(parents=True)
    cake.write_text("#!/bin/sh\nexit 0\n")
    cake.chmod(0o755)
    return root


def test_systemd_units_parse_and_pair_up(ws: Workspace, tmp_path: Path) -> None:
    ws.write("schedules.yaml", MANIFEST)
    out = tmp_path / "units"
    result = invoke(ws, "schedules", "render", "--format", "systemd", "-o", str(out))
    assert result.exit_code == 0, result.output
    timers = sorted(out.glob("*.timer"))
    assert len(timers) == 6 and len(list(out.glob("*.service"))) == 6
    for timer in timers:
        parsed = configparser.ConfigParser(interpolation=None)
        parsed.read(timer)
        service = configparser.ConfigParser(interpolation=None)
        service.read(out / parsed["Timer"]["Unit"])
        assert parsed["Timer"]["OnCalendar"] and parsed["Install"]["WantedBy"] == "timers.target"
        assert service["Service"]["Type"] == "oneshot" and service["Service"]["User"] == "www-data"
        assert service["Service"]["ExecStart"].startswith("/var/www/MISP/app/Console/cake ")
    pull = configparser.ConfigParser(interpolation=None)
    pull.read(out / "misp-pull.timer")
    assert pull["Timer"]["OnCalendar"] == "*-*-* *:00/30:00"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_pass_systemd_analyze(ws: Workspace, tmp_path: Path) -> None:
    ws.write("schedules.yaml", MANIFEST)
    misp = fake_misp(tmp_path / "misp")
    out = tmp_path / "units"
    user = os.environ.get("USER") or "root"
    result = invoke(ws, "schedules", "render", "--format", "systemd", "-o", str(out), "--misp-dir", str(misp),
                    "--user", user)
    assert result.exit_code == 0, result.output
    for timer in sorted(out.glob("*.timer")):
        calendar = configparser.ConfigParser(interpolation=None)
        calendar.read(timer)
        check = subprocess.run(["systemd-analyze", "calendar", calendar["Timer"]["OnCalendar"]],
                               capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
    units = [str(p) for p in sorted(out.iterdir())]
    verify = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                            check=False, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert verify.returncode == 0, verify.stderr


def test_render_is_stable_and_sorted() -> None:
    a, b = schedule(every="1h"), Schedule.model_validate({"name": "a", "command": "push_all", "at": "01:00"})
    options = RenderOptions()
    assert render([(b, "1"), (a, "1")], options).files == render([(a, "1"), (b, "1")], options).files


def test_unknown_user_email_is_an_error(ws: Workspace) -> None:
    ws.write("schedules.yaml", "schedules:\n  - {name: pull, command: pull_all, every: 1h, user: nobody@x.test}\n")
    result = invoke(ws, "schedules", "render")
    assert result.exit_code == 1
    assert "no MISP user 'nobody@x.test'" in result.stderr


def test_status_says_what_changed_since_the_last_render(ws: Workspace) -> None:
    ws.write("schedules.yaml", MANIFEST)
    never = invoke(ws, "schedules", "status")
    assert never.exit_code == 2 and "never rendered" in never.stdout
    assert invoke(ws, "schedules", "render", "--format", "systemd").exit_code == 0
    same = invoke(ws, "schedules", "status")
    assert same.exit_code == 0 and "up to date with the systemd render" in same.stdout
    ws.write("schedules.yaml", MANIFEST.replace("every: 30m", "every: 15m").replace(
        "  - {name: cache, command: cache_feeds, every: 1d, user: \"1\"}\n", "")
        + "  - {name: push, command: push_all, at: '02:30'}\n")
    changed = invoke(ws, "schedules", "status")
    assert changed.exit_code == 2
    assert "+ push" in changed.stdout and "- cache" in changed.stdout and "~ pull" in changed.stdout
    assert "~ feeds" not in changed.stdout


def test_an_interval_that_does_not_divide_the_hour_or_day_is_warned_about(ws: Workspace) -> None:
    assert irregular(schedule(every="45m")) is not None and irregular(schedule(every="5h")) is not None
    assert irregular(schedule(every="20m")) is None and irregular(schedule(every="6h")) is None
    assert irregular(schedule(at="01:00")) is None and irregular(schedule(every="2d")) is None
    ws.write("schedules.yaml", "schedules:\n  - {name: odd, command: push_all, every: 45m}\n")
    result = invoke(ws, "schedules", "render")
    assert result.exit_code == 0 and "every 45m restarts each hour" in result.stderr
    assert "*/45 * * * *" in result.stdout
