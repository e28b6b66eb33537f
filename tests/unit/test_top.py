"""``mlbsts top`` rendered to a recorded console, from a real game's live state.

The game's live state is what the flow writes to Redis: a real recorded game (744914),
polled every 10 pitches (``sim.simulate``), diffed and folded by the project's own steps
(``flows.game.snapshot_diff``, ``flows.stats.live_box``), through the same JSON. The expected
score and inning come from MLB's line score of the snapshot (the simulator's), never from the
code under test. Metrics are real Prometheus text made with ``prometheus_client`` under the
catalogue's names; expected rates and quantiles are worked out by hand below.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from rich.console import Console

from flows.game.batches import EventBatch
from flows.game.envelope import parse_feed_timestamp
from flows.game.snapshot_diff import step
from flows.stats.live_box import GameBoxState, LiveStats, fold_batch
from mlbsts.telemetry.catalogue import AGE_BUCKETS, WRITE_BUCKETS
from mlbsts.top import LiveGames, game_row, render
from mlbsts.top_figures import Scrape, down, quantile, rates_by, scrape_of
from sim.simulate import simulate

pytestmark = pytest.mark.unit

JSON = dict[str, Any]
RAW = "mlb.raw.game-snapshots"


def live_states(feed: JSON, every: int) -> list[tuple[JSON, LiveStats]]:
    """(snapshot, the game's live state after it, as read back from Redis' JSON)."""
    state: GameBoxState | None = None
    diff = None
    out = []
    for snap in simulate(feed, every):
        diff, events = step(diff, snap)
        batch = EventBatch(
            feed["gamePk"], date(2024, 7, 1), snap["metaData"]["timeStamp"], tuple(events)
        )
        state, emitted = fold_batch(state, batch)
        for live in emitted:
            out.append((snap, msgspec.json.decode(msgspec.json.encode(live), type=LiveStats)))
    return out


def render_text(
    games: LiveGames, scrapes: list[Scrape], previous: list[Scrape], now: datetime
) -> str:
    console = Console(record=True, width=160, color_system=None, file=io.StringIO())
    console.print(render(games, scrapes, {s.url: s for s in previous}, now))
    return console.export_text()


def row_of(text: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell`` (tables may stand side
    by side: a row ends where the next table's border begins)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if first_cell in cells:
            row = cells[cells.index(first_cell) :]
            ends = [i for i, c in enumerate(row) if not c or "\u2500" <= c[0] <= "\u257f"]
            return row[: ends[0]] if ends else row
    raise AssertionError(f"no row starting with {first_cell!r} in:\n{text}")


# -- metrics as the processes expose them ----------------------------------------------


def worker_text(now: datetime, second: bool) -> str:
    """A worker's /metrics: the first scrape, or the second one 10 s later."""
    r = CollectorRegistry()
    Gauge("mlbsts_up", "", ["process"], registry=r).labels("worker").set(1)
    Gauge("mlbsts_build_info", "", ["version"], registry=r).labels("0.1.0").set(1)
    events = Counter("mlbsts_events", "", ["kind"], registry=r)
    totals = {"pitch": (1000, 1120), "play": (300, 330), "runner": (200, 220), "game": (50, 51)}
    for kind, (first, then) in totals.items():
        events.labels(kind).inc(then if second else first)
    snapshots = Counter("mlbsts_snapshots", "", ["outcome"], registry=r)
    snapshots.labels("accepted").inc(430 if second else 400)
    snapshots.labels("dead_letter").inc(3)
    letters = Counter("mlbsts_dead_letters", "", ["error_class"], registry=r)
    letters.labels("unparsable").inc(1)
    letters.labels("stale").inc(7 if second else 2)
    write = Histogram("mlbsts_sink_write_seconds", "", ["sink"], buckets=WRITE_BUCKETS, registry=r)
    for _ in range(50):
        write.labels("raw_to_postgres").observe(0.004)
    age = Histogram("mlbsts_data_age_seconds", "", ["stage"], buckets=AGE_BUCKETS, registry=r)
    for _ in range(10):
        age.labels("postgres_committed").observe(40)
    if second:  # in the window: 20 writes in (0.1, 0.25], 80 in (0.25, 0.5]; ages in (2, 5]
        for value, times in ((0.2, 20), (0.3, 80)):
            for _ in range(times):
                write.labels("raw_to_postgres").observe(value)
        for _ in range(100):
            age.labels("postgres_committed").observe(3)
    Counter("mlbsts_sink_retries", "", ["sink"], registry=r).labels("raw_to_postgres").inc(2)
    Counter("mlbsts_sink_errors", "", ["sink"], registry=r).labels("write_log").inc(1)
    Gauge("mlbsts_sink_queue_items", "", ["sink"], registry=r).labels("raw_to_postgres").set(17)
    lag = Gauge("mlbsts_consumer_lag_records", "", ["topic", "partition"], registry=r)
    lag.labels(RAW, "0").set(30)
    lag.labels(RAW, "1").set(12)
    Gauge("mlbsts_games_in_state", "", registry=r).set(4)
    Gauge("mlbsts_state_bytes", "", registry=r).set(3 * 1024 * 1024)
    progress = Gauge("mlbsts_worker_progress_timestamp_seconds", "", registry=r)
    progress.set(now.timestamp() - 2)
    return generate_latest(r).decode()


