"""The dataflow of ``mlbsts replay``: the worker's flow over a bounded range of the raw log,
written into the derived tiers of one target (the live tables, or a table version).

It is :func:`flows.live_stats.build_flow` with five differences:

- the source is a :class:`connectors.kafka_range.KafkaRangeSource` (a fixed range, then EOF);
- the sinks are the derived tiers only: event and game tables, statistics tables, the
  event archive, and the log (events, statistics, dead letters). Never the raw tier, which
  the range is read from, and never Redis, whose live state is the worker's;
- into a table version, the event archive's files hold up to 16 snapshots of a game
  (``flows.archive_buckets.VERSION_BUCKETS``); into live, one, as the worker writes them;
- the game tables are refreshed with each game's newest snapshot once per epoch, not
  every 15 s of feed time, and end on its last snapshot in the range
  (``connectors.pg_game_tables.REPLAY_REFRESH``);
- the statistics are *bounded* (``StatsConfig.bounded``: league windows close at the end
  of the range, by event time only) and get no wall-clock ticks (a finished game's state
  is released by feed time alone), so the output depends on the range and nothing else.

A :class:`ReplayTarget` says where: the tables' DSN (its ``search_path`` is the version's
schema), a suffix for the topics (``mlb.events.pitch.mlbsts_v2``; none for live) and a
bucket. Dead letters of rows the database refused go to the target's dead-letter topic too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta

from bytewax.dataflow import Dataflow

from connectors.background_sink import BackgroundSink
from connectors.dead_letter_offload import DeadLetterOriginalsSink, inline_limit
from connectors.event_archive import EventBatchS3Sink
from connectors.kafka_io import CheckedKafkaSink, producer_config
from connectors.kafka_range import KafkaRangeSource
from connectors.pg_game_tables import REPLAY_REFRESH
from connectors.pg_normalized import NormalizedEventsSink
from connectors.postgres import PgLimits
from connectors.rejects import DeadLetterProducer
from connectors.renamed_topics import RenamedTopicsSink
from flows.archive_buckets import PER_SNAPSHOT, VERSION_BUCKETS, Bucketing, bucket_key
from flows.live_stats import (
    FlowSinks,
    batch_key,
    build_flow,
    game_and_stats_sinks,
)
from flows.stats_flow import stats_config
from mlbsts.settings import Settings

__all__ = ["NO_TICKS", "ReplayTarget", "archive_bucketing", "replay_flow", "replay_sinks"]

#: the tick interval of a replay: never within a run (no wall-clock release)
NO_TICKS = timedelta(days=3650)


@dataclass(frozen=True)
class ReplayTarget:
    """Where a replay writes: ``version`` (``live`` or ``vN``), the tables' DSN, a suffix
    for every topic written, and the S3 bucket of the event archive."""

    version: str
    dsn: str
    topic_suffix: str
    bucket: str

    def topic(self, name: str) -> str:
        return name + self.topic_suffix


def replay_sinks(settings: Settings, target: ReplayTarget) -> FlowSinks:
    """The derived-tier sinks of ``target`` (see the module docstring)."""
    dsn, pg = target.dsn, PgLimits.of(settings)
    parts, room = settings.flow_sink_partitions, settings.sink_queue_bytes
    archive = settings.model_copy(update={"s3_bucket": target.bucket})
    rejects = DeadLetterProducer(producer_config(settings), target.topic_suffix)
    log = CheckedKafkaSink(producer_config(settings))
    return FlowSinks(
        raw_postgres=None,
        raw_s3=None,
        log=RenamedTopicsSink(log, target.topic_suffix) if target.topic_suffix else log,
        events_postgres=BackgroundSink(
            NormalizedEventsSink(dsn, rejects, limits=pg), batch_key, parts, room
        ),
        events_s3=BackgroundSink(EventBatchS3Sink(archive), bucket_key, parts, room),
        **game_and_stats_sinks(settings, dsn, rejects, REPLAY_REFRESH),
        letter_originals=DeadLetterOriginalsSink(archive),
    )


def replay_flow(settings: Settings, target: ReplayTarget, source: KafkaRangeSource) -> Dataflow:
    """The replay's dataflow: ``source`` into ``target``, statistics bounded, no ticks."""
    stats = dataclasses.replace(stats_config(settings), bounded=True, tick_every=NO_TICKS)
    inline_max = inline_limit(settings.kafka_max_message_bytes)
    sinks = replay_sinks(settings, target)
    archive = archive_bucketing(target.version)
    return build_flow(source, sinks, stats, letter_inline_max=inline_max, archive=archive)


def archive_bucketing(version: str) -> Bucketing:
    """Into live, the worker's archive layout (a replay rewrites its objects exactly);
    into a version, whose bucket is its own, buckets of 16 snapshots."""
    return PER_SNAPSHOT if version == "live" else VERSION_BUCKETS
