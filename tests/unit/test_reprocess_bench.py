"""The reprocessing benchmark's pure parts: load copies, the range reader's fetch wait, the
CPU accounting from /proc and the report's goal line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.load import COPY_PK_OFFSET, copy_pk, relabelled
from bench.reprocess_bench import (
    GOAL_PER_CORE,
    NOTES_HEADING,
    Load,
    Run,
    _cpu_s,
    _tree_cpu_s,
    kept_notes,
    render,
)
from connectors.kafka_range import _range_config, _reader_config
from connectors.kafka_read import BACKLOG_FETCH_WAIT_MS, backlog_config
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def test_copy_pks_keep_the_real_games_then_shift_by_round() -> None:
    assert [copy_pk(10, n, 7) for n in (0, 6, 7, 13, 14)] == [
        10,
        10,
        10 + COPY_PK_OFFSET,
        10 + COPY_PK_OFFSET,
        10 + 2 * COPY_PK_OFFSET,
    ]


def test_relabelled_changes_the_copy_and_leaves_shared_objects_alone() -> None:
    shared: dict[str, Any] = {"allPlays": [1, 2]}
    snap = {"gamePk": 1, "gameData": {"game": {"pk": 1, "type": "R"}}, "liveData": shared}
    copy = relabelled(snap, 100_000_001)
    assert copy["gamePk"] == 100_000_001
    assert copy["gameData"]["game"] == {"pk": 100_000_001, "type": "R"}
    assert copy["liveData"] is shared
    assert snap == {"gamePk": 1, "gameData": {"game": {"pk": 1, "type": "R"}}, "liveData": shared}


def test_a_range_reader_lets_the_broker_fill_its_fetches() -> None:
    base: dict[str, str | int | bool] = {"bootstrap.servers": "x:1", "fetch.wait.max.ms": 50}
    assert _reader_config(base)["fetch.wait.max.ms"] == BACKLOG_FETCH_WAIT_MS
    assert _range_config(base)["fetch.wait.max.ms"] == 50  # the bounds' lookups keep theirs
    assert _reader_config(base)["auto.offset.reset"] == "error"


def test_a_reader_of_the_log_to_its_end_lets_the_broker_fill_its_fetches() -> None:
    live = Settings(kafka_fetch_wait_max_ms=50)
    assert backlog_config(live)["fetch.wait.max.ms"] == BACKLOG_FETCH_WAIT_MS
    assert backlog_config(live)["bootstrap.servers"] == live.kafka_bootstrap_servers


def test_cpu_of_this_process_and_its_tree() -> None:
    own = _cpu_s(os.getpid())
    assert own > 0
    assert _tree_cpu_s(os.getpid()) >= own
    assert _tree_cpu_s(2**22 + 1) == 0.0  # no such process


def test_the_report_says_whether_the_goal_is_met() -> None:
    load = Load(games=20, copies=13, snapshots=2000, envelope_bytes=2000 * 64 * 1024, publish_s=9)
    fast = Run(workers=1, flow_s=5.0, snapshots=2000, cpu_s=9.0, flow_cpu_s=8.0)
    slow = Run(workers=2, flow_s=40.0, snapshots=2000, cpu_s=30.0, flow_cpu_s=25.0)
    text = render(load, [fast, slow], every=3)
    assert "7 real games; 13 load copies" in text
    assert f"Goal {GOAL_PER_CORE:.0f} snapshots/s per worker core, 1 worker(s): met (250" in text
    assert "2 worker(s): NOT met (80 per worker CPU-second, 50/s wall)" in text


def test_a_new_measurement_keeps_the_reports_analysis(tmp_path: Path) -> None:
    report = tmp_path / "reprocess-report.md"
    assert kept_notes(report) == ""  # no report yet
    report.write_text(f"# title\n\n| figures |\n\n{NOTES_HEADING}\n\nthe analysis\n")
    assert kept_notes(report) == f"\n{NOTES_HEADING}\n\nthe analysis\n"
    report.write_text("# title\n\n| figures |\n")
    assert kept_notes(report) == ""
