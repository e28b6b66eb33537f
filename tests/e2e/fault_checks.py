"""What a run left behind, and how a fault run must compare with the run without a fault.

:func:`observe` reads a finished run: every table of its schema row for row (without
``stored_at``/``updated_at``), every object of its bucket (name and etag), the event
records its worker wrote (by ``(event_id, revision)``, the set of distinct values) and the
dead letters (by where they came from). :func:`differences` lists, in words, every way a
fault run differs from the baseline beyond what the fault may add: nothing, except the
dead letter of each bad record on the input and, for a dead letter whose original was too
large to travel, the S3 object its ``original_ref`` names.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connectors import s3
from connectors.event_serde import decode_event_value
from connectors.records import TOPIC_OF_KIND, decode_dead_letter
from flows.game.dead_letters import DeadLetter, ErrorClass
from mlbsts import topics
from mlbsts.settings import Settings
from tests.e2e.fault_harness import READ_BACK, InputTopic, Run, live_state
from tests.e2e.read_back import read_after

READ_S = 300.0  # a bound for a broken broker only: a read takes seconds

#: a dead letter by where it came from: class, game, source topic, partition, offset
LetterId = tuple[str, int | None, str | None, int | None, int | None]
#: not compared: a ``late`` letter is an event the league-wide event-time windows saw after
#: their watermark, and with games of several dates that depends on how the worker
#: interleaves the input's partitions, which differs from run to run (and around a resume)
UNCOMPARED = frozenset({ErrorClass.LATE})


def letter_id(letter: DeadLetter) -> LetterId:
    return (
        str(letter.error_class),
        letter.gamePk,
        letter.source_topic,
        letter.source_partition,
        letter.source_offset,
    )


@dataclass(frozen=True)
class Observed:
    tables: dict[str, list[tuple[Any, ...]]]
    objects: dict[str, str]
    events: dict[tuple[str, int], set[bytes]]
    letters: list[DeadLetter]
    live: dict[int, bytes | None]  # Redis live state by game (reported, not compared)

    def letter_ids(self) -> Counter[LetterId]:
        """The compared dead letters (all but ``UNCOMPARED`` classes), by origin."""
        return Counter(
            letter_id(letter) for letter in self.letters if letter.error_class not in UNCOMPARED
        )

    def uncompared(self) -> Counter[str]:
        return Counter(str(x.error_class) for x in self.letters if x.error_class in UNCOMPARED)


def observe(settings: Settings, run: Run) -> Observed:
    """Everything a finished run wrote (events and letters: since its marks)."""
    with ThreadPoolExecutor(len(READ_BACK)) as pool:
        read = {
            topic: pool.submit(
                lambda t: read_after(settings, t, run.marks[t], READ_S),
                topic,
            )
            for topic in READ_BACK
        }
        records = {topic: future.result() for topic, future in read.items()}
    games = {str(pk).encode() for pk in run.input_topic.games}
    events: dict[tuple[str, int], set[bytes]] = defaultdict(set)
    for topic in TOPIC_OF_KIND.values():
        for msg in records[topic]:
            if msg.key() in games:
                event = decode_event_value(topic, msg.value() or b"")
                events[(event.event_id, event.revision)].add(msg.value() or b"")
    dlq = records[topics.DLQ_GAME_SNAPSHOTS]
    letters = [decode_dead_letter(msg.value() or b"") for msg in dlq]
    live = live_state(settings, run.input_topic.games)
    return Observed(run.target.tables(), run.target.objects(), dict(events), letters, live)


def expected_letters(baseline: Observed, input_topic: InputTopic) -> Counter[LetterId]:
    """The baseline's dead letters plus one for each bad record appended to the input."""
    added = Counter(
        (a.error_class, a.game_pk, input_topic.name, a.partition, a.offset)
        for a in input_topic.appended
    )
    return baseline.letter_ids() + added


