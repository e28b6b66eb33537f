"""The records of the ops topics, without a broker: what a committed batch and a process's
health become (``connectors.storage_ops``, ``mlbsts.telemetry.health_topic``), their caps,
their Avro round trip, and the storage reporter's rule that a report never fails a sink."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from connectors.avro_serde import AvroCodec, load_schema
from connectors.storage_ops import (
    MAX_LISTED,
    StorageOpsReporter,
    StoredBatch,
    game_of,
    ops_record,
    source_ts_of,
    stored_batch,
)
from flows.game.batches import EventBatch
from mlbsts import topics
from mlbsts.telemetry.health import InputPartition, Verdict, readiness
from mlbsts.telemetry.health_topic import (
    HealthReporter,
    Instance,
    health_record,
    process_figures,
)

pytestmark = pytest.mark.unit

DAY = date(2024, 7, 1)


class _Published:
    """A publisher that keeps what it is given (the ops publisher's interface)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, Mapping[str, Any]]] = []

    def publish(self, topic: str, key: str, record: Mapping[str, Any]) -> bool:
        self.records.append((topic, key, record))
        return True


class _Part:
    """A sink partition that describes its batches (or fails to)."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def stored(self, items: list[EventBatch]) -> StoredBatch:
        if self.fail:
            raise RuntimeError("cannot describe")
        return stored_batch("postgres", ["plays", "pitch_events", "plays"], items)


def _batches() -> list[EventBatch]:
    return [
        EventBatch(745001, DAY, "20240701_231500", ()),
        EventBatch(744914, DAY, "20240701_233000", ()),
        EventBatch(745001, DAY, "20240701_232000", ()),
    ]


def test_a_stored_batch_names_its_games_and_newest_feed_time() -> None:
    stored = stored_batch("postgres", ["plays", "pitch_events", "plays"], _batches())
    assert stored.targets == ("pitch_events", "plays")
    assert stored.game_pks == (744914, 745001)
    assert stored.source_ts == "20240701_233000"
    assert stored.rows == 3
    assert stored_batch("s3", [], [], rows=0).source_ts is None


def test_games_and_feed_times_are_read_from_every_kind_of_item() -> None:
    class Envelope:
        gamePk = 717465  # noqa: N815 - the envelope's name
        feed_timestamp = "20240701_200000"

    class Snapshot:
        envelope = Envelope()

    assert (game_of(Snapshot()), source_ts_of(Snapshot())) == (717465, "20240701_200000")
    batch = _batches()[0]
    assert (game_of(batch), source_ts_of(batch)) == (745001, "20240701_231500")
    assert (game_of("text"), source_ts_of("text")) == (None, None)


def test_an_ops_record_caps_its_lists_and_says_how_many_more() -> None:
    keys = [f"events/date=2024-07-01/game_pk={n}/kind=pitch/x.avro" for n in range(25)]
    stored = StoredBatch("s3", tuple(keys), 25, tuple(range(30)), "20240701_233000", 1234, "b")
    record = ops_record(
        stored, sink="live_stats.events_s3", partition=1, instance="worker@h:7", committed_at=10.5
    )
    assert record["targets"] == keys[:MAX_LISTED] and record["targets_more"] == 5
    assert record["game_pks"] == list(range(MAX_LISTED)) and record["game_pks_more"] == 10
    codec = AvroCodec(load_schema("storage_ops"))
    decoded = codec.decode(codec.encode(record))
    assert decoded["committed_at"] == datetime(1970, 1, 1, 0, 0, 10, 500000, tzinfo=UTC)
    assert {k: v for k, v in decoded.items() if k != "committed_at"} == {
        k: v for k, v in record.items() if k != "committed_at"
    }


def test_the_reporter_publishes_only_once_installed_keyed_by_store() -> None:
    reporter, published = StorageOpsReporter(), _Published()
    reporter.committed(_Part(), _batches(), sink="s", partition=0)
    assert published.records == []
    reporter.install(published, "worker@h:7")
    reporter.committed(_Part(), _batches(), sink="live_stats.events_postgres", partition=2)
    reporter.committed(object(), _batches(), sink="s", partition=0)  # no description: none
    reporter.committed(_Part(), [], sink="s", partition=0)  # nothing stored: none
    [(topic, key, record)] = published.records
    assert (topic, key) == (topics.STORAGE_OPS, "postgres")
    assert record["sink"] == "live_stats.events_postgres" and record["partition"] == 2
    assert record["instance"] == "worker@h:7" and record["rows"] == 3


def test_a_description_that_fails_never_fails_the_sink(caplog: pytest.LogCaptureFixture) -> None:
    reporter, published = StorageOpsReporter(), _Published()
    reporter.install(published, "worker@h:7")
    reporter.committed(_Part(fail=True), _batches(), sink="s", partition=0)
    reporter.committed(_Part(fail=True), _batches(), sink="s", partition=0)
    assert published.records == []
    assert caplog.text.count("storage ops: no record") == 1  # warned once a minute at most


def _instance() -> Instance:
    return Instance("worker", "pod-0", 42, started=1_000.0)


def test_a_health_record_carries_both_verdicts_their_checks_and_figures() -> None:
    ready = readiness({"kafka": None, "postgres": "OperationalError: refused"}, {"kafka"})
    live = Verdict(False, "x" * 900)
    record = health_record(_instance(), "0.1", 1_060.0, live, ready, {"progress_age_s": 3.5})
    assert record["instance"] == "worker@pod-0:42" and record["uptime_s"] == 60.0
    assert record["live"] is False and len(record["live_reason"]) == 500
    assert record["ready"] is True
    assert record["checks"] == {"kafka": "ok", "postgres": "OperationalError: refused"}
    codec = AvroCodec(load_schema("system_health"))
    decoded = codec.decode(codec.encode(record))
    assert decoded["reported_at"] == datetime(1970, 1, 1, 0, 17, 40, tzinfo=UTC)
    assert decoded["figures"] == {"progress_age_s": 3.5}


def test_each_process_reports_its_own_figures() -> None:
    parts = [
        InputPartition("mlb.raw.game-snapshots", 0, 10, last_poll=95.0, lag=4),
        InputPartition("mlb.raw.game-snapshots", 1, None, last_poll=99.0, lag=None),
    ]
    assert process_figures("worker", 100.0, parts, None, 0.0) == {
        "progress_age_s": 5.0,
        "input_partitions": 2.0,
        "lag_records": 4.0,
    }
    assert process_figures("worker", 100.0, [], None, 0.0)["progress_age_s"] == 0.0
    assert process_figures("ingest", 100.0, [], 97.5, 0.0) == {"loop_age_s": 2.5}
    assert process_figures("ingest", 100.0, [], None, 40.0) == {"loop_age_s": 60.0}
    assert process_figures("api", 100.0, parts, None, 0.0) == {}


def test_the_health_reporter_sends_one_record_per_turn_keyed_by_instance() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    def verdicts() -> tuple[Verdict, Verdict]:
        return Verdict(True, "the loop turns"), Verdict(True, "every required server reached")

    reporter = HealthReporter(
        _instance(),
        verdicts,
        lambda key, record: sent.append((key, record)),
        30.0,
        version="0.1",
        figures=lambda: {"loop_age_s": 1.0},
    )
    record = reporter.report_once()
    assert sent == [("worker@pod-0:42", record)]
    assert record["live_reason"] == "the loop turns" and record["figures"] == {"loop_age_s": 1.0}
    with pytest.raises(ValueError, match="positive"):
        HealthReporter(_instance(), verdicts, lambda k, r: None, 0, version="0.1")
