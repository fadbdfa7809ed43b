"""The end-of-session canary sweep bites: a nested pytest session that leaks canaries into files, captured
output and a failure message fails, naming each canary and file, and never shows a value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.canaries import CANARY_RE

ROOT = Path(__file__).resolve().parents[2]

LEAKY = '''
import sqlite3
import subprocess
import sys

from tests.canaries import CANARIES


def test_leaks_into_a_file(tmp_path):
    (tmp_path / "plan.json").write_text('{"authkey": "%s"}' % CANARIES.get("inner-file"))


def test_leaks_into_a_sqlite_row_split_across_pages(tmp_path):
    """A long row spills into overflow pages; with the value straddling a page boundary, only the rows show it."""
    value = CANARIES.get("inner-sqlite")
    for pad in range(0, 9000, 16):  # the row's length stays the same, so its page boundaries do too
        path = tmp_path / "state.db"
        path.unlink(missing_ok=True)
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE audit (record TEXT)")
        db.execute("INSERT INTO audit VALUES (?)", ("a" * pad + value + "b" * (9000 - pad),))
        db.commit()
        db.close()
        if value.encode() not in path.read_bytes():
            return
    raise AssertionError("no padding split the value across pages")


def test_a_subprocess_leaks_a_canary_it_made(tmp_path):
    """Not in this process's registry: caught by its shape."""
    subprocess.run([sys.executable, "-c", "import secrets; print('CANARY-sub-' + secrets.token_hex(12))"],
                   stdout=(tmp_path / "run.log").open("w"), check=True)


def test_leaks_into_stdout():
    print("sending key", CANARIES.get("inner-stdout"))


def test_fails_showing_a_value():
    assert CANARIES.get("inner-assert") == "something else"


def test_declared_files_and_misp_secret_columns_are_not_reported(tmp_path):
    source = CANARIES.hold(tmp_path / "key")
    source.write_text(CANARIES.get("inner-source"))
    db = sqlite3.connect(tmp_path / "misp.sandbox.db")
    db.execute("CREATE TABLE servers (name TEXT, authkey TEXT)")
    db.execute("INSERT INTO servers VALUES ('hub', ?)", (CANARIES.get("inner-sync-key", key=True),))
    db.commit()
    db.close()


def test_a_secret_sent_into_another_misp_field_is_reported(tmp_path):
    db = sqlite3.connect(tmp_path / "misp.sandbox.db")
    db.execute("CREATE TABLE organisations (name TEXT, description TEXT)")
    db.execute("INSERT INTO organisations VALUES ('x', ?)", ("key " + CANARIES.get("inner-misp-field"),))
    db.commit()
    db.close()
'''


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_sweep_fails_the_session_naming_canaries_and_files_never_values(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, secret_file: Callable[[Path], Path],
        xdist: list[str]) -> None:
    secret_file(pytester.path)  # the nested session leaks on purpose: not for this session's sweep
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest_subprocess("-p", "tests.canaries", "-p", "no:cacheprovider", "-rA", *xdist)
    output = result.stdout.str() + result.stderr.str()

    assert result.ret == pytest.ExitCode.TESTS_FAILED, output
    result.assert_outcomes(passed=5, failed=2)
    found = {(name, Path(path).name + where) for name, path, where in
             re.findall(r"^canary (.+?) in (\S+)((?: \(\S+\))?)$", output, re.M)}
    assert found == {("inner-file", "plan.json"), ("inner-sqlite", "state.db"),
                     ("(unregistered canary)", "run.log"),
                     ("inner-misp-field", "misp.sandbox.db (organisations.description)")}, output
    assert "canary secret(s) ['inner-stdout'] appeared in the captured output of the call phase" in output
    assert "<canary inner-stdout>" in output and "<canary inner-assert>" in output  # scrubbed, not dropped
    assert "inner-source" not in output and "inner-sync-key" not in output
    assert not CANARY_RE.search(output.encode()), "a canary value was printed"
    summary = r"^canary sweep: [1-9]\d* files, [\d.]+ MB in [\d.]+ s, 4 finds; captured output checked in [\d.]+ s$"
    assert re.search(summary, output, re.M), output

