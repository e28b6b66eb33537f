"""Figures for ``mlbsts top`` from Prometheus text expositions; pure, no I/O.

A :class:`Scrape` is one ``/metrics`` answer of one process, or the reason there was none
(a process that is down is a value, not an error). Rates and latency quantiles come from two
scrapes of the same endpoint, as PromQL's ``rate`` and ``histogram_quantile`` do over the
time between them. With one scrape only (the first refresh, ``--once``), a rate is unknown
(``None``) and a quantile covers everything since the process started. Several processes of
one kind (two workers) add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "Pair",
    "Samples",
    "Scrape",
    "down",
    "gauges_by",
    "label_values",
    "pairs_of",
    "quantile",
    "quantiles_by",
    "rates_by",
    "scrape_of",
    "sums_by",
]

Labels = Mapping[str, str]
Samples = Mapping[str, tuple[tuple[Labels, float], ...]]
"""Sample name (``mlbsts_events_total``, ``…_bucket``) → its (labels, value) pairs."""


@dataclass(frozen=True)
class Scrape:
    """One process's metrics at time ``at`` (seconds, monotonic); ``samples`` is ``None``
    when the endpoint did not answer, and ``error`` says why."""

    process: str  # worker | poller | api
    url: str
    at: float
    samples: Samples | None = field(default=None, repr=False)
    error: str = ""

    @property
    def up(self) -> bool:
        return self.samples is not None


def scrape_of(process: str, url: str, at: float, text: str) -> Scrape:
    """The :class:`Scrape` of an exposition text; an unparsable one counts as down."""
    grouped: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                grouped[sample.name].append((dict(sample.labels), float(sample.value)))
    except ValueError as e:
        return down(process, url, at, f"unparsable metrics: {e}")
    return Scrape(process, url, at, {k: tuple(v) for k, v in grouped.items()})


def down(process: str, url: str, at: float, error: str) -> Scrape:
    return Scrape(process, url, at, None, error)


def _matches(labels: Labels, where: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in where.items())


def _series(scrape: Scrape | None, name: str, where: Mapping[str, str]) -> Iterable[Labels]:
    if scrape is None or scrape.samples is None:
        return ()
    return (labels for labels, _ in scrape.samples.get(name, ()) if _matches(labels, where))


def _grouped(
    scrape: Scrape | None, name: str, label: str | None, where: Mapping[str, str]
) -> dict[str, float]:
    """Sum of the matching series of ``name`` per value of ``label`` (``""`` without)."""
    out: dict[str, float] = defaultdict(float)
    if scrape is None or scrape.samples is None:
        return out
    for labels, value in scrape.samples.get(name, ()):
        if _matches(labels, where) and not math.isnan(value):
            out[labels.get(label, "") if label else ""] += value
    return out


def sums_by(
    scrapes: Iterable[Scrape], name: str, label: str | None = None, **where: str
) -> dict[str, float]:
    """Counter totals or gauge sums of every process that answered, per ``label`` value."""
    out: dict[str, float] = defaultdict(float)
    for scrape in scrapes:
        for key, value in _grouped(scrape, name, label, where).items():
            out[key] += value
    return dict(out)


def gauges_by(
    scrapes: Iterable[Scrape], name: str, label: str | None = None, **where: str
) -> dict[str, float]:
    """The largest value of a gauge across processes, per ``label`` value (timestamps,
    0/1 flags: the largest is the one that matters)."""
    out: dict[str, float] = {}
    for scrape in scrapes:
        for key, value in _grouped(scrape, name, label, where).items():
            out[key] = max(value, out.get(key, value))
    return out


Pair = tuple[Scrape | None, Scrape]


def pairs_of(previous: Mapping[str, Scrape], current: Sequence[Scrape]) -> list[Pair]:
    """Each answering endpoint's scrape with its previous one (by URL, if it answered)."""
    out: list[Pair] = []
    for scrape in current:
        if scrape.up:
            before = previous.get(scrape.url)
            out.append((before if before is not None and before.up else None, scrape))
    return out


def rates_by(
    pairs: Sequence[Pair], name: str, label: str | None = None, **where: str
) -> dict[str, float] | None:
    """Per-second increase of a counter between scrapes, per ``label`` value; ``None`` until
    some endpoint has been scraped twice. A counter that went down restarted from 0."""
    timed = [(before, after) for before, after in pairs if before is not None]
    if not timed:
        return None
    out: dict[str, float] = defaultdict(float)
    for before, after in timed:
        elapsed = after.at - before.at
        if elapsed <= 0:
            continue
        old = _grouped(before, name, label, where)
        for key, value in _grouped(after, name, label, where).items():
            increase = value - old.get(key, 0.0)
            out[key] += (value if increase < 0 else increase) / elapsed
    for key in {k for _, after in timed for k in _grouped(after, name, label, where)}:
        out.setdefault(key, 0.0)
    return dict(out)


def _bucket_counts(
    pairs: Sequence[Pair], name: str, label: str | None, where: Mapping[str, str]
) -> dict[str, dict[float, float]]:
    """Per ``label`` value, cumulative count per bucket bound (``le``) over the window."""
    counts: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    bucket = f"{name}_bucket"
    for before, after in pairs:
        old: dict[tuple[str, float], float] = defaultdict(float)
        if before is not None and before.samples is not None:
            for labels, value in before.samples.get(bucket, ()):
                if _matches(labels, where):
                    old[(labels.get(label, "") if label else "", float(labels["le"]))] += value
        assert after.samples is not None
        for labels, value in after.samples.get(bucket, ()):
            if _matches(labels, where):
                key = (labels.get(label, "") if label else "", float(labels["le"]))
                increase = value - old[key]
                counts[key[0]][key[1]] += value if increase < 0 else increase
    return counts


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """``histogram_quantile`` of cumulative ``buckets`` (bound → count), linear within a
    bucket; ``None`` when nothing was observed."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def quantiles_by(
    pairs: Sequence[Pair], name: str, q: float, label: str | None = None, **where: str
) -> dict[str, float | None]:
    """The ``q`` quantile of histogram ``name`` per ``label`` value: over the time since the
    previous scrape of each endpoint, or since its start when there is none."""
    return {
        key: quantile(q, buckets)
        for key, buckets in _bucket_counts(pairs, name, label, where).items()
    }


def label_values(scrapes: Iterable[Scrape], name: str, label: str) -> list[str]:
    """The values ``label`` takes in the series of ``name``, sorted."""
    return sorted({labels.get(label, "") for s in scrapes for labels in _series(s, name, {})})
