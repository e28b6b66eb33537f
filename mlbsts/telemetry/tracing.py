"""Traces that follow one snapshot from poll to publish to each sink.

The poller opens a span per poll and per publish and puts the W3C ``traceparent`` of the
publish span in the Kafka headers of the raw record (``kafka_headers``). The worker keeps
that header with the accepted snapshot and its event batch; a sink's write opens a span
that is a child of the first item's context, linked to the others of the same write
(``sink_span``). Without ``MLBSTS_OTLP_ENDPOINT`` spans are exported nowhere, but their
ids still travel and appear in the logs (``trace_id``), so one snapshot's lines can be
found in every process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACEPARENT",
    "context_of",
    "current_ids",
    "kafka_headers",
    "sink_span",
    "traceparent_of",
    "tracer",
]

TRACEPARENT = "traceparent"
_PROPAGATOR = TraceContextTextMapPropagator()


def tracer() -> trace.Tracer:
    """The project's tracer (the global provider: a no-op until set-up)."""
    return trace.get_tracer("mlbsts")


def kafka_headers() -> list[tuple[str, bytes]]:
    """The current span's context as Kafka record headers (empty without a valid span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(k, v.encode("ascii")) for k, v in carrier.items()]


def traceparent_of(headers: Iterable[tuple[str, bytes | str | None]] | None) -> str | None:
    """The ``traceparent`` among Kafka record headers, if any."""
    for key, value in headers or ():
        if key == TRACEPARENT and value:
            return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return None


def context_of(traceparent: str | None) -> Context | None:
    """The remote span context a ``traceparent`` names (``None``: none, or malformed)."""
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    span = trace.get_current_span(context)
    return context if span.get_span_context().is_valid else None


@contextmanager
def sink_span(sink: str, items: Sequence[object]) -> Iterator[None]:
    """A span around one write of ``sink``, child of the first item's ``traceparent`` and
    linked to the other items'; nothing when no item carries one."""
    contexts = [c for c in (context_of(getattr(i, "traceparent", None)) for i in items) if c]
    if not contexts:
        yield
        return
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
    with tracer().start_as_current_span(
        f"write {sink}",
        context=contexts[0],
        kind=SpanKind.CLIENT,
        links=links,
        attributes={"mlbsts.sink": sink, "mlbsts.items": len(items)},
    ):
        yield


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, in hex; ``None`` outside a valid span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