def poller_text(now: datetime) -> str:
    r = CollectorRegistry()
    Gauge("mlbsts_breaker_open", "", ["host"], registry=r).labels("statsapi.mlb.com").set(1)
    Counter("mlbsts_polls", "", ["outcome"], registry=r).labels("published").inc(5)
    Gauge("mlbsts_poller_tick_timestamp_seconds", "", registry=r).set(now.timestamp() - 75)
    return generate_latest(r).decode()


# -- the view ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def states(fixture_feed: JSON) -> list[tuple[JSON, LiveStats]]:
    return live_states(fixture_feed, 10)


def test_a_live_game_shows_its_score_inning_and_data_age(
    states: list[tuple[JSON, LiveStats]],
) -> None:
    snap, live = [(s, st) for s, st in states if not st.is_final][-1]
    line = snap["liveData"]["linescore"]  # MLB's line score of that moment (the oracle)
    fed = parse_feed_timestamp(snap["metaData"]["timeStamp"])
    now = fed + timedelta(seconds=83)
    updated = now.timestamp() - 5
    games = LiveGames(rows=(game_row(live, now, updated),))

    text = render_text(games, [], [], now)

    cells = row_of(text, str(snap["gamePk"]))
    rhe = [
        " ".join(str(line["teams"][side][k]) for k in ("runs", "hits", "errors"))
        for side in ("away", "home")
    ]
    status = snap["gameData"]["status"]["detailedState"]
    assert cells == [str(snap["gamePk"]), status, str(line["currentInning"]), *rhe, "1m23s", "5s"]
    assert "no process answers" in text


def test_a_final_game_shows_final_and_the_final_score(
    states: list[tuple[JSON, LiveStats]], fixture_feed: JSON
) -> None:
    _, live = states[-1]
    line = fixture_feed["liveData"]["linescore"]
    now = parse_feed_timestamp(live.source_ts) + timedelta(hours=3, minutes=4)
    text = render_text(LiveGames(rows=(game_row(live, now, None),)), [], [], now)
    cells = row_of(text, str(live.gamePk))
    runs = [str(line["teams"][side]["runs"]) for side in ("away", "home")]
    assert cells[1:3] == ["Final", f"F/{len(line['innings'])}"]
    assert [cells[3].split()[0], cells[4].split()[0]] == runs
    assert cells[5:] == ["3h04m", "–"]


def test_rates_dead_letters_sinks_and_lag_from_two_scrapes() -> None:
    now = datetime.fromisoformat("2024-07-01T21:45:00+00:00")
    worker = "http://w:9464/metrics"
    first = scrape_of("worker", worker, 100.0, worker_text(now, second=False))
    second = scrape_of("worker", worker, 110.0, worker_text(now, second=True))
    poller = down("poller", "http://p:9465/metrics", 110.0, "ConnectError")

    text = render_text(LiveGames(), [second, poller], [first], now)

    assert row_of(text, "worker")[2:] == ["up", "0.1.0"]
    assert row_of(text, "poller")[2] == "DOWN ConnectError"
    assert row_of(text, "events") == ["events", "17.1/s"]  # (120 + 30 + 20 + 1) / 10 s
    assert row_of(text, "pitch") == ["pitch", "12.0/s"]
    assert row_of(text, "snapshots accepted") == ["snapshots accepted", "3.0/s"]
    assert row_of(text, "stale") == ["stale", "7", "0.5/s"]
    assert row_of(text, "unparsable") == ["unparsable", "1", "0.0/s"]
    # window: 20 writes in (0.1, 0.25], 80 in (0.25, 0.5]; p50 = 0.25 + 0.25 * 30/80,
    # p95 = 0.25 + 0.25 * 75/80 (the 50 writes of the first scrape are outside the window)
    assert row_of(text, "raw_to_postgres") == [
        "raw_to_postgres",
        "344 ms",
        "484 ms",
        "17",
        "–",
        "2",
        "0",
    ]
    assert row_of(text, "write_log")[-1] == "1"
    assert row_of(text, f"lag {RAW}") == [f"lag {RAW}", "42 records"]
    assert row_of(text, "data age p95 postgres_committed")[1] == "5s"  # 2 + 3 * 0.95 s
    assert row_of(text, "games in state") == ["games in state", "4"]
    assert row_of(text, "state size") == ["state size", "3 MiB"]
    assert row_of(text, "worker progress age") == ["worker progress age", "2s"]


