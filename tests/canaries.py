"""Canary secrets, and the sweep that proves none of them leaked (issue #9).

Every secret a test hands to the tool is a canary: a unique random value per name, made by `CANARIES.get`
(the `canary` fixture), or a value the tool or MISP generated that a test registers with
`CANARIES.register`. This plugin then looks for every registered value, and for anything shaped like a
canary (`CANARY_RE`, which catches values made in another process, e.g. a test's subprocess), in:

* each test's captured stdout, stderr and log (the TestReport sections): the test fails, and the sections
  and failure text are scrubbed so the terminal shows the canary's name, never its value;
* at the end of the session, every regular file under the session's temporary directory (tmp_path and
  tmp_path_factory; each pytest-xdist worker sweeps its own and sends its findings to the controller),
  and under the repository's state/ and out/ when written during the session: the raw bytes of each
  file, and for SQLite databases also every row (a long row spills into overflow pages, which could split
  a value in the raw bytes). A find makes the session fail, naming the canary and the file.

A file that holds a secret on purpose is declared with the `secret_file` fixture (`CANARIES.hold`): the
`{file: …}` sources tests write, the 0600 sinks the tool delivers keys to, a nested pytest's directory.
The sandbox's own database (`SANDBOX_DB`, by name) plays MISP, which keeps some secrets in clear: a sync
server's authkey, a feed's headers, settings such as Proxy.password, and the log rows of a settings edit.
That is MISP's storage, not ours: there a canary may sit in those columns (`MISP_SECRET_COLUMNS`) and nowhere
else, so a secret the tool sent into any other field of MISP (a name, a comment) is still caught.

PostgreSQL state databases are dropped after each test, so tests/state/conftest.py searches their rows first.
Not covered: directories a test deletes itself (TemporaryDirectory, throwaway GnuPG homes), output a test
keeps in memory and never prints (CliRunner results: tests assert on those themselves), and encodings other
than the plain text (base64, hex, UTF-16).

This module imports nothing from `reconciler`, so a nested pytest can load it quickly (`-p tests.canaries`).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import stat
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Both forms a canary takes: CANARY-<label>-<24 hex> (any secret), and CANARY<34 hex> (40 alphanumerics, for
# fields MISP checks like an auth key). Tight on purpose: a bare "CANARY" in a test name is no leak.
CANARY_RE = re.compile(rb"CANARY(?:-[A-Za-z0-9]{1,16}-[0-9a-f]{24}|[0-9a-f]{34})")
UNREGISTERED = "(unregistered canary)"
SQLITE_MAGIC = b"SQLite format 3\x00"
# The sandbox's database, state/<instance>.sandbox.db (reconciler.engine.targets.sandbox_db_url), and its
# SQLite companions: swept by rows, because MISP's storage legitimately holds these secrets in clear.
SANDBOX_DB = re.compile(r"\.sandbox\.db(?:-wal|-shm|-journal)?$")
MISP_SECRET_COLUMNS = frozenset({
    ("servers", "authkey"),  # MISP sends it to the remote on every sync: stored in clear
    ("feeds", "headers"),  # sent with every fetch (an Authorization header)
    ("sandbox_settings", "value"),  # MISP's config.php: Proxy.password, Plugin.*_authkey, …
    ("logs", "change"),  # MISP logs a settings edit with its new value
    ("audit_logs", "change"),
})
# Directories of the repository that the tool writes to by default (.gitignore lists them).
REPO_OUTPUT_DIRS = ("state", "out")


def random_part(value: str) -> str:
    """The part of a canary that is secret: not its CANARY-<label>- head, which names it."""
    if CANARY_RE.fullmatch(value.encode()):
        return value[len("CANARY"):].rsplit("-", 1)[-1]
    return value


class CanaryRegistry:
    """This process's canary secrets and the files allowed to hold them. The same name gives the same value
    for the whole session, so the sweep at the end can look for every canary a test used."""

    PREFIX = "CANARY"

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._holders: set[Path] = set()

    def get(self, name: str, *, key: bool = False) -> str:
        """A unique random secret for `name`; `key=True`: 40 alphanumerics, as MISP wants an auth key."""
        if name not in self._values:
            if key:
                value = f"{self.PREFIX}{secrets.token_hex(17)}"
            else:
                label = re.sub(r"[^A-Za-z0-9]", "", name)[:16] or "secret"
                value = f"{self.PREFIX}-{label}-{secrets.token_hex(12)}"
            self._values[name] = value
        value = self._values[name]
        if key and not re.fullmatch(r"[A-Za-z0-9]{40}", value):
            raise ValueError(f"canary {name!r} was first made as text; use another name for a key")
        return value

    def register(self, name: str, value: str) -> str:
        """Watch a secret the tool or MISP generated (a delivered auth key): it must not appear elsewhere."""
        if len(value) < 12:
            raise ValueError(f"secret {name!r} is too short to look for without false alarms")
        taken, count = name, 1
        while self._values.setdefault(taken, value) != value:  # a test run again in this session
            count += 1
            taken = f"{name}#{count}"
        return value

    def values(self) -> tuple[str, ...]:
        return tuple(self._values.values())

    def hold(self, path: Path) -> Path:
        """Declare a file (or a whole directory) that holds a secret on purpose; the sweep skips it."""
        self._holders.add(Path(os.path.abspath(path)))
        return path

    def is_held(self, path: Path) -> bool:
        path = Path(os.path.abspath(path))
        return any(path == holder or holder in path.parents for holder in self._holders)

    def find(self, blob: bytes) -> list[str]:
        """Names of the canaries in `blob`, sorted; UNREGISTERED for canary-shaped values nobody registered."""
        found = {name for name, value in self._values.items() if value.encode() in blob}
        known = {value.encode() for value in self._values.values()}
        if any(match not in known for match in CANARY_RE.findall(blob)):
            found.add(UNREGISTERED)
        return sorted(found)

    def scrub(self, text: str) -> str:
        """`text` with every canary replaced by its name: what a report may show. Pieces of a value go too
        (pytest shortens long values in assertion messages: 'CANARY-name...9f3c2e1d')."""
        for name, value in self._values.items():
            text = text.replace(value, f"<canary {name}>")
        text = CANARY_RE.sub(b"<unregistered canary>", text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape")

        def piece(match: re.Match[str]) -> str:
            owner = next((name for name, value in self._values.items() if match[0] in random_part(value)), None)
            return match[0] if owner is None else f"<canary {owner}>"

        return re.sub(r"[A-Za-z0-9]{8,}", piece, text) if self._values else text

    def assert_absent(self, where: str | bytes | Path) -> None:
        """Fail naming the canary (its name, not its value) found in text, bytes, or a file's bytes."""
        data = where.read_bytes() if isinstance(where, Path) else where
        blob = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        found = [name for name in self.find(blob) if name != UNREGISTERED]
        assert not found, f"canary secret(s) {found} leaked into {where if isinstance(where, Path) else 'output'}"


