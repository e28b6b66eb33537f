"""Running the live-stats flow in-process with testing sinks (1 worker or several)."""

from __future__ import annotations

from typing import Any

from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from connectors.kafka_io import OutRecord
from flows.game.accepted import AcceptedSnapshot
from flows.live_stats import FlowSinks, build_flow
from flows.stats_flow import StatsConfig


def run_flow(
    msgs: list[Any], workers: int, stats: StatsConfig | None = None
) -> tuple[list[AcceptedSnapshot], list[AcceptedSnapshot], list[OutRecord]]:
    """What the raw Postgres sink, the raw S3 sink and the log sink received."""
    pg: list[AcceptedSnapshot] = []
    s3: list[AcceptedSnapshot] = []
    log: list[OutRecord] = []
    flow = build_flow(
        TestingSource(msgs), FlowSinks(TestingSink(pg), TestingSink(s3), TestingSink(log)), stats
    )
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return pg, s3, log
