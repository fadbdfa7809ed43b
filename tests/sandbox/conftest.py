from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the conformance table (steps matched per scenario) after any run that included the replay.

    Under pytest-xdist the replays ran in worker processes, so the controller replays once more to print
    the figure (a few seconds)."""
    reports = [r for reports in terminalreporter.stats.values() for r in reports
               if getattr(r, "nodeid", "").startswith("tests/sandbox/test_conformance.py")]
    if not reports:
        return
    from tests.sandbox.conformance import replay, scenarios, table

    terminalreporter.write_sep("-", "MISP 2.5.1 transcript conformance (steps matched / recorded)")
    terminalreporter.write_line(table([replay(path) for path in scenarios()]))
