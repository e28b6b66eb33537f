"""The worker's telemetry: its metrics at the flow's steps, and its health server.

The flow (``flows.live_stats``) calls these at its steps; each passes its items through
unchanged and only counts (docs/operating.md has the catalogue):

- ``decode_counted``: a raw message that became a dead letter (``mlbsts_snapshots_total``
  ``outcome="dead_letter"``); ``observed_diff``: a snapshot the diff took
  (``accepted``) or refused (``dead_letter``), and the games whose state is held
  (``mlbsts_games_in_state``, ``mlbsts_state_bytes``, as of each game's last item or tick);
- ``count_events``: ``mlbsts_events_total`` by kind;
- ``events_committed``: the data age of a snapshot whose events PostgreSQL committed.

``start_worker_telemetry`` sets up the process (``mlbsts.telemetry.setup``), the lag
watcher, and ``/metrics``, ``/livez``, ``/readyz`` on ``MLBSTS_WORKER_TELEMETRY_PORT``:
liveness from the progress of the input partitions, readiness from reaching Kafka,
PostgreSQL and S3 (Redis is reported, not required: it is an optional cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from connectors import s3
from connectors.event_serde import event_kind
from connectors.kafka_io import admin_config, consumer_config
from connectors.observed_source import LagWatcher
from connectors.ops_topics import start_ops_topics
from flows.game.accepted import AcceptedSnapshot
from flows.game.batches import EventBatch
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.events import Event, Retraction
from flows.game.release import Released
from flows.game.snapshot_diff import GameState
from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import (
    DEAD_LETTERS,
    EVENTS,
    GAMES_IN_STATE,
    SNAPSHOTS,
    STATE_BYTES,
)
from mlbsts.telemetry.health import Verdict, worker_liveness
from mlbsts.telemetry.metrics import RECORDER, record_age
from mlbsts.telemetry.progress import INPUT, observe_worker_progress
from mlbsts.telemetry.readiness import (
    TIMEOUT_S,
    Readiness,
    kafka_check,
    postgres_check,
    redis_check,
    s3_check,
)
from mlbsts.telemetry.setup import VERSION, setup_telemetry

__all__ = [
    "count_events",
    "decode_counted",
    "events_committed",
    "observed_diff",
    "start_worker_telemetry",
]

T = TypeVar("T")
Decoded = AcceptedSnapshot | DeadLetter
Diffed = EventBatch | Released | DeadLetter
Mapper = Callable[[GameState | None, Any], tuple[GameState | None, list[Diffed]]]

#: rough bytes of the diff state: per play, per event id it remembers
PLAY_BYTES = 128
EVENT_BYTES = 96


def decode_counted(decode: Callable[[T], Decoded]) -> Callable[[T], Decoded]:
    """``decode``, counting the messages it turns into dead letters."""

    def counted(message: T) -> Decoded:
        item = decode(message)
        if isinstance(item, DeadLetter):
            RECORDER.add(SNAPSHOTS, outcome="dead_letter")
        return item

    return counted


class _GameTally:
    """The games whose diff state this process holds, with its approximate size."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sizes: dict[int, int] = {}

    def note(self, game_pk: int, state: GameState | None) -> None:
        with self._lock:
            if state is None:
                self._sizes.pop(game_pk, None)
            else:
                size = sum(PLAY_BYTES + EVENT_BYTES * len(p.events) for p in state.plays)
                self._sizes[game_pk] = size

    def games(self) -> float:
        return float(len(self._sizes))

    def size(self) -> float:
        with self._lock:
            return float(sum(self._sizes.values()))


TALLY = _GameTally()


def observed_diff(mapper: Mapper) -> Mapper:
    """The diff's mapper, counting accepted and refused snapshots and the state held."""

    def observed(state: GameState | None, item: Any) -> tuple[GameState | None, list[Diffed]]:
        new_state, out = mapper(state, item)
        for result in out:
            if isinstance(result, DeadLetter):
                RECORDER.add(SNAPSHOTS, outcome="dead_letter")
            elif isinstance(result, EventBatch):
                RECORDER.add(SNAPSHOTS, outcome="accepted")
        game = new_state or state
        if game is not None:
            TALLY.note(game.game_pk, new_state)
        return new_state, out

    return observed


def count_events(events: Iterable[Event]) -> None:
    """``mlbsts_events_total`` by kind (pitch, play, runner, game, retraction)."""
    counts: dict[str, int] = {}
    for event in events:
        kind = "retraction" if isinstance(event, Retraction) else event_kind(event)
        counts[kind] = counts.get(kind, 0) + 1
    for kind, n in counts.items():
        RECORDER.add(EVENTS, n, kind=kind)


def events_committed(batches: list[EventBatch]) -> None:
    """The data age of each snapshot whose events PostgreSQL just committed."""
    now = time.time()
    for batch in batches:
        record_age("postgres_committed", batch.source_ts, now)


def start_worker_telemetry(settings: Settings) -> None:
    """Telemetry of a worker process (module docstring); once per process."""
    telemetry = setup_telemetry(settings, "worker")
    for error_class in ErrorClass:  # at 0 from the start: alerts see the first letter
        RECORDER.add(DEAD_LETTERS, 0, error_class=error_class)
    observe_worker_progress()
    RECORDER.observe(GAMES_IN_STATE, TALLY.games)
    RECORDER.observe(STATE_BYTES, TALLY.size)
    LagWatcher(consumer_config(settings)).start()
    # mlb.storage.ops (committed sink batches) and mlb.system.health (the probes below)
    start_ops_topics(settings, "worker", telemetry.verdicts, version=VERSION)
    if settings.worker_telemetry_port == 0:
        return
    probe_s3 = s3.client(settings, retries=False, timeout=TIMEOUT_S)
    checks = {
        "kafka": kafka_check(admin_config(settings), settings.flow_input_topic),
        "postgres": postgres_check(settings.postgres_dsn.get_secret_value()),
        "s3": s3_check(probe_s3.bucket_exists, settings.s3_bucket),
        "redis": redis_check(settings.redis_url),
    }
    ready = Readiness(checks, {"kafka", "postgres", "s3"}, redact=telemetry.redact)

    def live() -> Verdict:
        return worker_liveness(time.time(), INPUT.partitions(), settings.health_stall_s)

    telemetry.serve(
        settings.telemetry_host, settings.worker_telemetry_port, liveness=live, readiness=ready
    )
