"""The log trimmer as a part of the local stack: how it starts, is checked and shown.

The process itself is :mod:`mlbsts.stack.log_trimmer`; what it deletes is
:mod:`mlbsts.stack.log_retention`. It binds no port; its address in ``stack status`` is
the S3 server it trims. It is healthy while it keeps passing (its status file is fresh)
and fewer than ``FAILED_PASSES`` passes in a row failed (a failed pass is retried after
``RETRY_AFTER_S``: an S3 blip does not make the stack unhealthy).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from mlbsts.settings import Settings
from mlbsts.stack.errors import TrimError
from mlbsts.stack.layout import Layout
from mlbsts.stack.log_retention import trim_every_s
from mlbsts.stack.log_trimmer import ENTRY, REQUEST_TIMEOUT_S, read_status, status_path
from mlbsts.stack.s3 import S3Server
from mlbsts.stack.server import Launch, base_env, ensure_dir

#: settings the trimmer process reads (the stack starts servers without MLBSTS_* variables)
PASSED_SETTINGS = (
    "stack_dir",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "s3_secure",
    "s3_region",
    "embedded_log_retention_s",
)
#: besides its pass interval, how long a pass may take before the trimmer counts as stuck
STALE_MARGIN_S = 60.0 + 30 * REQUEST_TIMEOUT_S
#: failed passes in a row (each retried after ``RETRY_AFTER_S``) that make it unhealthy
FAILED_PASSES = 3


def settings_env(settings: Settings, names: tuple[str, ...] = PASSED_SETTINGS) -> dict[str, str]:
    """``MLBSTS_<NAME>`` variables giving a child process these settings' values."""
    env = {}
    for name in names:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env[f"MLBSTS_{name.upper()}"] = text
    return env


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


class LogTrimmer:
    name = "trim"
    title = "log retention trimmer"
    setting = "MLBSTS_EMBEDDED_LOG_RETENTION_S"
    needs: tuple[str, ...] = ("s3", "kafka")

    def enabled(self, settings: Settings) -> bool:
        return settings.embedded_log_retention_s > 0

    def address(self, settings: Settings) -> str:
        return S3Server().address(settings)

    def launch(self, settings: Settings, layout: Layout) -> Launch:
        argv = (sys.executable, "-c", ENTRY)
        env = base_env() | settings_env(settings) | {"PYTHONUNBUFFERED": "1"}
        return Launch(argv=argv, ports=(), env=env, stop_timeout=5.0)

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        ensure_dir(layout.run)
        status_path(layout).unlink(missing_ok=True)  # an earlier process's

    def probe(self, settings: Settings, layout: Layout) -> None:
        if read_status(status_path(layout)) is None:
            raise TrimError(f"trim: no status in {status_path(layout)} yet")

    def check(self, settings: Settings, layout: Layout) -> None:
        status = read_status(status_path(layout))
        if status is None:
            raise TrimError(f"trim: no status in {status_path(layout)}")
        age = time.time() - float(status.get("heartbeat", 0))
        every = float(status.get("every_s", trim_every_s(settings.embedded_log_retention_s)))
        if age > every + STALE_MARGIN_S:
            raise TrimError(f"trim: no pass for {age:.0f} s; see its log")
        last = status.get("last") or {}
        failed = int(status.get("failed_in_a_row", 0))
        if last.get("error") and failed >= FAILED_PASSES:  # one failed pass is a blip
            raise TrimError(f"trim: {failed} passes failed in a row, last: {last['error']}")

    def provision(self, settings: Settings, layout: Layout) -> None:
        """Nothing to create."""

    def describe(self, settings: Settings, layout: Layout) -> str:
        status = read_status(status_path(layout)) or {}
        title = f"log trimmer: derived topics > {_hours(float(status.get('retention_s', 0)))}"
        last = status.get("last")
        if not last:
            return title
        at = datetime.fromtimestamp(float(last["at"]), UTC).strftime("%H:%M:%S")
        return (
            f"{title}; {at} UTC: {last['deleted']} deleted ({last['bytes'] / 2**20:.1f} MiB), "
            f"{last['kept']} kept; {status.get('deleted_total', 0)} deleted since start"
        )
