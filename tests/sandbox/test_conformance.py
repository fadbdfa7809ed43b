"""Every recorded MISP 2.5.1 step, replayed against fresh sandboxes: a mismatch fails unless it is listed, with its
reason, in KNOWN_MISMATCHES.md. The per-scenario table is printed in the test run's summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.conformance import is_known, known_mismatches, replay, scenarios


@pytest.mark.parametrize("path", scenarios(), ids=lambda p: p.stem)
def test_scenario_matches_the_recording(path: Path) -> None:
    result = replay(path)
    known = known_mismatches()
    unexpected = [f"#{s.index} {s.name}: {'; '.join(s.problems[:4])}" for s in result.steps
                  if not s.ok and not is_known(known, result.name, s.index)]
    assert not unexpected, "\n".join(unexpected)


def test_known_mismatches_are_still_mismatches() -> None:
    """A fixed step must leave the list, so that the list stays the truth."""
    known = known_mismatches()
    stale = []
    for path in scenarios():
        result = replay(path)
        for step in result.steps:
            if step.ok and f"{result.name}#{step.index}" in known:
                stale.append(f"{result.name}#{step.index}")
    assert not stale, f"these steps now match; remove them from KNOWN_MISMATCHES.md: {stale}"



def test_ids_are_mapped_per_kind_and_urls_compared_after_mapping() -> None:
    from tests.sandbox.conformance import Replayer, compare

    replayer = Replayer()
    replayer.learn({"User": {"id": "81", "org_id": "143"}}, {"User": {"id": "2", "org_id": "3"}}, "users")
    replayer.learn({"Tag": {"id": "81"}}, {"Tag": {"id": "7"}}, "tags")
    assert replayer.map_path("/admin/users/edit/81") == "/admin/users/edit/2"
    assert replayer.map_path("/tags/delete/81") == "/tags/delete/7"
    assert replayer.map_path("/auth_keys/index/81") == "/auth_keys/index/2"  # a user id in that place
    assert replayer.map_path("http://127.0.0.1:8080/tags/delete/81") == "http://127.0.0.1:8080/tags/delete/7"
    assert replayer.map_body({"User": {"org_id": "143", "role_id": "3"}}, "users") == \
        {"User": {"org_id": "3", "role_id": "3"}}
    problems: list[str] = []
    compare({"url": "/admin/users/delete/81", "message": "User deleted."},
            {"url": "/admin/users/delete/2", "message": "User removed."}, "$", problems, map_url=replayer.map_path)
    assert problems == ["$.message: 'User removed.' instead of 'User deleted.'"]
