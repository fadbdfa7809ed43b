"""Show the transcript conformance table at the end of a pytest run, even without -s."""

from __future__ import annotations

import pytest

from tests.sandbox.conformance import TABLE_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    table = config.stash.get(TABLE_KEY, None)
    if table:
        terminalreporter.section("MISP transcript conformance")
        terminalreporter.write_line(table)
