"""Readable line score and box score tables (rich) from the derived box score JSON."""

from __future__ import annotations

from typing import Any

from rich.table import Table

BATTING_COLUMNS = (
    ("AB", "atBats"),
    ("R", "runs"),
    ("H", "hits"),
    ("2B", "doubles"),
    ("3B", "triples"),
    ("HR", "homeRuns"),
    ("RBI", "rbi"),
    ("BB", "baseOnBalls"),
    ("SO", "strikeOuts"),
    ("HBP", "hitByPitch"),
    ("SB", "stolenBases"),
)
PITCHING_COLUMNS = (
    ("IP", "outs"),
    ("H", "hits"),
    ("R", "runs"),
    ("ER", "earnedRuns"),
    ("BB", "baseOnBalls"),
    ("SO", "strikeOuts"),
    ("HR", "homeRuns"),
    ("P", "numberOfPitches"),
    ("S", "strikes"),
    ("BF", "battersFaced"),
)


def line_score_table(box: dict[str, Any], names: dict[str, str]) -> Table:
    """Innings across, R H E at the end; ``names`` maps home/away to team names."""
    innings = box["linescore"]["innings"]
    table = Table(title=f"Line score, game {box['gamePk']}")
    table.add_column("team")
    for inning in innings:
        table.add_column(str(inning["num"]), justify="right")
    for total in ("R", "H", "E"):
        table.add_column(total, justify="right", style="bold")
    for side in ("away", "home"):
        cells = [str(i[side]["runs"]) if side in i else "" for i in innings]
        totals = [
            str(sum(i.get(side, {}).get(k, 0) for i in innings)) for k in ("runs", "hits", "errors")
        ]
        table.add_row(names.get(side, side), *cells, *totals)
    return table


def _innings_pitched(outs: int) -> str:
    return f"{outs // 3}.{outs % 3}"


def box_score_tables(
    box: dict[str, Any], teams: dict[str, str], people: dict[str, str]
) -> list[Table]:
    """Batting and pitching tables per team; ``people`` maps personId to a name."""
    tables = []
    for side in ("away", "home"):
        team = box["teams"][side]
        batting = Table(title=f"{teams.get(side, side)} batting")
        batting.add_column("batter")
        for label, _ in BATTING_COLUMNS:
            batting.add_column(label, justify="right")
        for pid, line in team["batting"].items():
            batting.add_row(
                people.get(pid, pid), *(str(line.get(f, 0)) for _, f in BATTING_COLUMNS)
            )
        pitching = Table(title=f"{teams.get(side, side)} pitching")
        pitching.add_column("pitcher")
        for label, _ in PITCHING_COLUMNS:
            pitching.add_column(label, justify="right")
        for pid, line in team["pitching"].items():
            cells = [
                _innings_pitched(line.get(f, 0)) if f == "outs" else str(line.get(f, 0))
                for _, f in PITCHING_COLUMNS
            ]
            pitching.add_row(people.get(pid, pid), *cells)
        tables += [batting, pitching]
    return tables
