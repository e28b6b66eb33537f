"""``mlbsts api``: the public REST + streaming API (``api/``), served by uvicorn."""

from __future__ import annotations

import typer


def api(
    host: str | None = typer.Option(None, "--host", help="address (default MLBSTS_API_HOST)"),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="port (default MLBSTS_API_PORT)"
    ),
    access_log: bool = typer.Option(
        True, "--access-log/--no-access-log", help="log each request line (never headers)"
    ),
) -> None:
    """Serve the API (/v1, OpenAPI at /v1/openapi.json, /healthz, /readyz, /metrics)."""
    from api.server import serve
    from mlbsts.settings import get_settings

    settings = get_settings()
    serve(
        settings,
        host=host or settings.api_host,
        port=port or settings.api_port,
        access_log=access_log,
    )
