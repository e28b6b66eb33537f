// The game page's tables: line score, box scores (batting and pitching of each team) and
// play-by-play, from the boxscore route (the `mlbsts boxscore` JSON), the players route
// and the stream's play rows.

import { el, halfName } from "./dom.js";

const SIDES = ["away", "home"];

function abbr(teams, side) {
  const team = teams && teams[side];
  return (team && (team.abbreviation || team.name)) || side;
}

/** Runs, hits and errors by inning and the totals; at least nine innings. */
export function lineScore(box, teams) {
  const innings = (box && box.box.linescore.innings) || [];
  const count = Math.max(9, innings.length);
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  const head = el("tr", {}, el("th", {}, ""), ...numbers.map((n) => el("th", {}, n)),
    el("th", { class: "total" }, "R"), el("th", { class: "total" }, "H"),
    el("th", { class: "total" }, "E"));
  const rows = SIDES.map((side) => {
    const cells = numbers.map((n) => {
      const inning = innings.find((i) => i.num === n);
      const runs = inning && inning[side] ? inning[side].runs : undefined;
      return el("td", {}, runs ?? "");
    });
    const totals = (box && box.totals[side]) || {};
    return el("tr", { "data-side": side }, el("th", {}, abbr(teams, side)), ...cells,
      el("td", { class: "total", "data-total": "runs" }, totals.runs ?? 0),
      el("td", { class: "total", "data-total": "hits" }, totals.hits ?? 0),
      el("td", { class: "total", "data-total": "errors" }, totals.errors ?? 0));
  });
  return el("table", { class: "linescore" }, el("thead", {}, head), el("tbody", {}, ...rows));
}

function order(player) {
  const n = Number(player && player.batting_order);
  return Number.isFinite(n) && n > 0 ? n : 10_000;
}

function table(caption, columns, rows) {
  return el("table", { class: "box" }, el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...columns.map((c, i) => el("th", { class: i ? "num" : "" }, c)))),
    el("tbody", {}, ...rows));
}

function nameCell(players, id, extra = "") {
  const p = players.get(Number(id));
  const name = p ? p.boxscore_name || p.full_name : `#${id}`;
  return el("td", { class: "who" }, name, extra ? el("span", { class: "pos" }, ` ${extra}`) : null);
}

const BATTING = [["AB", "atBats"], ["R", "runs"], ["H", "hits"], ["RBI", "rbi"],
  ["BB", "baseOnBalls"], ["SO", "strikeOuts"], ["HR", "homeRuns"]];

function batting(lines, players, caption) {
  const ids = Object.keys(lines).sort((a, b) =>
    order(players.get(Number(a))) - order(players.get(Number(b))) || a - b);
  const rows = ids.map((id) => {
    const p = players.get(Number(id));
    const sub = order(p) % 100 !== 0 && order(p) < 10_000;
    return el("tr", { class: sub ? "sub" : "" }, nameCell(players, id, p ? p.position : ""),
      ...BATTING.map(([, f]) => el("td", { class: "num" }, lines[id][f] ?? 0)));
  });
  const sums = BATTING.map(([, f]) => ids.reduce((s, id) => s + (lines[id][f] || 0), 0));
  rows.push(el("tr", { class: "sum" }, el("td", {}, "Totals"),
    ...sums.map((s) => el("td", { class: "num" }, s))));
  return table(caption, ["Batting", ...BATTING.map(([c]) => c)], rows);
}

const PITCHING = [["H", "hits"], ["R", "runs"], ["ER", "earnedRuns"], ["BB", "baseOnBalls"],
  ["SO", "strikeOuts"], ["HR", "homeRuns"]];

function pitching(lines, players, caption, firstPitch) {
  const ids = Object.keys(lines).sort((a, b) =>
    (firstPitch.get(Number(a)) ?? 1e9) - (firstPitch.get(Number(b)) ?? 1e9) || a - b);
  const rows = ids.map((id) => {
    const s = lines[id];
    const ip = `${Math.floor((s.outs || 0) / 3)}.${(s.outs || 0) % 3}`;
    return el("tr", {}, nameCell(players, id), el("td", { class: "num" }, ip),
      ...PITCHING.map(([, f]) => el("td", { class: "num" }, s[f] ?? 0)),
      el("td", { class: "num" }, `${s.numberOfPitches ?? 0}-${s.strikes ?? 0}`));
  });
  return table(caption, ["Pitching", "IP", ...PITCHING.map(([c]) => c), "P-S"], rows);
}

/** Both teams' batting and pitching tables. */
export function boxScores(box, teams, players, firstPitch) {
  if (!box) return [el("p", { class: "note" }, "No box score yet.")];
  return SIDES.map((side) => {
    const lines = box.box.teams[side];
    const name = (teams && teams[side] && teams[side].name) || side;
    return el("div", { class: "box-side", "data-side": side },
      batting(lines.batting, players, name), pitching(lines.pitching, players, name, firstPitch));
  });
}

/** Completed plays, newest first, under a heading per half inning. */
export function playByPlay(plays, teams) {
  const items = [];
  let half = null;
  for (const play of plays) {
    const here = halfName(play.inning, play.half_inning);
    if (here !== half) {
      items.push(el("li", { class: "half" }, here));
      half = here;
    }
    const score = play.is_scoring_play
      ? el("span", { class: "score" },
        ` ${abbr(teams, "away")} ${play.away_score}, ${abbr(teams, "home")} ${play.home_score}`)
      : null;
    items.push(el("li", { class: play.is_scoring_play ? "play scoring" : "play",
      "data-event-id": play.event_id }, el("b", {}, play.event || ""), " ",
    play.description || "", score));
  }
  return items;
}
