"""The poller as a service: wires the MLB client, the schedule cache and the Kafka publisher
from the settings and runs the :class:`~ingest.runner.Ingester` until it stops."""

from __future__ import annotations

from ingest.mlb_api import ClientConfig, MlbApiClient
from ingest.publisher import KafkaPublisher
from ingest.runner import Ingester, IngestOptions, IngestStats, ScaledClock
from ingest.schedule_cache import RedisScheduleCache
from mlbsts.settings import Settings


async def run(
    settings: Settings, config: ClientConfig, options: IngestOptions, speed: float = 1.0
) -> IngestStats:
    """Poll until the runner stops (``until_final``, ``max_runtime_s`` or cancellation)."""
    cache = RedisScheduleCache(settings.redis_url, settings.schedule_cache_ttl_s)
    publisher = KafkaPublisher(settings)
    try:
        async with MlbApiClient(config, cache=cache) as api:
            return await Ingester(api, publisher, options, ScaledClock(speed)).run()
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
        "schedules_published": stats.schedules_published,
        "games": {str(k[0]): t.phase.value for k, t in sorted(stats.tracks.items())},
    }
