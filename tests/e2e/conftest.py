"""The e2e tier uses the same real local stack as the integration tier. The fault suite
(``test_faults.py``) adds its table of results to the terminal summary."""

from __future__ import annotations

import pytest

from tests.e2e.fault_report import terminal_lines
from tests.integration.conftest import stack_settings

__all__ = ["stack_settings"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in terminal_lines():
        terminalreporter.write_line(line)
