"""One log format for every process: JSON lines for aggregation, or readable text.

``setup_logging`` puts one handler on the root logger (stderr). A JSON line holds
``time`` (UTC, ISO 8601, milliseconds), ``level``, ``process`` (worker, ingest, api, the
command), ``logger``, ``message``, and where known ``game``, ``topic``, ``partition``,
``offset``, ``sink`` (from ``extra=`` or the ``log_fields`` context), ``trace_id`` and
``span_id`` (the current span), and ``exception``. ``text`` writes the same on one line for
a terminal. Uncaught exceptions (main thread and other threads) are logged the same way.

No secret is ever written: every line passes a ``Redactor`` that replaces the secret
values of the settings (``secrets_of``) and any password in a URL (``scheme://user:pw@``)
or a keyword DSN (``password=...``) with ``***``. Literal values shorter than
``MIN_SECRET`` characters are only caught in those two shapes: searching for them
everywhere would mangle ordinary words (the local stack's default password is ``mlbsts``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from mlbsts.settings import Settings
from mlbsts.telemetry.tracing import current_ids

__all__ = ["FIELDS", "Redactor", "installed_level", "log_fields", "secrets_of", "setup_logging"]

MIN_SECRET = 8
MASK = "***"
#: record attributes (``extra=``) and context fields copied into a line, in this order
FIELDS = ("game", "topic", "partition", "offset", "sink")
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@]*:)([^@\s/]+)@")
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_CONTEXT: ContextVar[dict[str, object]] = ContextVar("mlbsts_log_fields", default={})  # noqa: B039


class Redactor:
    """Replaces secrets in text (see the module docstring)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if len(s) >= MIN_SECRET}
        self._secrets = sorted(found, key=len, reverse=True)  # longest first

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        return _DSN_PASSWORD.sub(rf"\1{MASK}", text)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in ``settings``: keys, passwords, the passwords inside URLs."""
    values = [settings.s3_secret_key.get_secret_value()]
    dsn = settings.postgres_dsn.get_secret_value()
    values += [dsn, _url_password(dsn)]
    values += [m.group(2).strip("'") for m in _DSN_PASSWORD.finditer(dsn)]
    values.append(_url_password(settings.redis_url))
    if settings.kafka_sasl_password is not None:
        values.append(settings.kafka_sasl_password.get_secret_value())
    if settings.otlp_headers is not None:
        headers = settings.otlp_headers.get_secret_value()
        values += [headers, *(part.partition("=")[2].strip() for part in headers.split(","))]
    return [v for v in values if isinstance(v, str) and v]


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


@contextmanager
def log_fields(**fields: object) -> Iterator[None]:
    """Add ``fields`` (game, topic, partition, offset, sink) to every line logged inside."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, object]:
    context = _CONTEXT.get()
    out: dict[str, object] = {}
    for name in FIELDS:
        value = getattr(record, name, context.get(name))
        if value is not None:
            out[name] = value
    ids = current_ids()
    if ids is not None:
        out["trace_id"], out["span_id"] = ids
    return out


def _time(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line (module docstring), secrets redacted."""

    def __init__(self, process: str, redact: Redactor) -> None:
        super().__init__()
        self.process = process
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "process": self.process,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["exception"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL process logger: message [field=value ...]``, secrets redacted."""

    def __init__(self, process: str, redact: Redactor) -> None:
        super().__init__()
        self.process = process
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items() if k != "span_id")
        line = f"{_time(record)} {record.levelname} {self.process} {record.name}: "
        line += record.getMessage() + (f" [{extra}]" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``setup_logging`` installs (found again and replaced on a second call);
    it writes to whatever ``sys.stderr`` is when a line is written."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


def installed_level() -> int | None:
    """The root level, if ``setup_logging`` already ran in this process."""
    root = logging.getLogger()
    return root.level if any(isinstance(h, _Handler) for h in root.handlers) else None


def setup_logging(
    process: str, *, level: str | int = "WARNING", fmt: str = "auto", secrets: Iterable[str] = ()
) -> logging.Handler:
    """Root logging to stderr in ``fmt`` (json, text, auto: text on a terminal) at ``level``;
    replaces any handler set before. Uncaught exceptions are logged too."""
    redact = Redactor(secrets)
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = _Handler()
    formatter = JsonFormatter if json_lines else TextFormatter
    handler.setFormatter(formatter(process, redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
    return handler


def _log_uncaught(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, tb)
        return
    logging.getLogger("mlbsts").critical("uncaught exception", exc_info=(kind, error, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    logging.getLogger("mlbsts").critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
