"""Kafka topic names (contract: docs/architecture.md section 1).

One place, never spelled elsewhere."""

from __future__ import annotations

from typing import Final

RAW_GAME_SNAPSHOTS: Final = "mlb.raw.game-snapshots"
RAW_SCHEDULES: Final = "mlb.raw.schedules"
DLQ_GAME_SNAPSHOTS: Final = "mlb.dlq.game-snapshots"
EVENTS_PITCH: Final = "mlb.events.pitch"
EVENTS_PLAY: Final = "mlb.events.play"
EVENTS_RUNNER: Final = "mlb.events.runner"
EVENTS_GAME: Final = "mlb.events.game"
STATS_LIVE: Final = "mlb.stats.live"
STATS_WINDOWS: Final = "mlb.stats.windows"
SYSTEM_HEALTH: Final = "mlb.system.health"
STORAGE_OPS: Final = "mlb.storage.ops"

ALL_TOPICS: Final = (
    RAW_GAME_SNAPSHOTS,
    RAW_SCHEDULES,
    DLQ_GAME_SNAPSHOTS,
    EVENTS_PITCH,
    EVENTS_PLAY,
    EVENTS_RUNNER,
    EVENTS_GAME,
    STATS_LIVE,
    STATS_WINDOWS,
    SYSTEM_HEALTH,
    STORAGE_OPS,
)
