"""Read-only diagnostics of a live MISP: what an admin checks first when something is wrong.

Everything comes from MISP's own answers (getVersion, serverSettings — the data behind MISP's
"Server Settings & Maintenance" page — and getWorkers); nothing is written. Findings carry MISP's own
severity levels: 0 critical, 1 recommended, 2 optional.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from reconciler.backend.errors import MispError
from reconciler.model.secrets import REDACTOR

if TYPE_CHECKING:
    from reconciler.backend.client import MispClient

CRITICAL, RECOMMENDED, OPTIONAL = 0, 1, 2
LEVEL_NAMES = {CRITICAL: "critical", RECOMMENDED: "recommended", OPTIONAL: "optional"}
SECRET_NAME = re.compile(r"password|key|secret|salt|token", re.IGNORECASE)
# MISP's codes for writeableDirs / writeableFiles / readableFiles (0 is fine)
FILE_PROBLEMS = {1: "not found", 2: "not writeable", 3: "not readable"}


@dataclass(frozen=True, slots=True)
class Finding:
    level: int
    area: str  # version · settings · files · php · database · workers
    subject: str
    message: str


@dataclass(slots=True)
class Report:
    version: str | None = None
    requires: str | None = None
    meets_requirement: bool | None = None  # None: nothing required, or the version is unknown
    workers: list[str] = field(default_factory=list)  # one line per queue, or why there are none
    findings: list[Finding] = field(default_factory=list)
    settings: list[Mapping[str, Any]] = field(default_factory=list, repr=False)  # finalSettings, for --dump

    def by_level(self, level: int) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    @property
    def critical(self) -> bool:
        return bool(self.by_level(CRITICAL))


async def diagnose(client: MispClient, requires: str | None) -> Report:
    report = Report(requires=requires)
    version = await client.get("/servers/getVersion")
    report.version = str(version.get("version")) if isinstance(version, dict) and version.get("version") else None
    report.findings += check_version(report)
    answer = await client.get("/servers/serverSettings")
    answer = answer if isinstance(answer, dict) else {}
    report.settings = [s for s in answer.get("finalSettings", []) if isinstance(s, dict)]
    report.findings += setting_findings(report.settings)
    report.findings += file_findings(answer) + php_findings(answer) + database_findings(answer)
    report.workers, worker_problems = await read_workers(client)
    report.findings += worker_problems
    return report


def check_version(report: Report) -> list[Finding]:
    if report.version is None:
        return [Finding(CRITICAL, "version", "MISP", "MISP did not report its version")]
    if not report.requires:
        return []
    try:
        report.meets_requirement = Version(report.version) in SpecifierSet(report.requires)
    except (InvalidSpecifier, InvalidVersion) as exc:
        return [Finding(CRITICAL, "version", "instance.requires", f"cannot compare: {exc}")]
    if report.meets_requirement:
        return []
    return [Finding(CRITICAL, "version", "MISP", f"{report.version} does not meet instance.requires "
                                                 f"{report.requires!r}")]


def setting_findings(settings: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Settings MISP itself flags (`error: 1`), at MISP's level for each; level 3 (deprecated) is left out."""
    found = []
    for item in settings:
        level = int(item.get("level", OPTIONAL) or 0)
        if item.get("error") and level in LEVEL_NAMES:
            message = str(item.get("errorMessage") or "flagged by MISP")
            found.append(Finding(level, "settings", str(item.get("setting")), message))
    return found


def file_findings(answer: Mapping[str, Any]) -> list[Finding]:
    found = []
    for section, area_level in (("writeableDirs", CRITICAL), ("writeableFiles", RECOMMENDED),
                                ("readableFiles", RECOMMENDED)):
        entries = answer.get(section)
        for path, code in (entries.items() if isinstance(entries, dict) else []):
            if code and not path.endswith("ORIG_HEAD"):  # a git leftover MISP lists; never needed to run
                found.append(Finding(area_level, "files", path, FILE_PROBLEMS.get(int(code), f"status {code}")))
    return found


def php_findings(answer: Mapping[str, Any]) -> list[Finding]:
    found = []
    settings = answer.get("phpSettings")
    for name, item in (settings.items() if isinstance(settings, dict) else []):
        value, recommended = item.get("value"), item.get("recommended")
        if isinstance(value, int | float) and isinstance(recommended, int | float) and 0 <= value < recommended:
            found.append(Finding(RECOMMENDED, "php", name,
                                 f"{value} {item.get('unit', '')}, {recommended} recommended".replace("  ", " ")))
    return found


def database_findings(answer: Mapping[str, Any]) -> list[Finding]:
    schema = answer.get("dbSchemaDiagnostics")
    if not isinstance(schema, dict):
        return []
    found = []
    actual, expected = schema.get("actual_db_version"), schema.get("expected_db_version")
    if actual and expected and str(actual) != str(expected):
        found.append(Finding(CRITICAL, "database", "schema version",
                             f"{actual}, MISP expects {expected}: run the database updates"))
    if schema.get("diagnostic"):
        found.append(Finding(RECOMMENDED, "database", "schema", f"{len(schema['diagnostic'])} table(s) differ "
                                                                "from MISP's expected schema"))
    if schema.get("update_fail_number_reached"):
        found.append(Finding(CRITICAL, "database", "updates", "MISP stopped retrying a failed database update"))
    return found


async def read_workers(client: MispClient) -> tuple[list[str], list[Finding]]:
    """getWorkers: a list of messages when background jobs are off, else one mapping per queue."""
    try:
        answer = await client.get("/servers/getWorkers")
    except MispError as exc:
        return [f"not reported ({type(exc).__name__})"], []
    if isinstance(answer, list):
        return [str(line) for line in answer] or ["not reported"], []
    lines, problems = [], []
    for queue, info in (answer.items() if isinstance(answer, dict) else []):
        if not isinstance(info, dict) or "ok" not in info:
            continue  # proc_accessible, controls: flags, not queues
        workers = info.get("workers") or []
        lines.append(f"{queue}: {'ok' if info['ok'] else 'NOT OK'}, {len(workers)} worker(s), "
                     f"{info.get('jobCount', 0)} job(s) queued")
        if not info["ok"]:
            problems.append(Finding(RECOMMENDED, "workers", queue, "no live worker on this queue"))
    return lines or ["not reported"], problems


def is_secret(item: Mapping[str, Any]) -> bool:
    """A setting the dump must not carry: redacted by MISP, named like a secret, or holding a value this
    process knows as a secret (REDACTOR: the instance key, resolved secret references)."""
    name = str(item.get("setting", ""))
    value = item.get("value")
    if item.get("redacted") or SECRET_NAME.search(name):
        return True
    return isinstance(value, str) and REDACTOR.scrub(value) != value


def sanitised_dump(report: Report) -> dict[str, Any]:
    kept = {str(s.get("setting")): s.get("value") for s in report.settings if not is_secret(s)}
    withheld = sorted(str(s.get("setting")) for s in report.settings if is_secret(s))
    dump: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "misp_version": report.version,
        "note": "sanitised by misp-reconcile doctor: redacted and secret-looking settings are withheld",
        "withheld": withheld,
        "settings": kept,
        "findings": [{"level": LEVEL_NAMES[f.level], "area": f.area, "subject": f.subject, "message": f.message}
                     for f in report.findings],
        "workers": report.workers,
    }
    return dict(REDACTOR.scrub_obj(dump))  # a known secret quoted in a message is masked all the same
