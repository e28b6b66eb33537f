"""The live-statistics sub-flow in-process on a real game, with 1 and 2 workers."""

from __future__ import annotations

from datetime import date
from typing import Any

import bytewax.operators as op
import msgspec
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from connectors.avro_serde import AvroCodec, load_schema
from connectors.kafka_io import OutRecord
from connectors.records import _dead_letter_codec
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter
from flows.game.events import PitchEvent
from flows.stats.live_box import LiveStats
from flows.stats.pitchers import PitcherStats
from flows.stats.windows import WindowStats
from flows.stats_flow import add_live_stats, stats_records
from mlbsts import topics
from tests.unit.official_boxscore import differences
from tests.unit.test_stats_live_box import batches_of
from tests.unit.test_stats_windows import raw_windows

pytestmark = pytest.mark.flow

JSON = dict[str, Any]


class Outputs(msgspec.Struct):
    live: list[LiveStats]
    pitchers: list[PitcherStats]
    windows: list[WindowStats]
    late: list[DeadLetter]
    records: list[OutRecord]


def run(batches: list[EventBatch], workers: int) -> Outputs:
    got = Outputs([], [], [], [], [])
    flow = Dataflow("stats_test")
    batch_stream = op.input("batches", flow, TestingSource(batches))
    stats = add_live_stats(batch_stream)
    op.output("out_live", stats.live, TestingSink(got.live))
    op.output("out_pitchers", stats.pitchers, TestingSink(got.pitchers))
    op.output("out_windows", stats.windows, TestingSink(got.windows))
    op.output("out_late", stats.late, TestingSink(got.late))
    op.output("out_records", stats_records(stats), TestingSink(got.records))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return got


def late_revision(batches: list[EventBatch]) -> tuple[EventBatch, PitchEvent]:
    """MLB revises the exit velocity of the first ball in play after the game is over."""
    first = next(
        e
        for b in batches
        for e in b.events
        if isinstance(e, PitchEvent) and e.isInPlay and e.hitData
    )
    ts = batches[-1].source_ts[:-2] + "59"
    assert ts > batches[-1].source_ts
    revised = msgspec.structs.replace(
        first,
        hitData={**(first.hitData or {}), "launchSpeed": 55.5},
        revision=first.revision + 5,
        source_ts=ts,
    )
    return EventBatch(first.gamePk, date(2024, 7, 1), ts, (revised,)), first


@pytest.mark.parametrize("workers", [1, 2])
def test_sub_flow_on_a_real_game(fixture_feed: JSON, workers: int) -> None:
    batches = batches_of(fixture_feed, 10)
    late_batch, revised = late_revision(batches)
    got = run([*batches, late_batch], workers)

    assert len(got.live) == sum(1 for b in batches if b.events) + 1
    last = max(got.live, key=lambda s: s.source_ts)
    compared, bad = differences(fixture_feed, last.box)
    assert compared > 300 and bad == []

    windows = {
        w.window_start: (w.pitches, w.balls_in_play, w.exit_velocity_avg, w.home_runs)
        for w in got.windows
    }
    assert windows == raw_windows(fixture_feed)  # the late revision changed no window

    assert len(got.late) == 1
    letter = got.late[0]
    assert (letter.error_class, letter.gamePk) == ("late", fixture_feed["gamePk"])
    assert revised.event_id in letter.reason

    pitcher_ids = {p.pitcherId for p in got.pitchers}
    assert len(pitcher_ids) == 7

    by_topic: dict[str, list[OutRecord]] = {}
    for record in got.records:
        by_topic.setdefault(record.topic, []).append(record)
    assert len(by_topic[topics.STATS_LIVE]) == len(got.live) + len(got.pitchers)
    assert len(by_topic[topics.STATS_WINDOWS]) == len(got.windows)
    dead = [_dead_letter_codec().decode(r.value) for r in by_topic[topics.DLQ_GAME_SNAPSHOTS]]
    assert [d["error_class"] for d in dead] == ["late"]
    live_codec = AvroCodec(load_schema("live_stats"))
    kinds = {live_codec.decode(r.value)["kind"] for r in by_topic[topics.STATS_LIVE]}
    assert kinds == {"game", "pitcher"}
    window_codec = AvroCodec(load_schema("window_stats"))
    decoded = [window_codec.decode(r.value) for r in by_topic[topics.STATS_WINDOWS]]
    assert sorted((d["window_start"], d["pitches"]) for d in decoded) == sorted(
        (w.window_start, w.pitches) for w in got.windows
    )
