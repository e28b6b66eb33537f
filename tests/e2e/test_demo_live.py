"""``mlbsts demo --live`` as a person runs it, bounded: the real command as a process on
the local stack replays a real game (744914) fast, prints the page's URL, serves the page
and the API (a page session opened with the key from the URL, then the box score, which
reaches MLB's official line score), and stops cleanly on Ctrl-C (SIGINT): exit 0, its
private topic and schema removed, its port free again."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from bench.api_stage import free_port
from mlbsts.demo import FIXTURE_FEED
from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from mlbsts.stack.kafka import admin_client
from mlbsts.stack.ports import port_is_free
from tests.conftest import FIXTURE_GAME_PK

pytestmark = pytest.mark.e2e

START_S = 300  # stack up, migrations, worker and API start, on a slow machine
DATA_S = 240


class Output:
    """The command's output lines, read by a thread so that waits are bounded."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            with stream:  # closed at the end of the output (the process exited)
                for line in stream:
                    self._queue.put(line)

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def wait_for(self, prefix: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.5).rstrip("\n")
            except queue.Empty:
                continue
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        pytest.fail(f"no line starting {prefix!r} in {timeout_s:.0f} s:\n" + "\n".join(self.lines))

    def rest(self) -> str:
        """Everything printed, once the process has exited."""
        self._thread.join(30)
        while not self._queue.empty():
            self.lines.append(self._queue.get().rstrip("\n"))
        return "\n".join(self.lines)


@pytest.fixture
def live_demo(stack_settings: Settings) -> Iterator[tuple[subprocess.Popen[str], Output, int]]:
    port = free_port()
    argv = [sys.executable, "-m", "mlbsts.commands.cli", "demo", "--live"]
    argv += ["--speed", "2000", "--every", "10", "--port", str(port), "--feed", str(FIXTURE_FEED)]
    proc = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = Output(proc)
    try:
        yield proc, output, port
    finally:
        if proc.poll() is None:  # the test failed before its Ctrl-C
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        output.rest()


def _box_when_final(origin: str, cookies: httpx.Cookies) -> dict[str, Any]:
    """The box score once the worker has written the Final one."""
    deadline = time.monotonic() + DATA_S
    answer = None
    while time.monotonic() < deadline:
        answer = httpx.get(f"{origin}/v1/games/{FIXTURE_GAME_PK}/boxscore", cookies=cookies)
        if answer.status_code == 200 and answer.json()["status"]["abstract_game_state"] == "Final":
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(0.5)
    pytest.fail(f"no Final box score in {DATA_S} s: {answer.text if answer else None}")


def test_the_live_demo_serves_the_page_and_the_api_until_ctrl_c(
    live_demo: tuple[subprocess.Popen[str], Output, int],
    stack_settings: Settings,
    fixture_feed: dict[str, Any],
) -> None:
    proc, output, port = live_demo
    schema = output.wait_for("private topic ", START_S).rpartition("schema ")[2].split()[0]
    page_url = output.wait_for("page: ", START_S).removeprefix("page: ")
    page, _, key = page_url.partition("#key=")
    origin = f"http://127.0.0.1:{port}"
    assert page == f"{origin}/live/game/{FIXTURE_GAME_PK}" and key.startswith("mlbsts_")

    html = httpx.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "/live/static/game.js" in html.text
    assert "default-src 'self'" in html.headers["content-security-policy"]
    session = httpx.post(f"{origin}/v1/session", headers={"X-API-Key": key})
    assert session.status_code == 200, session.text
    box = _box_when_final(origin, session.cookies)
    official = fixture_feed["liveData"]["linescore"]["teams"]
    assert box["totals"] == {
        side: {k: official[side][k] for k in ("runs", "hits", "errors")} for side in official
    }
    output.wait_for("the game is Final", DATA_S)

    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(120) == 0, output.rest()
    assert "stopped:" in output.rest()
    assert port_is_free(port)
    with psycopg.connect(stack_settings.postgres_dsn.get_secret_value()) as conn:
        left = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        assert left.fetchone() is None
    topics = admin_client(stack_settings).list_topics(timeout=30).topics
    assert not [t for t in topics if t.endswith(schema.removeprefix("demo_live_"))]
    api_log = stack_settings.stack_dir / "logs" / "demo-live-api.log"
    assert key not in api_log.read_text()