def differences(
    settings: Settings, run: Run, baseline: Observed, got: Observed, letters: Counter[LetterId]
) -> list[str]:
    """Every way ``got`` differs from ``baseline`` that no fault may cause."""
    problems = _table_differences(baseline.tables, got.tables)
    refs = {letter.original_ref for letter in got.letters if letter.original_ref}
    extra = set(got.objects) - set(baseline.objects)
    if extra - refs:
        problems.append(
            f"S3: {len(extra - refs)} objects the baseline has not, e.g. {sorted(extra - refs)[:2]}"
        )
    missing = set(baseline.objects) - set(got.objects)
    if missing:
        problems.append(f"S3: {len(missing)} objects missing, e.g. {sorted(missing)[:2]}")
    changed = [
        k for k in set(baseline.objects) & set(got.objects) if baseline.objects[k] != got.objects[k]
    ]
    if changed:
        problems.append(f"S3: {len(changed)} objects with other bytes, e.g. {sorted(changed)[:2]}")
    problems += _event_differences(baseline.events, got.events)
    if got.letter_ids() != letters:
        more, fewer = got.letter_ids() - letters, letters - got.letter_ids()
        problems.append(f"dead letters: unexpected {dict(more)}, missing {dict(fewer)}")
    problems += _original_problems(settings, run, got)
    return problems


def _table_differences(
    want: dict[str, list[tuple[Any, ...]]], got: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    problems = []
    for table in sorted(set(want) | set(got)):
        a, b = Counter(want.get(table, [])), Counter(got.get(table, []))
        if a != b:
            problems.append(
                f"table {table}: {sum((a - b).values())} baseline rows missing or changed, "
                f"{sum((b - a).values())} rows not in the baseline"
            )
    return problems


def _event_differences(
    want: dict[tuple[str, int], set[bytes]], got: dict[tuple[str, int], set[bytes]]
) -> list[str]:
    problems = []
    missing = set(want) - set(got)
    if missing:
        problems.append(
            f"events: {len(missing)} (event_id, revision) missing, e.g. {sorted(missing)[:2]}"
        )
    extra = set(got) - set(want)
    if extra:
        problems.append(
            f"events: {len(extra)} (event_id, revision) not in the baseline, "
            f"e.g. {sorted(extra)[:2]}"
        )
    # a repeat (at-least-once around a resume) must be an exact duplicate
    differing = [k for k in set(want) & set(got) if got[k] != want[k]]
    if differing:
        problems.append(
            f"events: {len(differing)} repeated with other content, e.g. {sorted(differing)[:2]}"
        )
    return problems


def _original_problems(settings: Settings, run: Run, got: Observed) -> list[str]:
    """The dead letter of each appended record carries its original: the bytes, or the
    S3 key of an object (in the run's bucket) holding them."""
    problems = []
    by_offset = {(a.partition, a.offset): a for a in run.input_topic.appended}
    client = s3.client(settings)
    for letter in got.letters:
        appended = by_offset.get((letter.source_partition or 0, letter.source_offset or -1))
        if appended is None or letter.source_topic != run.input_topic.name:
            continue
        if letter.original_value == appended.value:
            continue
        if letter.original_ref is None:
            problems.append(
                f"{letter.error_class} letter carries neither its original "
                f"bytes nor an original_ref"
            )
            continue
        response = client.get_object(run.target.bucket, letter.original_ref)
        try:
            if response.read() != appended.value:
                problems.append(
                    f"s3://{run.target.bucket}/{letter.original_ref} does not "
                    f"hold the original record"
                )
        finally:
            response.close()
            response.release_conn()
    return problems


def remarks(run: Run, baseline: Observed, got: Observed) -> list[str]:
    """What is worth reporting but not compared: the letters of ``UNCOMPARED`` classes,
    Redis's live state (an optional cache), and how each bad record's letter looks."""
    notes = []
    if got.uncompared() != baseline.uncompared():
        notes.append(
            f"not compared: {dict(got.uncompared())} letters (baseline "
            f"{dict(baseline.uncompared())})"
        )
    stale = {
        pk: "absent" if state is None else "other"
        for pk, state in got.live.items()
        if state != baseline.live.get(pk)
    }
    if stale:
        notes.append(f"Redis live state at the end not the baseline's: {stale}")
    by_offset = {(a.partition, a.offset): a for a in run.input_topic.appended}
    for letter in got.letters:
        if letter.source_topic != run.input_topic.name:
            continue
        appended = by_offset.get((letter.source_partition or 0, letter.source_offset or -1))
        if appended is None:
            continue
        carried = (
            f"original_ref {letter.original_ref}"
            if letter.original_ref
            else f"original_value {len(letter.original_value or b'')} bytes"
        )
        notes.append(
            f"{letter.error_class} letter for offset {appended.offset} "
            f"({len(appended.value)} bytes) carries {carried}: {letter.reason[:160]}"
        )
    return notes
