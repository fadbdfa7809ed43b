"""Every recorded MISP 2.5.1 step is reproduced by the sandbox, except the deviations KNOWN_MISMATCHES.md lists."""

from __future__ import annotations

import pytest

from tests.sandbox import conformance


@pytest.fixture(scope="module")
def results() -> list[conformance.ScenarioResult]:
    return [conformance.replay(path) for path in conformance.scenarios()]


def test_all_transcripts_are_replayed(results: list[conformance.ScenarioResult],
                                      request: pytest.FixtureRequest) -> None:
    # The table is shown by tests/sandbox/conftest.py's terminal summary, also without -s.
    request.config.stash[conformance.TABLE_KEY] = conformance.table(results)
    assert len(results) == len(conformance.scenarios()) > 40
    assert sum(len(r.steps) for r in results) > 600


def test_no_unlisted_mismatch(results: list[conformance.ScenarioResult]) -> None:
    known = conformance.known_mismatches()
    unlisted = [f"{r.name}#{s.index} {s.name}: {'; '.join(s.problems[:4])}"
                for r in results for s in r.steps if not s.ok and not conformance.is_known(known, r.name, s.index)]
    assert not unlisted, "mismatches not in KNOWN_MISMATCHES.md:\n" + "\n".join(unlisted)


def test_known_mismatches_are_still_mismatches(results: list[conformance.ScenarioResult]) -> None:
    """A listed step that now matches must leave the list, so the list stays a list of real deviations."""
    failing = {f"{r.name}#{s.index}" for r in results for s in r.steps if not s.ok}
    failing |= {f"{r.name}#*" for r in results if any(not s.ok for s in r.steps)}
    stale = sorted(set(conformance.known_mismatches()) - failing)
    assert not stale, f"these KNOWN_MISMATCHES.md entries match now, remove them: {stale}"


def test_compare_reports_shape_and_value_differences() -> None:
    problems: list[str] = []
    conformance.compare({"a": {"b": "1", "saved": True}, "l": [{"x": 1}]},
                        {"a": {"b": 1, "saved": False, "c": None}, "l": [{}]}, "$", problems)
    assert problems == ["$.a.b: number instead of string", "$.a.saved: False instead of True",
                        "$.a.c: unexpected", "$.l[0].x: missing"]


def test_compare_ignores_volatile_values_but_not_their_type() -> None:
    problems: list[str] = []
    conformance.compare({"id": "12", "created": "2026-01-01", "org_id": "3"},
                        {"id": "1", "created": "2027-02-02", "org_id": ["3"]}, "$", problems)
    assert problems == ["$.org_id: list instead of string"]
