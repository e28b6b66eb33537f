"""Bounded waits: the first truthy answer, ``None`` when the time is up, an immediate stop
when the process waited for has died; a URL answers 200 or it does not."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mlbsts.waiting import first_answer, http_ok

pytestmark = pytest.mark.unit


def test_the_first_truthy_answer_is_returned() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert first_answer(lambda: next(answers), 30, every_s=0) == "ready"
    assert next(answers) == "later"  # asked no more after the answer


def test_no_answer_within_the_time_is_none() -> None:
    calls: list[int] = []
    assert first_answer(lambda: calls.append(1), 0.05, every_s=0.01) is None
    assert len(calls) >= 1  # asked at least once, even with no time


def test_a_dead_process_stops_the_wait_with_its_error() -> None:
    class ProcessDiedError(Exception):
        pass

    def alive() -> None:
        raise ProcessDiedError("exited 1")

    with pytest.raises(ProcessDiedError, match="exited 1"):
        first_answer(lambda: None, 30, alive=alive)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_url_is_ok_only_when_it_answers_200(server: str) -> None:
    assert http_ok(f"{server}/healthz")
    assert not http_ok(f"{server}/other")
    with socket.socket() as sock:  # bound, never listening: the connection is refused
        sock.bind(("127.0.0.1", 0))
        assert not http_ok(f"http://127.0.0.1:{sock.getsockname()[1]}/healthz")
