from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the conformance table (steps matched per scenario) at the end of any run that replayed them."""
    from tests.sandbox import test_conformance

    if test_conformance.RESULTS:
        terminalreporter.write_sep("-", "MISP 2.5.1 transcript conformance")
        terminalreporter.write_line(test_conformance.pytest_terminal_summary_text())
