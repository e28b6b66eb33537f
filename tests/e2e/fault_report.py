"""The fault suite's results: one row per fault, shown in the terminal summary of every
pytest run that ran the suite (``tests/e2e/conftest.py``), and written as
``bench/fault-report.md`` by ``make faults`` (``MLBSTS_FAULT_REPORT`` names the file).

Catch-up is the time from the end of the fault (the server answers again, SIGCONT, the
restart) to the worker's clean exit at the end of the input; it is reported, not asserted.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlbsts.paths import PROJECT_ROOT

REPORT_ENV = "MLBSTS_FAULT_REPORT"


@dataclass
class FaultRow:
    fault: str
    passed: bool
    aborts: int
    expected_aborts: int
    run_s: float  # the supervised worker, first start to clean exit
    catch_up_s: float | None  # None: no fault end (bad records) or no clean exit
    problems: list[str]
    notes: list[str]  # what was seen but not compared
    causes: list[str]  # the key log line of each abort
    test_s: float = 0.0  # the whole test: bad record, target, run, read-back and checks


@dataclass
class Suite:
    """What the report says besides the rows."""

    rows: list[FaultRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)
    ended: float | None = None


SUITE = Suite()


def _catch_up(row: FaultRow) -> str:
    if row.catch_up_s is None:
        return "-"
    if row.catch_up_s < 0:
        return f"{row.catch_up_s:.1f} (done during the fault)"
    return f"{row.catch_up_s:.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_lines() -> list[str]:
    lines = [
        "| fault | result | aborts (want) | catch-up s | run s | test s | details |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in SUITE.rows:
        details = "; ".join(row.problems) or "every table, S3 object and event id equal"
        details += "".join(f"; {note}" for note in row.notes)
        if row.causes:
            details += "; abort causes: " + " / ".join(f"`{c}`" for c in row.causes)
        lines.append(
            f"| {row.fault} | {'pass' if row.passed else 'FAIL'} | {row.aborts} "
            f"({row.expected_aborts}) | {_catch_up(row)} | {row.run_s:.1f} | {row.test_s:.0f} "
            f"| {_cell(details)} |"
        )
    return lines


def terminal_lines() -> list[str]:
    """The summary for the terminal; empty when the suite did not run."""
    if not SUITE.rows:
        return []
    total = (SUITE.ended or time.monotonic()) - SUITE.began
    return [
        "fault suite (tests/e2e/test_faults.py):",
        *SUITE.notes,
        *table_lines(),
        f"suite time {total:.0f} s",
    ]


def write_report() -> Path | None:
    """Write the markdown report where ``MLBSTS_FAULT_REPORT`` says; its path, or None."""
    target = os.environ.get(REPORT_ENV)
    if not target or not SUITE.rows:
        return None
    path = Path(target) if Path(target).is_absolute() else PROJECT_ROOT / target
    total = (SUITE.ended or time.monotonic()) - SUITE.began
    passed = sum(row.passed for row in SUITE.rows)
    text = [
        "# MLB-STS fault report",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()} (`make faults`, "
        "`tests/e2e/test_faults.py`).",
        "",
        *(f"- {note}" for note in SUITE.notes),
        "",
        f"{passed} of {len(SUITE.rows)} faults pass; suite time {total:.0f} s.",
        "",
        *table_lines(),
        "",
    ]
    path.write_text("\n".join(text))
    return path
