"""Readable line score and box score tables (rich) from the derived box score JSON."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from flows.game.stat_fields import BATTING_FIELDS, PITCHING_FIELDS

# Column headings by stat field name; columns follow the fields' order (flows.game.stat_fields).
BATTING_LABELS = {
    "atBats": "AB",
    "runs": "R",
    "hits": "H",
    "doubles": "2B",
    "triples": "3B",
    "homeRuns": "HR",
    "rbi": "RBI",
    "baseOnBalls": "BB",
    "strikeOuts": "SO",
    "hitByPitch": "HBP",
    "stolenBases": "SB",
}
PITCHING_LABELS = {
    "outs": "IP",
    "hits": "H",
    "runs": "R",
    "earnedRuns": "ER",
    "baseOnBalls": "BB",
    "strikeOuts": "SO",
    "homeRuns": "HR",
    "numberOfPitches": "P",
    "strikes": "S",
    "battersFaced": "BF",
}


def _runs_cell(innings: list[dict[str, Any]], index: int, side: str, final: bool) -> str:
    """The runs of one half inning; blank while it has neither scored nor ended, and ``x``
    for the home half of the last inning of a final game, not played (home was ahead)."""
    line = innings[index].get(side, {})
    if "runs" in line:
        return str(line["runs"])
    if final and side == "home" and index == len(innings) - 1:
        return "x"
    return ""


def line_score_table(box: dict[str, Any], names: dict[str, str], *, final: bool = True) -> Table:
    """Innings across, R H E at the end; ``names`` maps home/away to team names; ``final``:
    the game is over (see :func:`_runs_cell`)."""
    innings = box["linescore"]["innings"]
    table = Table(title=f"Line score, game {box['gamePk']}")
    table.add_column("team")
    for inning in innings:
        table.add_column(str(inning["num"]), justify="right")
    for total in ("R", "H", "E"):
        table.add_column(total, justify="right", style="bold")
    for side in ("away", "home"):
        cells = [_runs_cell(innings, n, side, final) for n in range(len(innings))]
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
        for f in BATTING_FIELDS:
            batting.add_column(BATTING_LABELS[f], justify="right")
        for pid, line in team["batting"].items():
            batting.add_row(people.get(pid, pid), *(str(line.get(f, 0)) for f in BATTING_FIELDS))
        pitching = Table(title=f"{teams.get(side, side)} pitching")
        pitching.add_column("pitcher")
        for f in PITCHING_FIELDS:
            pitching.add_column(PITCHING_LABELS[f], justify="right")
        for pid, line in team["pitching"].items():
            cells = [
                _innings_pitched(line.get(f, 0)) if f == "outs" else str(line.get(f, 0))
                for f in PITCHING_FIELDS
            ]
            pitching.add_row(people.get(pid, pid), *cells)
        tables += [batting, pitching]
    return tables