CANARIES = CanaryRegistry()


@pytest.fixture(scope="session")
def canary() -> Callable[..., str]:
    """canary("misp-key") -> a unique random secret value, the same for the whole session;
    canary("hub-key", key=True) -> one of 40 alphanumerics (MISP's rule for auth and sync keys)."""
    return CANARIES.get


@pytest.fixture(scope="session")
def assert_no_canary() -> Callable[[str | bytes | Path], None]:
    return CANARIES.assert_absent


@pytest.fixture(scope="session")
def secret_file() -> Callable[[Path], Path]:
    """secret_file(path) -> path: declare a file or directory that holds a secret on purpose (a `{file: …}`
    source, a 0600 delivery sink), so the end-of-session sweep does not report it. Declare nothing else."""
    return CANARIES.hold


# -- the sweep ------------------------------------------------------------------------------------------
def sqlite_columns(path: Path) -> dict[tuple[str, str], bytes]:
    """Every text or blob value of a SQLite file by (table, column), NUL-separated; {} if it is not one."""
    columns: dict[tuple[str, str], list[bytes]] = {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute('SELECT * FROM "{}"'.format(table.replace('"', '""')))
            names = [d[0] for d in cursor.description]
            for row in cursor:
                for name, value in zip(names, row, strict=True):
                    if isinstance(value, str | bytes):
                        columns.setdefault((table, name), []).append(
                            value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape"))
    except sqlite3.Error:
        pass  # the raw bytes were still read; a half-written or locked database says no more
    finally:
        db.close()
    return {where: b"\x00".join(values) for where, values in columns.items()}


def files_under(root: Path, *, since: float | None = None) -> Iterator[Path]:
    """Regular files under root, not following symbolic links; only those changed since `since` if given."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                info = path.lstat()
            except OSError:
                continue  # removed while we walked (a daemon thread's file)
            if stat.S_ISREG(info.st_mode) and (since is None or info.st_mtime >= since):
                yield path


class Sweep:
    """What the end-of-session sweep found, and what it cost."""

    def __init__(self) -> None:
        self.leaks: list[tuple[str, str]] = []  # (canary name, file)
        self.files = 0
        self.bytes = 0
        self.seconds = 0.0
        self.output_seconds = 0.0  # spent checking captured output, test by test

    def run(self, registry: CanaryRegistry, roots: Iterable[tuple[Path, float | None]]) -> None:
        started = time.perf_counter()
        for root, since in roots:
            if not root.is_dir():
                continue
            for path in files_under(root, since=since):
                if registry.is_held(path):
                    continue
                if SANDBOX_DB.search(path.name):
                    self.sweep_sandbox(registry, path)
                    continue
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                self.files += 1
                self.bytes += len(data)
                found = set(registry.find(data))
                if data.startswith(SQLITE_MAGIC):
                    found.update(name for blob in sqlite_columns(path).values() for name in registry.find(blob))
                self.leaks.extend((name, str(path)) for name in sorted(found))
        self.seconds += time.perf_counter() - started

    def sweep_sandbox(self, registry: CanaryRegistry, path: Path) -> None:
        """MISP's storage: by rows only (the raw bytes hold the allowed columns too), outside its secret columns.
        Its -wal, -shm and -journal files are read through the database itself."""
        if not path.name.endswith(".db"):
            return
        self.files += 1
        self.bytes += path.stat().st_size
        for (table, column), blob in sqlite_columns(path).items():
            if (table, column) not in MISP_SECRET_COLUMNS:
                self.leaks.extend((name, f"{path} ({table}.{column})") for name in registry.find(blob))

    def add(self, other: dict[str, Any]) -> None:
        self.leaks.extend((str(name), str(path)) for name, path in other.get("leaks", ()))
        self.files += int(other.get("files", 0))
        self.bytes += int(other.get("bytes", 0))
        self.seconds += float(other.get("seconds", 0.0))
        self.output_seconds += float(other.get("output_seconds", 0.0))

    def as_dict(self) -> dict[str, Any]:
        return {"leaks": self.leaks, "files": self.files, "bytes": self.bytes, "seconds": self.seconds,
                "output_seconds": self.output_seconds}


SWEEP_KEY = pytest.StashKey[Sweep]()
STARTED_KEY = pytest.StashKey[float]()


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and config.pluginmanager.has_plugin("dsession")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SWEEP_KEY] = Sweep()
    config.stash[STARTED_KEY] = time.time() - 1  # mtimes are coarse on some filesystems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Captured stdout, stderr and log of each phase: a canary there fails the test, shown by name only."""
    report = yield
    started = time.perf_counter()
    leaked: set[str] = set()
    sections = []
    for title, text in report.sections:  # "Captured stdout call"; a phase's report repeats earlier phases'
        found = CANARIES.find(text.encode("utf-8", "surrogateescape"))
        if found and title.endswith(f" {report.when}"):
            leaked.update(found)
        sections.append((title, CANARIES.scrub(text) if found else text))
    report.sections = sections
    failure = str(report.longrepr) if report.failed and report.longrepr is not None else ""
    if failure and CANARIES.scrub(failure) != failure:
        report.longrepr = CANARIES.scrub(failure)  # the test failed anyway: just never print the value
    if leaked:
        message = f"canary secret(s) {sorted(leaked)} appeared in the captured output of the {report.when} phase"
        report.longrepr = f"{report.longrepr}\n\n{message}" if report.failed else message
        report.outcome = "failed"
    item.config.stash[SWEEP_KEY].output_seconds += time.perf_counter() - started
    return report


@pytest.hookimpl(trylast=True)  # after session-scoped fixtures are torn down: they may write files too
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    sweep = config.stash[SWEEP_KEY]
    roots: list[tuple[Path, float | None]] = []
    # The session's temporary directory, if a test used one (`_basetemp` is set then; getbasetemp() would
    # make one). Under xdist, each worker has its own, and the controller runs no test.
    basetemp = getattr(getattr(config, "_tmp_path_factory", None), "_basetemp", None)
    if basetemp is not None and not is_xdist_controller(config):
        roots.append((Path(basetemp), None))
    if not is_worker(config):  # the repository's own output directories, once per run
        roots.extend((config.rootpath / name, config.stash[STARTED_KEY]) for name in REPO_OUTPUT_DIRS)
    sweep.run(CANARIES, roots)
    if is_worker(config):
        config.workeroutput["canary_sweep"] = sweep.as_dict()  # type: ignore[attr-defined]
        return
    if sweep.leaks and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: collect what a worker's sweep found."""
    found = getattr(node, "workeroutput", {}).get("canary_sweep")
    if found:
        node.config.stash[SWEEP_KEY].add(found)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    sweep = config.stash.get(SWEEP_KEY, None)
    if sweep is None or is_worker(config):
        return
    if sweep.leaks:
        terminalreporter.write_sep("=", "canary sweep: secrets found in files", red=True)
        for name, path in sorted(set(sweep.leaks)):
            terminalreporter.write_line(f"canary {name} in {path}")
        terminalreporter.write_line("Each is a leak, unless the file holds a secret on purpose: then declare it "
                                    "with the secret_file fixture (tests/canaries.py).")
    terminalreporter.write_line(f"canary sweep: {sweep.files} files, {sweep.bytes / 1e6:.1f} MB in "
                                f"{sweep.seconds:.2f} s, {len(set(sweep.leaks))} finds; captured output checked in "
                                f"{sweep.output_seconds:.2f} s")
