"""The live-stats dataflow: raw snapshots in, clean events and stored snapshots out.

``build_flow(source, sinks)`` is the factory (tests pass testing sources and sinks);
``production_flow()`` wires it to the servers in the settings. ``flow`` is resolved lazily
(module ``__getattr__``), so importing this module reads no environment and connects to
nothing, while ``python -m bytewax.run flows.live_stats:flow`` still finds it.

Delivery: state is exactly-once through Bytewax recovery; every sink is at-least-once
around a resume and idempotent (upserts, deterministic keys, stable ``event_id``).

Telemetry: the steps count through ``flows.observe`` (items pass unchanged);
``production_flow`` also starts the process's telemetry and health server.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias, TypeVar

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink

from connectors.background_sink import BackgroundSink, KeyedSink
from connectors.dead_letter_offload import (
    INLINE_MAX,
    DeadLetterOriginalsSink,
    Original,
    inline_limit,
    offload_original,
)
from connectors.event_archive import ArchiveBucket, EventBatchS3Sink
from connectors.kafka_io import (
    CheckedKafkaSink,
    OutRecord,
    admin_config,
    consumer_config,
    producer_config,
)
from connectors.observed_source import ObservedKafkaSource
from connectors.pg_game_tables import LIVE_REFRESH, GameTablesSink, Refresh
from connectors.pg_normalized import NormalizedEventsSink
from connectors.pg_stats import PgLiveStatsSink, PgPitcherStatsSink, PgWindowStatsSink
from connectors.postgres import PgLimits
from connectors.raw_sinks import RawPostgresSink, RawS3Sink
from connectors.records import EncodedBatch, dead_letter_record, encoded_batch
from connectors.recovery_store import prune_before_run
from connectors.redis_state import RedisLiveStateSink
from connectors.rejects import DeadLetterProducer, Rejects
from flows.archive_buckets import PER_SNAPSHOT, Bucketing, archive_buckets, bucket_key
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass, dead_letter_of
from flows.game.envelope import parse_feed_timestamp
from flows.game.release import Released, releasing
from flows.game.snapshot_diff import GameState, SnapshotError, newest_ts_of, step
from flows.observe import (
    count_events,
    decode_counted,
    events_committed,
    observed_diff,
    start_worker_telemetry,
)
from flows.snapshot_decode import decode_snapshot
from flows.stats.live_box import LiveStats
from flows.stats.pitchers import PitcherStats
from flows.stats.windows import WindowStats
from flows.stats_flow import StatsConfig, add_live_stats, stats_config, stats_records
from flows.ticking import FlowClock, ticking
from mlbsts.settings import Settings, get_settings

X = TypeVar("X")
#: a plain Bytewax sink of X, or a ``KeyedSink`` of X (given ``(key, X)`` pairs)
SinkOf: TypeAlias = Sink[X] | KeyedSink[X]

RawMessage = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]


@dataclass(frozen=True)
class FlowSinks:
    """Where the flow writes; each sink is idempotent. A sink left ``None`` is not written
    (tests pick what they look at; production sets them all; a replay, which never writes
    the raw tier, leaves ``raw_postgres`` and ``raw_s3`` out)."""

    raw_postgres: SinkOf[AcceptedSnapshot] | None
    raw_s3: SinkOf[AcceptedSnapshot] | None
    log: SinkOf[OutRecord]  # events, statistics and dead letters; each record names its topic
    events_postgres: SinkOf[EventBatch] | None = None
    #: given each game's batches in buckets (``flows.archive_buckets``)
    events_s3: SinkOf[ArchiveBucket] | None = None
    game_postgres: SinkOf[AcceptedSnapshot] | None = None
    live_redis: SinkOf[LiveStats] | None = None
    live_postgres: SinkOf[LiveStats] | None = None
    pitchers_postgres: SinkOf[PitcherStats] | None = None
    windows_postgres: SinkOf[WindowStats] | None = None
    #: originals too large for their dead letter (``connectors.dead_letter_offload``);
    #: ``None``: every letter carries its original
    letter_originals: SinkOf[Original] | None = None


def _diff_snapshot(
    state: GameState | None, item: AcceptedSnapshot
) -> tuple[GameState | None, list[EventBatch | Released | DeadLetter]]:
    """One snapshot → one ``EventBatch`` (maybe empty), or a dead letter if it is refused."""
    stale_before = state.stale_snapshots if state is not None else 0
    try:
        new_state, events = step(state, item.payload_json, item.head)
    except SnapshotError as e:
        return state, [dead_letter_of(item, ErrorClass.WRONG_TYPE, str(e))]
    if new_state.stale_snapshots > stale_before:
        reason = (
            f"feed timestamp {item.envelope.feed_timestamp} is older than "
            f"{new_state.newest_ts}, the newest already processed"
        )
        return new_state, [dead_letter_of(item, ErrorClass.STALE, reason)]
    batch = EventBatch(
        game_pk=item.envelope.gamePk,
        game_date=item.game_date,
        source_ts=item.envelope.feed_timestamp or "",
        events=tuple(events),
        traceparent=item.traceparent,
    )
    return new_state, [batch]


def _released(state: GameState) -> EventBatch | Released | DeadLetter:
    return Released(game_pk=state.game_pk)


#: the diff mapper: a ``Tick`` only releases a finished game's state (``flows.ticking``),
#: with the rule of ``flow_step`` (``flows.game.release``); a release is signalled to the
#: statistics, which follow it
_diff = releasing(_diff_snapshot, newest_ts_of, _released)


def build_flow(
    source: Source[RawMessage],
    sinks: FlowSinks,
    stats: StatsConfig | None = None,
    *,
    letter_inline_max: int = INLINE_MAX,
    archive: Bucketing = PER_SNAPSHOT,
) -> Dataflow:
    """The dataflow, from raw Kafka messages to every sink. A dead letter's original
    larger than ``letter_inline_max`` bytes goes to ``sinks.letter_originals``; the event
    archive's files hold ``archive``'s buckets of batches (``flows.archive_buckets``)."""
    stats = stats or StatsConfig()
    flow = Dataflow("live_stats")
    messages = op.input("read_raw_snapshots", flow, source)
    # KafkaSourceMessage(key=gamePk, value=Avro envelope)
    decoded = op.map("decode_envelope", messages, decode_counted(decode_snapshot))
    # AcceptedSnapshot | DeadLetter
    split = op.branch("split_dead_letters", decoded, _is_accepted)
    accepted: Any = split.trues  # AcceptedSnapshot
    dead: Any = split.falses  # DeadLetter
    _output_if("raw_to_postgres", accepted, sinks.raw_postgres)
    _output_if("raw_to_s3", accepted, sinks.raw_s3)
    _output_if("game_to_postgres", accepted, sinks.game_postgres)
    clock = FlowClock()  # the newest feed time read: what the diff's ticks are timed by
    op.inspect("advance_flow_clock", accepted, partial(_advance, clock))
    keyed = op.key_on("key_by_game", accepted, _game_key)
    # (gamePk, AcceptedSnapshot)
    diff = observed_diff(partial(_diff, grace=stats.grace, max_idle=stats.max_idle))
    ticked = ticking("diff_snapshots", keyed, diff, clock, stats.tick_every)
    diffed = op.key_rm("unkey_diffs", ticked)
    # EventBatch | Released (the diff let the game go) | DeadLetter (refused snapshot)
    split_diffs = op.branch("split_refused_snapshots", diffed, _is_not_letter)
    signals: Any = split_diffs.trues  # EventBatch | Released
    batches: Any = op.filter("batches_only", signals, _is_batch)  # EventBatch
    _output_if("events_to_postgres", batches, sinks.events_postgres)
    encoded = op.map("encode_batches", batches, encoded_batch)
    # EncodedBatch(batch, the log record of each event): each event is encoded once
    if sinks.events_s3 is not None:
        buckets = archive_buckets("bucket_archive", encoded, signals, archive)
        # ArchiveBucket: a game's consecutive batches, for one S3 file per kind
        _output_if("events_to_s3", buckets, sinks.events_s3)
    events = op.flat_map("records_of_batch", encoded, _records_of)
    # OutRecord of a PitchEvent | PlayEvent | RunnerEvent | GameEvent | Retraction
    live = add_live_stats(signals, stats)
    # live: LiveStats per batch; pitchers; windows: league WindowStats; late: DeadLetter
    _output_if("live_to_redis", live.live, sinks.live_redis)
    _output_if("live_to_postgres", live.live, sinks.live_postgres)
    _output_if("pitchers_to_postgres", live.pitchers, sinks.pitchers_postgres)
    _output_if("windows_to_postgres", live.windows, sinks.windows_postgres)
    letters = op.merge("all_dead_letters", dead, split_diffs.falses)  # DeadLetter
    letters = _offload_originals(letters, sinks, letter_inline_max)
    letter_records = op.map("encode_letters", letters, dead_letter_record)
    # OutRecord(topic, key=gamePk, value)
    records = op.merge("all_records", events, letter_records, stats_records(live))
    _output_if("write_log", records, sinks.log)
    return flow


def _offload_originals(letters: Any, sinks: FlowSinks, inline_max: int) -> Any:
    """Originals too large for their letter to ``sinks.letter_originals``; the letters,
    now small, are returned (unchanged without that sink)."""
    if sinks.letter_originals is None:
        return letters
    split = op.map("offload_originals", letters, partial(offload_original, limit=inline_max))
    # (DeadLetter, (S3 key, original bytes) | None)
    originals = op.filter_map("originals_of_letters", split, _second)
    _output_if("originals_to_s3", originals, sinks.letter_originals)
    return op.map("small_letters", split, _first)  # DeadLetter


def _first(pair: tuple[DeadLetter, Original | None]) -> DeadLetter:
    return pair[0]


def _second(pair: tuple[DeadLetter, Original | None]) -> Original | None:
    return pair[1]


def _output_if(step_id: str, stream: Any, sink: SinkOf[Any] | None) -> None:
    """Write ``stream`` to ``sink`` unless it is ``None``; a ``KeyedSink`` is given
    ``(key, item)`` pairs."""
    if sink is None:
        return
    if isinstance(sink, KeyedSink):
        stream = op.key_on(f"{step_id}_by_key", stream, sink.key)
    op.output(step_id, stream, sink)


def _is_accepted(item: AcceptedSnapshot | DeadLetter) -> bool:
    return isinstance(item, AcceptedSnapshot)


def _is_not_letter(item: EventBatch | Released | DeadLetter) -> bool:
    return not isinstance(item, DeadLetter)


def _is_batch(item: EventBatch | Released) -> bool:
    return isinstance(item, EventBatch)


def _advance(clock: FlowClock, _step_id: str, item: AcceptedSnapshot) -> None:
    with suppress(ValueError):  # no feed time: it does not move the clock
        clock.advance(parse_feed_timestamp(item.envelope.feed_timestamp or ""))


def _records_of(encoded: EncodedBatch) -> tuple[OutRecord, ...]:
    count_events(encoded.batch.events)
    return encoded.records


def _game_key(item: AcceptedSnapshot) -> str:
    return str(item.envelope.gamePk)


def snapshot_key(item: AcceptedSnapshot) -> str:
    """The sink partition key of a snapshot (its gamePk); the replay flow uses the same."""
    return str(item.envelope.gamePk)


def batch_key(item: EventBatch) -> str:
    return str(item.game_pk)


def live_key(item: LiveStats) -> str:
    return str(item.gamePk)


def pitcher_key(item: PitcherStats) -> str:
    return str(item.gamePk)


def window_key(item: WindowStats) -> str:
    return item.window_start.isoformat()


def game_and_stats_sinks(
    settings: Settings, dsn: str, rejects: Rejects, refresh: Refresh = LIVE_REFRESH
) -> dict[str, Any]:
    """The game-table and statistics sinks of ``FlowSinks`` into ``dsn`` (the live flow's
    and a replay's), each on its writer threads; refused rows go to ``rejects``; the game
    tables are refreshed as ``refresh`` says (``connectors.pg_game_tables``)."""
    pg = PgLimits.of(settings)  # timeouts and outage budget of every PostgreSQL sink
    parts = settings.flow_sink_partitions
    room = settings.sink_queue_bytes  # bytes waiting per sink partition (backpressure)
    return {
        "game_postgres": BackgroundSink(
            GameTablesSink(dsn, rejects, limits=pg, refresh=refresh), snapshot_key, parts, room
        ),
        "live_postgres": BackgroundSink(
            PgLiveStatsSink(dsn, rejects, limits=pg), live_key, parts, room
        ),
        "pitchers_postgres": BackgroundSink(
            PgPitcherStatsSink(dsn, rejects, limits=pg), pitcher_key, parts, room
        ),
        "windows_postgres": BackgroundSink(
            PgWindowStatsSink(dsn, rejects, limits=pg), window_key, parts, room
        ),
    }


def production_flow() -> Dataflow:
    """The flow on the servers of the settings (reads the environment, connects lazily)."""
    settings = get_settings()
    start_worker_telemetry(settings)  # logs, metrics, traces, /livez /readyz (flows.observe)
    prune_before_run()  # -r DIR: no snapshot of an unfinished epoch is resumed from
    source = ObservedKafkaSource(
        brokers=settings.kafka_bootstrap_servers.split(","),
        topics=[settings.flow_input_topic],
        tail=not settings.flow_stop_at_end,
        add_config={k: str(v) for k, v in consumer_config(settings).items()},
        batch_size=settings.flow_batch_size,
        admin=admin_config(settings),  # listing partitions: no consumer-only settings
        list_budget_s=settings.sink_outage_budget_s,  # a broker away at start is waited for
    )
    dsn = settings.postgres_dsn.get_secret_value()
    pg = PgLimits.of(settings)  # timeouts and outage budget of every PostgreSQL sink
    parts = settings.flow_sink_partitions
    room = settings.sink_queue_bytes  # bytes waiting per sink partition (backpressure)
    rejects = DeadLetterProducer(producer_config(settings))  # rows the database refuses
    sinks = FlowSinks(
        raw_postgres=BackgroundSink(
            RawPostgresSink(dsn, rejects, limits=pg), snapshot_key, parts, room
        ),
        raw_s3=BackgroundSink(RawS3Sink(settings), snapshot_key, parts, room),
        log=CheckedKafkaSink(producer_config(settings)),  # one producer: no CAS contention on Tansu
        events_postgres=BackgroundSink(
            NormalizedEventsSink(dsn, rejects, limits=pg),
            batch_key,
            parts,
            room,
            on_written=events_committed,  # mlbsts_data_age_seconds{stage="postgres_committed"}
        ),
        events_s3=BackgroundSink(EventBatchS3Sink(settings), bucket_key, parts, room),
        live_redis=BackgroundSink(RedisLiveStateSink(settings, rejects), live_key, parts, room),
        **game_and_stats_sinks(settings, dsn, rejects),
        letter_originals=DeadLetterOriginalsSink(settings),  # originals too large for a letter
    )
    inline_max = inline_limit(settings.kafka_max_message_bytes)
    return build_flow(source, sinks, stats_config(settings), letter_inline_max=inline_max)


def __getattr__(name: str) -> Dataflow:
    if name == "flow":
        return production_flow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
