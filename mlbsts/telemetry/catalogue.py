"""The metric catalogue: every metric MLB-STS emits, by the name it has on ``/metrics``.

The exported names are a contract (alert rules and dashboards in ``deploy/`` use them;
docs/operating.md lists them). OpenTelemetry's Prometheus exporter derives the exported
name from the instrument's: a counter gets ``_total``, a histogram of unit ``s`` gets
``_seconds`` unless its name already ends so. ``instrument_name`` and ``unit`` undo that,
so the exported name is exactly ``MetricSpec.name`` (``tests/unit/test_telemetry.py``
scrapes every one). Label values are lower case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "histogram", "gauge"]

#: seconds between the feed's timestamp and a stage (replays of old games are hours old)
AGE_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: one sink write, one wait of the rate limiter
WRITE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its exported name, kind, meaning and label names."""

    name: str
    kind: Kind
    description: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None

    @property
    def instrument_name(self) -> str:
        """The OpenTelemetry instrument name that exports as ``name``."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        return self.name

    @property
    def unit(self) -> str:
        return "s" if self.kind == "histogram" and self.name.endswith("_seconds") else ""


# every process
UP = MetricSpec("mlbsts_up", "gauge", "1 while the process runs", ("process",))
BUILD_INFO = MetricSpec("mlbsts_build_info", "gauge", "1; the version running", ("version",))

# the worker
DATA_AGE = MetricSpec(
    "mlbsts_data_age_seconds",
    "histogram",
    "now minus the snapshot's feed timestamp when a stage had it: published (poller), "
    "events_produced (events acknowledged by the broker), postgres_committed (its events "
    "committed to PostgreSQL)",
    ("stage",),
    AGE_BUCKETS,
)
SNAPSHOTS = MetricSpec(
    "mlbsts_snapshots_total",
    "counter",
    "raw snapshots the flow processed, by outcome (accepted, dead_letter)",
    ("outcome",),
)
EVENTS = MetricSpec(
    "mlbsts_events_total",
    "counter",
    "events the diff emitted, by kind (pitch, play, runner, game, retraction)",
    ("kind",),
)
DEAD_LETTERS = MetricSpec(
    "mlbsts_dead_letters_total", "counter", "dead letters produced", ("error_class",)
)
SINK_WRITE = MetricSpec(
    "mlbsts_sink_write_seconds", "histogram", "one write of a sink", ("sink",), WRITE_BUCKETS
)
SINK_RETRIES = MetricSpec(
    "mlbsts_sink_retries_total", "counter", "writes retried after a transient error", ("sink",)
)
SINK_ERRORS = MetricSpec(
    "mlbsts_sink_errors_total", "counter", "writes that failed for good", ("sink",)
)
SINK_QUEUE_ITEMS = MetricSpec(
    "mlbsts_sink_queue_items", "gauge", "items waiting to be written", ("sink",)
)
SINK_QUEUE_BYTES = MetricSpec(
    "mlbsts_sink_queue_bytes", "gauge", "estimated bytes waiting to be written", ("sink",)
)
GAMES_IN_STATE = MetricSpec("mlbsts_games_in_state", "gauge", "games whose diff state is held")
STATE_BYTES = MetricSpec(
    "mlbsts_state_bytes", "gauge", "approximate bytes of the games' diff state"
)
CONSUMER_LAG = MetricSpec(
    "mlbsts_consumer_lag_records",
    "gauge",
    "records of the input not yet read: high watermark minus the worker's next offset",
    ("topic", "partition"),
)
WORKER_PROGRESS = MetricSpec(
    "mlbsts_worker_progress_timestamp_seconds",
    "gauge",
    "unix time of the worker's last progress (its slowest input partition polled)",
)

# the poller
POLLS = MetricSpec(
    "mlbsts_polls_total",
    "counter",
    "polls of a game, by outcome (published, unchanged, not_found, http_error, "
    "breaker_open, unavailable, error)",
    ("outcome",),
)
BREAKER_OPEN = MetricSpec(
    "mlbsts_breaker_open", "gauge", "1 while the host's circuit breaker is not closed", ("host",)
)
RATE_LIMIT_WAIT = MetricSpec(
    "mlbsts_rate_limit_wait_seconds",
    "histogram",
    "wait for the token bucket before a request",
    (),
    WRITE_BUCKETS,
)
CORRECTION_POLLS = MetricSpec(
    "mlbsts_correction_polls_total", "counter", "polls of games already Final (corrections)"
)
POLLER_TICK = MetricSpec(
    "mlbsts_poller_tick_timestamp_seconds", "gauge", "unix time of the poller loop's last turn"
)
OPS_RECORDS = MetricSpec(
    "mlbsts_ops_records_total",
    "counter",
    "records of mlb.system.health and mlb.storage.ops, by topic and outcome (published, dropped)",
    ("topic", "outcome"),
)

CATALOGUE: tuple[MetricSpec, ...] = (
    UP,
    BUILD_INFO,
    DATA_AGE,
    SNAPSHOTS,
    EVENTS,
    DEAD_LETTERS,
    SINK_WRITE,
    SINK_RETRIES,
    SINK_ERRORS,
    SINK_QUEUE_ITEMS,
    SINK_QUEUE_BYTES,
    GAMES_IN_STATE,
    STATE_BYTES,
    CONSUMER_LAG,
    WORKER_PROGRESS,
    POLLS,
    BREAKER_OPEN,
    RATE_LIMIT_WAIT,
    CORRECTION_POLLS,
    POLLER_TICK,
    OPS_RECORDS,
)
