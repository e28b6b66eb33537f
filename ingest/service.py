"""The poller as a service: wires the MLB client, the schedule cache and the Kafka publisher
from the settings, learns what the log already holds (``ingest.log_state``), and runs the
:class:`~ingest.runner.Ingester` until it stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.log_state import read_log_state
from ingest.mlb_api import ClientConfig, MlbApiClient
from ingest.options import IngestOptions, IngestStats, ScaledClock
from ingest.policy import Cadence, parse_corrections
from ingest.publisher import KafkaPublisher
from ingest.runner import Ingester
from ingest.schedule_cache import RedisScheduleCache
from mlbsts.settings import Settings


def cadence_from_settings(settings: Settings) -> Cadence:
    """The polling cadences and the correction schedule (``ingest_*`` settings)."""
    return Cadence(
        far_s=settings.ingest_far_s,
        near_s=settings.ingest_near_s,
        near_window_s=settings.ingest_near_window_s,
        live_min_s=settings.ingest_live_min_s,
        delayed_s=settings.ingest_delayed_s,
        suspended_s=settings.ingest_suspended_s,
        final_grace_s=settings.ingest_final_grace_s,
        schedule_refresh_s=settings.ingest_schedule_refresh_s,
        corrections=parse_corrections(settings.ingest_corrections),
    )


async def run(
    settings: Settings,
    config: ClientConfig,
    options: IngestOptions,
    speed: float = 1.0,
    clock_start: datetime | None = None,
) -> IngestStats:
    """Poll until the runner stops (``until_final``, ``max_runtime_s`` or cancellation);
    ``clock_start`` (replay only): the simulated instant the runner's clock starts at."""
    since = datetime.now(UTC) - timedelta(hours=settings.ingest_log_window_h)
    log_state = read_log_state(
        settings,
        snapshots_topic=options.snapshots_topic,
        schedules_topic=options.schedules_topic,
        since=since,
    )
    cache = RedisScheduleCache(settings.redis_url, settings.schedule_cache_ttl_s)
    publisher = KafkaPublisher(settings)
    try:
        async with MlbApiClient(config, cache=cache) as api:
            ingester = Ingester(
                api, publisher, options, ScaledClock(speed, clock_start), log_state=log_state
            )
            return await ingester.run()
    finally:
        publisher.close()
        await cache.aclose()


def summary(stats: IngestStats) -> dict[str, object]:
    """What ``mlbsts ingest`` prints when it stops (one JSON object)."""
    return {
        "polls": stats.polls,
        "published": stats.published,
        "unchanged": stats.unchanged,
        "patches_applied": stats.patches_applied,
        "patch_fallbacks": stats.patch_fallbacks,
        "api_failures": stats.api_failures,
        "schedule_failures": stats.schedule_failures,
        "poll_errors": stats.poll_errors,
        "publish_retries": stats.publish_retries,
        "schedules_published": stats.schedules_published,
        "games": {str(k[0]): t.phase.value for k, t in sorted(stats.tracks.items())},
    }
