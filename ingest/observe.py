"""The poller's telemetry: its spans and metrics, and its health server.

- ``poll_span`` / ``publish_span``: a span per poll of a game and per publish of a
  snapshot; ``publish_span`` gives the Kafka headers that carry its context (the W3C
  ``traceparent``), so the worker's sink writes join the same trace;
- ``polled``: ``mlbsts_polls_total`` by outcome (``OUTCOMES``) and, for a game already
  Final, ``mlbsts_correction_polls_total``;
- ``published``: the data age of a snapshot the broker acknowledged
  (``mlbsts_data_age_seconds{stage="published"}``);
- ``start_ingest_telemetry``: the process's set-up and ``/metrics``, ``/livez`` (the loop
  turns, ``mlbsts.telemetry.progress.POLLER``), ``/readyz`` (Kafka required; Redis, the
  schedule cache, reported) on ``MLBSTS_INGEST_TELEMETRY_PORT``; the same verdicts every
  ``MLBSTS_HEALTH_TOPIC_EVERY_S`` on ``mlb.system.health`` (``connectors.ops_topics``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.kafka_io import admin_config
from connectors.ops_topics import start_ops_topics
from ingest.policy import GameTrack, Phase
from mlbsts.settings import Settings
from mlbsts.telemetry.catalogue import CORRECTION_POLLS, POLLS
from mlbsts.telemetry.health import Verdict, poller_liveness
from mlbsts.telemetry.logs import log_fields
from mlbsts.telemetry.metrics import RECORDER, record_age
from mlbsts.telemetry.progress import POLLER
from mlbsts.telemetry.readiness import Readiness, kafka_check, redis_check
from mlbsts.telemetry.setup import VERSION, Telemetry, setup_telemetry
from mlbsts.telemetry.tracing import kafka_headers, tracer

__all__ = [
    "OUTCOMES",
    "poll_span",
    "polled",
    "publish_span",
    "published",
    "start_ingest_telemetry",
]

#: the outcomes of one poll of a game (label ``outcome`` of ``mlbsts_polls_total``)
OUTCOMES = {
    "published": "one or more new snapshots published",
    "unchanged": "the feed had nothing new",
    "not_found": "404: the game has no feed; not polled again",
    "http_error": "another answer that is not retried (4xx)",
    "breaker_open": "refused without a request: the host's circuit breaker is open",
    "unavailable": "transient failures outlasted the retries, or an unusable answer",
    "error": "an unexpected error (logged with its traceback)",
}
CORRECTING = frozenset({Phase.FINAL, Phase.CORRECTING})


@contextmanager
def poll_span(game_pk: int) -> Iterator[None]:
    """A span around one poll of ``game_pk``; log lines inside name the game."""
    span = tracer().start_as_current_span("poll", attributes={"mlb.game_pk": game_pk})
    with span, log_fields(game=game_pk):
        yield


@contextmanager
def publish_span(game_pk: int, feed_ts: str | None) -> Iterator[tuple[tuple[str, bytes], ...]]:
    """A span around one publish; yields the Kafka headers carrying its context."""
    attributes: dict[str, str | int] = {"mlb.game_pk": game_pk, "mlb.feed_timestamp": feed_ts or ""}
    with tracer().start_as_current_span("publish", attributes=attributes):
        yield tuple(kafka_headers())


def polled(track: GameTrack, outcome: str) -> None:
    """Count one poll of ``track`` that ended with ``outcome``."""
    RECORDER.add(POLLS, outcome=outcome)
    if track.phase in CORRECTING:
        RECORDER.add(CORRECTION_POLLS)


def published(feed_ts: str | None) -> None:
    """A snapshot of feed time ``feed_ts`` was acknowledged by the broker."""
    record_age("published", feed_ts)


def start_ingest_telemetry(settings: Settings, snapshots_topic: str) -> Telemetry:
    """Telemetry of the poller process (module docstring); readiness asks the brokers for
    ``snapshots_topic``, where it publishes."""
    telemetry = setup_telemetry(settings, "ingest")
    # at 0 from the start: exported before the first correction poll, and an alert or
    # panel sees the first one as an increase
    RECORDER.add(CORRECTION_POLLS, 0)
    # its health on mlb.system.health, from the probes given to serve below
    start_ops_topics(settings, "ingest", telemetry.verdicts, version=VERSION)
    if settings.ingest_telemetry_port == 0:
        return telemetry
    checks = {
        "kafka": kafka_check(admin_config(settings), snapshots_topic),
        "redis": redis_check(settings.redis_url),
    }
    ready = Readiness(checks, {"kafka"}, redact=telemetry.redact)

    def live() -> Verdict:
        return poller_liveness(time.time(), POLLER.last, POLLER.started, settings.health_stall_s)

    telemetry.serve(
        settings.telemetry_host, settings.ingest_telemetry_port, liveness=live, readiness=ready
    )
    return telemetry
