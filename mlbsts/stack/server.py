"""What every server of the local stack provides, and the checks on its settings.

A server module (``s3``, ``kafka``, ``postgres``, ``redis``) renders a :class:`Launch`
from the settings (pure: unit-tested), prepares its data directory, probes its health
with the real client library and provisions what the project needs on it. A
:class:`Helper` (the log trimmer) is a process of the stack that serves other servers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from mlbsts.settings import Settings
from mlbsts.stack.errors import SettingsError
from mlbsts.stack.layout import Layout
from mlbsts.stack.ports import LOOPBACK

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@dataclass(frozen=True)
class Launch:
    """How to start one server: command line, environment, ports it binds, stop signal."""

    argv: tuple[str, ...]
    ports: tuple[int, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 15.0


class Server(Protocol):
    """One server of the stack."""

    name: str  # short id: file names, `stack status`
    title: str  # what it is, for humans
    setting: str  # the environment variable that moves it

    def address(self, settings: Settings) -> str: ...

    def launch(self, settings: Settings, layout: Layout) -> Launch: ...

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        """Create the data directory (and initialise it) before the first start."""

    def probe(self, settings: Settings, layout: Layout) -> None:
        """Return when the server answers a real request; raise anything otherwise."""

    def check(self, settings: Settings, layout: Layout) -> None:
        """Like probe, as a client of the project would connect (``stack status``)."""

    def provision(self, settings: Settings, layout: Layout) -> None:
        """Create what the project needs on the healthy server (idempotent)."""


class Helper(Server, Protocol):
    """A process of the stack that is no server (binds no port) and serves the servers
    it ``needs``: started after them when ``enabled``, stopped before them."""

    needs: tuple[str, ...]  # names of the servers it works on

    def enabled(self, settings: Settings) -> bool: ...

    def describe(self, settings: Settings, layout: Layout) -> str:
        """The title ``stack status`` shows while it runs: what it did last."""


def base_env() -> dict[str, str]:
    """The environment servers start with: ours, minus credentials meant for other things."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "MLBSTS_", "PG", "REDISCLI_"))
    }


def loopback_port(address: str, *, setting: str, default: int) -> int:
    """The port of ``host:port`` (or a URL) whose host must be this machine's loopback."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    try:
        port = parts.port or default
    except ValueError as e:
        raise SettingsError(f"{setting}={address!r} has a bad port: {e}") from e
    if parts.hostname not in LOCAL_HOSTS:
        raise SettingsError(
            f"{setting}={address!r}: the local stack only runs servers on {LOOPBACK}; "
            f"use {LOOPBACK}:<port> (or unset it) for `mlbsts stack`"
        )
    if not 1024 <= port <= 65535:
        raise SettingsError(f"{setting}={address!r}: choose a port between 1024 and 65535")
    return port


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
