"""Render the manifests' `schedules:` for MISP's host: /etc/cron.d lines or systemd service + timer units.

MISP 2.5 has no API for periodic work: its own docs tell admins to run `app/Console/cake` from cron. The
commands and arguments below are those of MISP 2.5's ServerShell / AdminShell (checked against
app/Console/Command/*Shell.php and Server::$command_line_functions).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.kinds.schedules import AT, EVERY, Schedule

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

# command → (shell, task, extra arguments). `{uid}` is the MISP user id the job runs as: Server tasks and
# updateObjectTemplates refuse to run without one; the other Admin updates take none.
CAKE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pull_all": ("Server", "pullAll", ("{uid}", "full")),
    "push_all": ("Server", "pushAll", ("{uid}",)),
    "fetch_feeds": ("Server", "fetchFeed", ("{uid}", "all")),
    "cache_feeds": ("Server", "cacheFeed", ("{uid}", "all")),
    # cacheServer with scope `all` caches every caching-enabled server in this process (cacheServerAll
    # would only enqueue background jobs, which do nothing when the workers are down)
    "cache_servers": ("Server", "cacheServer", ("{uid}", "all")),
    "update_taxonomies": ("Admin", "updateTaxonomies", ()),
    "update_galaxies": ("Admin", "updateGalaxies", ()),
    "update_warninglists": ("Admin", "updateWarningLists", ()),
    "update_noticelists": ("Admin", "updateNoticeLists", ()),
    "update_object_templates": ("Admin", "updateObjectTemplates", ("{uid}",)),
}
DEFAULT_USER_ID = "1"  # the site admin MISP creates at install
UNIT_PREFIX = "misp-"
CRON_FILE = "misp-reconciler"  # /etc/cron.d ignores file names holding a dot
MINUTES = {"m": 1, "h": 60, "d": 1440}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    fmt: str = "crontab"  # crontab | systemd
    os_user: str = "www-data"  # the web server's user: MISP's files and cache belong to it
    misp_dir: str = "/var/www/MISP"


@dataclass(frozen=True, slots=True)
class Rendered:
    files: dict[str, str]  # file name → content

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.files, sort_keys=True).encode()).hexdigest()

    def text(self) -> str:
        """Everything in one stream (stdout): each file under a header naming it."""
        if len(self.files) == 1:
            return next(iter(self.files.values()))
        return "".join(f"# ---- {name}\n{content}" for name, content in self.files.items())


class ScheduleError(ValueError):
    """A schedule that cannot be rendered (a user id that cannot be found, an interval cron cannot say)."""


async def user_ids(client: MispClient | None, schedules: Sequence[Schedule]) -> list[tuple[Schedule, str]]:
    """Each schedule with the MISP user id its cake command takes. `user:` is an id or an e-mail; e-mails
    are looked up in ONE users index request, only when some schedule names one."""
    emails = {s.user.casefold() for s in schedules if s.user is not None and not s.user.isdigit()}
    by_email: dict[str, str] = {}
    if emails:
        if client is None:
            raise ScheduleError("schedules name users by e-mail: MISP is needed to find their ids")
        rows: Any = await client.get("/admin/users/index")
        for row in rows if isinstance(rows, list) else []:
            user = row.get("User", row) if isinstance(row, dict) else {}
            by_email[str(user.get("email", "")).casefold()] = str(user.get("id"))
    paired = []
    for schedule in schedules:
        user = schedule.user or DEFAULT_USER_ID
        uid = user if user.isdigit() else by_email.get(user.casefold())
        if uid is None:
            raise ScheduleError(f"schedule {schedule.name}: no MISP user {user!r}")
        paired.append((schedule, uid))
    return paired


def cake_command(schedule: Schedule, user_id: str, misp_dir: str) -> str:
    shell, task, args = CAKE[schedule.command]
    words = [f"{misp_dir.rstrip('/')}/app/Console/cake", shell, task, *(a.format(uid=user_id) for a in args)]
    return " ".join(shlex.quote(word) for word in words)


def interval_minutes(every: str) -> int:
    match = EVERY.match(every)
    if match is None:
        raise ScheduleError(f"cannot read the interval {every!r}")
    return int(match["n"]) * MINUTES[match["unit"]]


def cron_times(schedule: Schedule) -> str:
    """The five time fields. Steps restart at each hour / day / month, as cron's do: say 45m and a job runs
    at :00 and :45 of every hour; the manifest validator already keeps steps within one unit."""
    if schedule.at is not None:
        match = AT.match(schedule.at)
        assert match is not None
        return f"{int(match['m'])} {int(match['h'])} * * *"
    assert schedule.every is not None
    minutes = interval_minutes(schedule.every)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "0 0 * * *" if days == 1 else f"0 0 */{days} * *"
    if minutes % 60 == 0 and minutes < 1440:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    raise ScheduleError(f"{schedule.name}: every {schedule.every} cannot be said in cron")


def irregular(schedule: Schedule) -> str | None:
    """Cron steps restart each hour (or day): an interval that does not divide it is not a fixed period."""
    if schedule.every is None:
        return None
    minutes = interval_minutes(schedule.every)
    unit, span = (60, "hour") if minutes < 60 else (1440, "day")
    if minutes < 1440 and unit % minutes:
        return (f"{schedule.name}: every {schedule.every} restarts each {span} in cron and systemd (the gap "
                f"before the {span} turns is shorter); pick a divisor of the {span} for a fixed period")
    return None


def on_calendar(schedule: Schedule) -> str:
    """systemd.time(7) equivalent of cron_times."""
    fields = cron_times(schedule).split()
    minute, hour, day = fields[0], fields[1], fields[2]

    def part(value: str) -> str:
        if value == "*":
            return "*"
        return f"00/{value[2:]}" if value.startswith("*/") else value.zfill(2)

    day_part = "*-*-*" if day == "*" else f"*-*-01/{day[2:]}"
    return f"{day_part} {part(hour)}:{part(minute)}:00"


def crontab(schedules: Sequence[tuple[Schedule, str]], options: RenderOptions) -> str:
    lines = ["# Rendered by misp-reconcile schedules render: do not edit, change the manifests instead.",
             "# /etc/cron.d format: minute hour day month weekday user command", ""]
    for schedule, user_id in schedules:
        lines.append(f"# {schedule.name}: {schedule.command}")
        lines.append(f"{cron_times(schedule)} {options.os_user} {cake_command(schedule, user_id, options.misp_dir)}")
    return "\n".join(lines) + "\n"


def service_unit(schedule: Schedule, user_id: str, options: RenderOptions) -> str:
    return "\n".join([
        "[Unit]",
        f"Description=MISP {schedule.command} (schedule {schedule.name}, rendered by misp-reconcile)",
        "",
        "[Service]",
        "Type=oneshot",
        f"User={options.os_user}",
        f"WorkingDirectory={options.misp_dir.rstrip('/')}/app",
        f"ExecStart={cake_command(schedule, user_id, options.misp_dir)}",
        "",
    ])


def timer_unit(schedule: Schedule) -> str:
    return "\n".join([
        "[Unit]",
        f"Description=Run MISP {schedule.command} (schedule {schedule.name})",
        "",
        "[Timer]",
        f"OnCalendar={on_calendar(schedule)}",
        "Persistent=true",  # a run missed while the host was down happens at boot, as anacron would
        f"Unit={UNIT_PREFIX}{schedule.name}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])


def render(schedules: Sequence[tuple[Schedule, str]], options: RenderOptions) -> Rendered:
    """`schedules` pairs each schedule with the MISP user id it runs as, sorted by name for stable output."""
    ordered = sorted(schedules, key=lambda pair: pair[0].name)
    if options.fmt == "crontab":
        return Rendered({CRON_FILE: crontab(ordered, options)})
    files: dict[str, str] = {}
    for schedule, user_id in ordered:
        files[f"{UNIT_PREFIX}{schedule.name}.service"] = service_unit(schedule, user_id, options)
        files[f"{UNIT_PREFIX}{schedule.name}.timer"] = timer_unit(schedule)
    return Rendered(files)


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered.files.items():
        path = out_dir / name
        path.write_text(content)
        written.append(path)
    return written


# -- what was rendered last: `schedules status` compares the manifests with it ------------------------------

def record_path(state_dir: Path, instance: str) -> Path:
    return state_dir / f"{instance}.schedules-render.json"


def entry_digests(schedules: Sequence[Schedule]) -> dict[str, str]:
    """One digest per schedule, so that status can name which ones changed."""
    return {s.name: hashlib.sha256(json.dumps(s.model_dump(), sort_keys=True).encode()).hexdigest()[:16]
            for s in schedules}


def entry_values(schedules: Sequence[Schedule]) -> dict[str, dict[str, object]]:
    """What each schedule said, so that status and plan can name the fields that changed (nothing secret)."""
    return {s.name: s.model_dump(exclude_none=True) for s in schedules}


def changes_since(record: dict[str, object], schedules: Sequence[Schedule]) -> list[str]:
    """`+ name` added, `- name` removed, `~ name` changed since the recorded render (with the fields that
    changed, `~ pull (every: 30m → 15m)`, when the record holds the values: renders since they were saved)."""
    before = record.get("schedules")
    old = {str(k): str(v) for k, v in before.items()} if isinstance(before, dict) else {}
    new = entry_digests(schedules)
    recorded = record.get("entries")
    old_values = recorded if isinstance(recorded, dict) else {}
    new_values = entry_values(schedules)

    def changed(name: str) -> str:
        was, now = old_values.get(name), new_values[name]
        if not isinstance(was, dict):
            return f"~ {name}"
        fields = [f"{f}: {was.get(f, 'unset')} → {now.get(f, 'unset')}" for f in sorted(was.keys() | now.keys())
                  if was.get(f) != now.get(f)]
        return f"~ {name} ({', '.join(fields)})"

    return ([f"+ {n}" for n in sorted(new.keys() - old.keys())] + [f"- {n}" for n in sorted(old.keys() - new.keys())]
            + [changed(n) for n in sorted(new.keys() & old.keys()) if new[n] != old[n]])


def render_notes(state_dir: Path, instance: str, schedules: Sequence[Schedule]) -> list[str]:
    """What `plan` says of the schedules when the target is a real MISP: MISP runs them from its host's cron,
    which no API reaches, so the plan compares the manifests with the record of the last `schedules render`
    and says when the host's crontab (or systemd units) must be rendered and installed again."""
    record = load_record(state_dir, instance)
    how = "`misp-reconcile schedules render --format crontab|systemd`"
    if record is None:
        if not schedules:
            return []
        return [f"schedules: {len(schedules)} declared, never rendered for this instance; MISP runs them from "
                f"cron on its host, which has no API: render them with {how} and install the result on the host"]
    when = f"the {record.get('format')} render of {record.get('rendered_at')}"
    changes = changes_since(record, schedules)
    if not changes:
        return [f"schedules: unchanged since {when} (installed on the MISP host by hand)"]
    return [f"schedules: changed since {when} ({'; '.join(changes)}): render them again with {how} and install "
            "the result on the MISP host"]


def save_record(state_dir: Path, instance: str, rendered: Rendered, options: RenderOptions,
                schedules: Sequence[Schedule]) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = record_path(state_dir, instance)
    path.write_text(json.dumps({
        "digest": rendered.digest, "format": options.fmt, "os_user": options.os_user,
        "misp_dir": options.misp_dir, "schedules": entry_digests(schedules), "entries": entry_values(schedules),
        "rendered_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }, indent=2) + "\n")
    return path


def load_record(state_dir: Path, instance: str) -> dict[str, object] | None:
    path = record_path(state_dir, instance)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else None
