"""``mlbsts stack up|down|status``: the embedded local stack (owned by mlbsts.stack)."""

from __future__ import annotations

import typer

app = typer.Typer(help="The embedded local stack: Kafka-protocol broker, S3, PostgreSQL, Redis.")