def test_one_scrape_gives_totals_and_no_rates() -> None:
    now = datetime.fromisoformat("2024-07-01T21:45:00+00:00")
    only = scrape_of("worker", "http://w/metrics", 1.0, worker_text(now, second=False))
    poller = scrape_of("poller", "http://p/metrics", 1.0, poller_text(now))
    text = render_text(LiveGames(), [only, poller], [], now)
    assert row_of(text, "pitch") == ["pitch", "–"]
    assert row_of(text, "stale") == ["stale", "2", "–"]
    # since start: the 50 writes in (0.001, 0.005]; p50 = 0.001 + 0.004 * 0.5, p95 ... * 0.95
    assert row_of(text, "raw_to_postgres")[1:3] == ["3 ms", "5 ms"]
    assert row_of(text, "breaker statsapi.mlb.com") == ["breaker statsapi.mlb.com", "OPEN"]
    assert row_of(text, "poller tick age") == ["poller tick age", "1m15s"]


def test_redis_down_and_garbage_metrics_show_as_down() -> None:
    now = datetime.fromisoformat("2024-07-01T21:45:00+00:00")
    garbage = scrape_of("api", "http://a/metrics", 1.0, "this is { not metrics\n")
    text = render_text(
        LiveGames(error="redis://127.0.0.1:1/0: ConnectionError"), [garbage], [], now
    )
    assert "games: Redis is DOWN (redis://127.0.0.1:1/0: ConnectionError)" in text
    assert row_of(text, "api")[2].startswith("DOWN unparsable metrics")


# -- the figures ------------------------------------------------------------------------


def test_quantile_interpolates_like_prometheus() -> None:
    buckets = {0.1: 50.0, 0.5: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.3)  # 0.1 + 0.4 * 25/50
    assert quantile(0.99, {0.1: 1.0, float("inf"): 10.0}) == 0.1  # past the last bound
    assert quantile(0.5, {0.1: 0.0, float("inf"): 0.0}) is None


def test_a_counter_that_went_down_restarted_from_zero() -> None:
    text = '# TYPE mlbsts_events counter\nmlbsts_events_total{{kind="pitch"}} {}\n'
    before = scrape_of("worker", "u", 0.0, text.format(500))
    after = scrape_of("worker", "u", 10.0, text.format(40))
    assert rates_by([(before, after)], "mlbsts_events_total", "kind") == {"pitch": 4.0}
    assert rates_by([(None, after)], "mlbsts_events_total", "kind") is None


# -- the command (as a process: importing typer in a test trips a click deprecation) --------

MLBSTS = str(Path(sys.executable).parent / "mlbsts")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def nothing_runs() -> tuple[list[str], dict[str, str]]:
    """Arguments and environment where Redis and every endpoint are closed loopback ports."""
    port = _closed_port()
    url = f"http://127.0.0.1:{port}/metrics"
    env = {**os.environ, "MLBSTS_REDIS_URL": f"redis://127.0.0.1:{port}/0", "COLUMNS": "160"}
    return ["--worker", url, "--poller", url, "--api", url], env


def test_top_once_with_nothing_running_shows_it_down_and_exits_0(
    nothing_runs: tuple[list[str], dict[str, str]],
) -> None:
    args, env = nothing_runs
    done = subprocess.run(
        [MLBSTS, "top", "--once", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("DOWN ConnectError") == 3
    assert "Redis is DOWN" in done.stdout


def test_ctrl_c_ends_the_live_view_with_status_0(
    nothing_runs: tuple[list[str], dict[str, str]],
) -> None:
    args, env = nothing_runs
    env |= {"TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}  # draw to the pipe as to a terminal
    with subprocess.Popen(
        [MLBSTS, "top", "--every", "0.5", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        seen = ""
        while "Redis is DOWN" not in seen:  # the first view is drawn: the loop runs
            line = proc.stdout.readline()
            assert line, f"top ended before drawing: {proc.stderr.read() if proc.stderr else ''}"
            seen += line
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
