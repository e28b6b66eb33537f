"""The soak's checks on the log and its report (``bench/soak-report.md``).

Checks, each from the private stack's log after the run (:mod:`bench.soak`):

- **coverage**: ``mlbsts coverage DATE`` (the command, as an operator runs it) for each
  date, with the window of the run (``--since`` / ``--until``: a replay is logged at the
  time it ran, see ``docs/ingestion.md``): every scheduled game covered;
- **no duplicate**: no two records of the raw snapshot topic with the same gamePk,
  ``metaData.timeStamp`` and content (keys sorted);
- **corrections**: each synthetic scoring change served is on the topic, with its content;
- **poller**: it ended by itself (exit 0) with every followed game done or called off;
- **memory**: the poller's RSS at the end of each day stays flat (:data:`FLAT_KB`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson

from connectors.envelope_serde import decode_envelope
from connectors.kafka_read import read_topic
from ingest.diff_patch import canonical_body, content_digest
from mlbsts import topics
from mlbsts.settings import Settings
from sim.season import SyntheticSeason

log = logging.getLogger("bench.soak")
MLBSTS = str(Path(sys.executable).parent / "mlbsts")
FLAT_KB = 32 * 1024  # the largest spread of the end-of-day RSS still called flat
ENDED = frozenset({"done", "postponed", "cancelled"})


@dataclass
class SoakRun:
    """What one soak run produced, for the checks."""

    season: SyntheticSeason
    settings: Settings
    env: dict[str, str]
    speed: float
    log_since: datetime
    log_until: datetime
    wall_s: float
    poller_rc: int | None
    poller_summary: dict[str, object]
    faults: dict[str, int]
    statuses: dict[int, int]
    requests: int
    rss_kb: dict[str, int]
    peak_rss_kb: int
    broker_kill: dict[str, object]


@dataclass
class LogFacts:
    """What the raw snapshot topic holds."""

    records: int = 0
    per_game: Counter[int] = field(default_factory=Counter)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    digests: dict[int, set[str]] = field(default_factory=dict)


def read_log(settings: Settings) -> LogFacts:
    facts = LogFacts()
    seen: set[tuple[int, str, str]] = set()
    for msg in read_topic(settings, topics.RAW_GAME_SNAPSHOTS, timeout_s=600):
        envelope = decode_envelope(msg.value() or b"")
        digest = content_digest(canonical_body(orjson.loads(envelope.payload_json())))
        key = (envelope.gamePk, envelope.feed_timestamp or "", digest)
        if key in seen:
            facts.duplicates.append((key[0], key[1]))
        seen.add(key)
        facts.records += 1
        facts.per_game[envelope.gamePk] += 1
        facts.digests.setdefault(envelope.gamePk, set()).add(digest)
    return facts


def coverage_of(run: SoakRun) -> dict[str, dict[str, object]]:
    """``mlbsts coverage DATE --since .. --until ..`` of each date, as printed (JSON)."""
    out: dict[str, dict[str, object]] = {}
    for day in run.season.days:
        cmd = [MLBSTS, "coverage", day.isoformat()]
        cmd += ["--since", run.log_since.isoformat(), "--until", run.log_until.isoformat()]
        done = subprocess.run(
            cmd, env={**os.environ, **run.env}, capture_output=True, text=True, check=False
        )
        try:
            report: dict[str, object] = json.loads(done.stdout)
        except ValueError:
            report = {"complete": False, "error": done.stderr[-500:]}
        report["exit_code"] = done.returncode
        out[day.isoformat()] = report
    return out


def check_and_report(run: SoakRun, path: Path) -> bool:
    """Run every check, write the report to ``path``, log the summary; True if all pass."""
    log.info("reading the raw snapshot topic ...")
    facts = read_log(run.settings)
    cover = coverage_of(run)
    missed = [
        pk
        for pk, ch in run.season.changes.items()
        if _digest(ch) not in facts.digests.get(pk, set())
    ]
    games = run.poller_summary.get("games", {})
    phases = games if isinstance(games, dict) else {}
    unfinished = sorted(pk for pk, phase in phases.items() if phase not in ENDED)
    day_ends = [kb for label, kb in run.rss_kb.items() if label.startswith("end of")]
    spread = max(day_ends) - min(day_ends) if day_ends else -1
    checks = {
        "every game covered (mlbsts coverage, each date)": all(
            c.get("complete") is True and c.get("exit_code") == 0 for c in cover.values()
        ),
        "zero duplicate snapshots on the raw topic": not facts.duplicates,
        f"every correction ingested ({len(run.season.changes)})": bool(run.season.changes)
        and not missed,
        "poller exited 0, every game done or called off": run.poller_rc == 0
        and bool(phases)
        and not unfinished,
        f"poller RSS flat at the end of each day (spread <= {FLAT_KB // 1024} MB)": len(day_ends)
        == len(run.season.days)
        and 0 <= spread <= FLAT_KB,
        "broker killed and restarted mid-run": bool(run.broker_kill),
    }
    text = _markdown(run, facts, cover, checks, missed, unfinished)
    path.write_text(text)
    for name, ok in checks.items():
        log.info("%s %s", "PASS" if ok else "FAIL", name)
    log.info("wrote %s", path)
    return all(checks.values())


def _digest(feed: dict[str, object]) -> str:
    return content_digest(canonical_body(feed))


def _markdown(
    run: SoakRun,
    facts: LogFacts,
    cover: dict[str, dict[str, object]],
    checks: dict[str, bool],
    missed: list[int],
    unfinished: list[str],
) -> str:
    lines = [
        "# MLB-STS soak report: a season in miniature",
        "",
        f"Run {run.log_since:%Y-%m-%d %H:%M} UTC: {len(run.season.days)} simulated days at "
        f"{run.speed:.0f}x in {run.wall_s:.0f} s of wall time (`make soak`, `bench/soak.py`).",
        "",
        "## Checks",
        "",
        *[f"- {'PASS' if ok else '**FAIL**'}: {name}" for name, ok in checks.items()],
        "",
        *_synthetic_section(run),
        *_games_section(run, facts, cover),
        *_numbers_section(run, facts, missed, unfinished),
    ]
    return "\n".join(lines) + "\n"


def _synthetic_section(run: SoakRun) -> list[str]:
    return [
        "## What is synthetic",
        "",
        "SYNTHETIC schedule (`sim/season.py`, `sim/reshape.py`): the dates "
        f"({', '.join(d.isoformat() for d in run.season.days)}), start times and gamePks "
        "(9 0DD SS) are made up; each game replays one of the 7 REAL final feeds of the "
        "shared corpus, moved in time and re-keyed (plays, pitches, box scores unchanged). "
        "Made up too: the schedule responses (postponed entry shaped on the real "
        "746628 postponement, doubleheader on the real 2024-08-26 schedule), the "
        "`Delayed Start: Rain` and `Suspended: Rain` snapshots (status objects written "
        "from MLB's codes: no recording of either exists in the corpus), the suspended "
        "game's later plays moved to the next day, and one scoring change a day "
        "(`sim.scoring_change`: a single re-scored as an error) served at 08:00 New York "
        "the next morning. Live snapshots are `sim.simulate` cuts of the final feeds.",
        "",
    ]


def _games_section(run: SoakRun, facts: LogFacts, cover: dict[str, dict[str, object]]) -> list[str]:
    rows = ["## Games per day (`mlbsts coverage`)", ""]
    for day, report in cover.items():
        covered = report.get("covered", {})
        scheduled = report.get("scheduled", {})
        n = len(scheduled) if isinstance(scheduled, dict) else 0
        rows += [f"### {day}: {n} scheduled, missing {report.get('missing')}", ""]
        rows += [
            "| gamePk | real feed | story | covered by | snapshots on log |",
            "|---|---|---|---|---|",
        ]
        for pk in sorted(scheduled) if isinstance(scheduled, dict) else []:
            game = run.season.games.get(int(pk))
            how = covered.get(pk, "MISSING") if isinstance(covered, dict) else "?"
            story = game.story if game else "?"
            source = game.source_pk if game else "?"
            rows.append(f"| {pk} | {source} | {story} | {how} | {facts.per_game.get(int(pk), 0)} |")
        rows.append("")
    return rows


def _numbers_section(
    run: SoakRun, facts: LogFacts, missed: list[int], unfinished: list[str]
) -> list[str]:
    summary = {k: v for k, v in run.poller_summary.items() if k != "games"}
    rss = [f"| {label} | {kb / 1024:.1f} |" for label, kb in run.rss_kb.items()]
    return [
        "## Log, corrections, memory, faults",
        "",
        f"- raw snapshot records: {facts.records}, duplicates: {len(facts.duplicates)} "
        f"{facts.duplicates[:5] if facts.duplicates else ''}",
        f"- scoring changes served: {sorted(run.season.changes)}; missing from the log: {missed}",
        f"- games not finished by the poller: {unfinished}",
        "",
        "| poller RSS at | MB |",
        "|---|---|",
        *rss,
        f"| peak sampled | {run.peak_rss_kb / 1024:.1f} |",
        "",
        f"- faults injected by the replay server: {dict(sorted(run.faults.items()))} over "
        f"{run.requests} API requests; answers by status: {dict(sorted(run.statuses.items()))} "
        "(0 = connection dropped)",
        f"- broker SIGKILL + restart: {run.broker_kill or 'not done'}",
        f"- poller summary (`mlbsts ingest`): `{json.dumps(summary)}`",
        "",
    ]
