"""``mlbsts ingest`` (the poller) and ``mlbsts coverage DATE`` (games missed)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import typer

from mlbsts import topics


def ingest(
    day: list[str] = typer.Option([], "--date", help="YYYY-MM-DD (repeatable); default today"),
    base_url: str | None = typer.Option(None, "--base-url", help="API root (replay server)"),
    until_final: bool = typer.Option(False, "--until-final", help="stop when all games end"),
    speed: float = typer.Option(1.0, "--speed", min=0.001, help="replay: time runs X times faster"),
    snapshots_topic: str = typer.Option(topics.RAW_GAME_SNAPSHOTS, "--snapshots-topic"),
    schedules_topic: str = typer.Option(topics.RAW_SCHEDULES, "--schedules-topic"),
    every_timecode: bool = typer.Option(
        False, "--every-timecode", help="fetch every new timecode, not only the newest"
    ),
    no_diff_patch: bool = typer.Option(False, "--no-diff-patch", help="always full feeds"),
    max_runtime: float | None = typer.Option(None, "--max-runtime", help="stop after N s"),
    rate: float | None = typer.Option(None, "--rate", help="requests/s per host"),
    clock_start: str | None = typer.Option(
        None, "--clock-start", help="replay: the clock starts at this ISO instant (no zone: UTC)"
    ),
) -> None:
    """Poll the MLB Stats API and publish snapshots and schedules to Kafka."""
    import asyncio

    from ingest import service
    from ingest.mlb_api import ClientConfig
    from ingest.observe import start_ingest_telemetry
    from ingest.options import IngestOptions
    from mlbsts.settings import get_settings

    settings = get_settings()
    start_ingest_telemetry(settings, snapshots_topic)  # metrics, traces, /livez, /readyz
    config = ClientConfig.from_settings(
        settings, base_url=base_url, rate_per_s=rate, time_scale=speed
    )
    options = IngestOptions(
        snapshots_topic=snapshots_topic,
        schedules_topic=schedules_topic,
        days=tuple(date.fromisoformat(d) for d in day),
        until_final=until_final,
        cadence=service.cadence_from_settings(settings),
        max_parallel=settings.ingest_max_parallel,
        use_diff_patch=not no_diff_patch,
        every_timecode=every_timecode,
        max_runtime_s=max_runtime,
        publish_backoff_cap_s=settings.ingest_publish_backoff_cap_s,
    )
    stats = asyncio.run(service.run(settings, config, options, speed, _instant(clock_start)))
    print(json.dumps(service.summary(stats)))


def coverage(
    day: str = typer.Argument(..., help="YYYY-MM-DD"),
    snapshots_topic: str = typer.Option(topics.RAW_GAME_SNAPSHOTS, "--snapshots-topic"),
    schedules_topic: str = typer.Option(topics.RAW_SCHEDULES, "--schedules-topic"),
    since: str | None = typer.Option(
        None, "--since", help="log window start, ISO (no zone: UTC); default: from DATE"
    ),
    until: str | None = typer.Option(
        None, "--until", help="log window end, ISO; with --since alone: the topics' end"
    ),
) -> None:
    """Which scheduled games of DATE lack a Final (or Postponed) snapshot; exit 1 if any.

    Reads only DATE's window of the log (by record time); a replay of an old date is
    stamped with the time it ran: give its window with --since/--until."""
    from ingest.coverage import coverage as compute
    from mlbsts.settings import get_settings

    report = compute(
        get_settings(),
        date.fromisoformat(day),
        snapshots_topic=snapshots_topic,
        schedules_topic=schedules_topic,
        since=_instant(since),
        until=_instant(until),
    )
    print(json.dumps(report.as_json(), indent=2))
    if not report.complete:
        raise typer.Exit(1)


def _instant(text: str | None) -> datetime | None:
    """An ISO date-time option; one without a zone is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise typer.BadParameter(f"not an ISO date-time: {text!r}") from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
