"""A property-based fuzz run (schemathesis) against the real running API on the local
stack: a private schema holding a real game, ``mlbsts api`` as a process, a real key.

Every operation of the published schema gets examples (the schema's own: a real game,
date and pitcher, so the happy paths are reached), coverage cases (bounds, wrong types,
missing parameters) and random valid and invalid inputs, then stateful sequences. The run
must find no 5xx and no answer outside the published schema (status codes, content types,
headers, bodies), must refuse what the schema forbids, and must refuse a request without
its key. Left out is ``positive_data_acceptance``: a schema cannot say which cursors this
API issued, nor that ``end`` comes after ``start``; those are refused with a 422 naming
the parameter (``test_api_endpoints.py``). Bounded: 25 examples per operation, fixed seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_api_endpoints import Api, api, game_dsn

pytestmark = pytest.mark.integration
__all__ = ["api", "game_dsn"]  # fixtures shared with test_api_endpoints.py

OPERATIONS = 14  # 11 under /v1 (with /v1/session), /healthz, /readyz, /metrics


def test_fuzzing_the_running_api_finds_no_5xx_and_no_schema_violation(
    api: Api, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "run", f"{api.url}/v1/openapi.json"),
            *("--header", f"X-API-Key: {api.key}"),
            *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
            *("--max-examples", "25", "--seed", "20240701", "--workers", "2"),
            *("--generation-database", "none", "--request-timeout", "30", "--no-color"),
            *("--report", "json", "--report-json-path", str(report)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    summary = json.loads(report.read_text())
    assert summary["complete"] and summary["failures"] == [] and summary["errors"] == []
    assert summary["operations"]["tested"] == OPERATIONS
    assert summary["test_cases"]["generated"] >= 500
    assert all(p["status"] == "success" for p in summary["phases"].values())
    log = api.log_path.read_text()
    assert "Traceback" not in log and api.key not in log
