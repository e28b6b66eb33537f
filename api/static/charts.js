// The game page's two plots, plain SVG: the strike zone (each located pitch at its
// plate_x/plate_z, catcher's view, colour by pitch type, size by speed) and a pitcher's
// velocity trend (start_speed pitch after pitch). Fields: the pitch_events columns.

import { el, svg } from "./dom.js";

// MLB's pitch type codes (pitch_events.pitch_type) and their names.
export const PITCH_TYPES = {
  FF: ["Four-seam fastball", "#d7263d"], SI: ["Sinker", "#f46036"],
  FC: ["Cutter", "#8c564b"], FA: ["Fastball", "#b2182b"],
  SL: ["Slider", "#1b998b"], ST: ["Sweeper", "#2e86ab"], SV: ["Slurve", "#5fad56"],
  CU: ["Curveball", "#3d348b"], KC: ["Knuckle curve", "#7678ed"], CS: ["Slow curve", "#9b5de5"],
  CH: ["Changeup", "#e0a100"], FS: ["Splitter", "#c5a000"], FO: ["Forkball", "#a68a00"],
  SC: ["Screwball", "#6a994e"], KN: ["Knuckleball", "#555555"], EP: ["Eephus", "#888888"],
  PO: ["Pitchout", "#aaaaaa"], IN: ["Intentional ball", "#bbbbbb"],
};
const OTHER = ["Other", "#777777"];

export function typeOf(code) {
  return PITCH_TYPES[code] || [code ? `${code}` : OTHER[0], OTHER[1]];
}

export function located(pitch) {
  return pitch.is_pitch && Number.isFinite(pitch.plate_x) && Number.isFinite(pitch.plate_z);
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

function mean(values, fallback) {
  const good = values.filter(Number.isFinite);
  return good.length ? good.reduce((a, b) => a + b, 0) / good.length : fallback;
}

const ZONE = { width: 320, height: 360, foot: 64, ground: 340, halfPlate: 17 / 24 };

function zoneX(feet) {
  return ZONE.width / 2 + clamp(feet, -2.4, 2.4) * ZONE.foot;
}

function zoneY(feet) {
  return ZONE.ground - clamp(feet, -0.2, 5.2) * ZONE.foot;
}

/** Radius in px from the release speed: 70 mph and below 3 px, 100 mph 8 px. */
export function radius(speed) {
  return Number.isFinite(speed) ? 3 + clamp((speed - 70) / 30, 0, 1) * 5 : 3;
}

function zoneFrame(pitches) {
  const top = mean(pitches.map((p) => p.strike_zone_top), 3.4);
  const bottom = mean(pitches.map((p) => p.strike_zone_bottom), 1.6);
  const left = zoneX(-ZONE.halfPlate);
  const width = zoneX(ZONE.halfPlate) - left;
  const frame = [svg("rect", { class: "zone-box", x: left, y: zoneY(top), width,
    height: zoneY(bottom) - zoneY(top) })];
  for (const third of [1, 2]) {
    const z = bottom + ((top - bottom) * third) / 3;
    frame.push(svg("line", { class: "zone-grid", x1: left, x2: left + width, y1: zoneY(z), y2: zoneY(z) }));
    const x = left + (width * third) / 3;
    frame.push(svg("line", { class: "zone-grid", x1: x, x2: x, y1: zoneY(top), y2: zoneY(bottom) }));
  }
  const y = ZONE.ground + 4;
  const plate = [[left, y], [left + width, y], [left + width, y + 6], [ZONE.width / 2, y + 12],
    [left, y + 6]].map((p) => p.join(",")).join(" ");
  frame.push(svg("polygon", { class: "plate", points: plate }));
  return frame;
}

function describe(pitch, names) {
  const [type] = typeOf(pitch.pitch_type);
  const speed = Number.isFinite(pitch.start_speed) ? `${pitch.start_speed.toFixed(1)} mph` : "";
  const who = names(pitch.pitcher_id);
  return `${type} ${speed} · ${pitch.description || ""} · ${who}`;
}

/** Draw the strike zone into <svg id=...>; returns how many pitches it shows. */
export function drawZone(node, pitches, names) {
  const shown = pitches.filter(located);
  const marks = shown.map((p) =>
    svg("circle", {
      class: "pitch", cx: zoneX(p.plate_x).toFixed(1), cy: zoneY(p.plate_z).toFixed(1),
      r: radius(p.start_speed).toFixed(2), fill: typeOf(p.pitch_type)[1],
      "data-type": p.pitch_type || "", "data-event-id": p.event_id,
    }, svg("title", {}, describe(p, names))),
  );
  if (marks.length) marks[marks.length - 1].classList.add("latest");
  node.setAttribute("viewBox", `0 0 ${ZONE.width} ${ZONE.height}`);
  node.replaceChildren(...zoneFrame(shown), ...marks);
  node.dataset.count = String(marks.length);
  return marks.length;
}

/** The legend of the pitch types shown: swatch, name, count. */
export function legend(pitches) {
  const counts = new Map();
  for (const p of pitches.filter(located)) counts.set(p.pitch_type, (counts.get(p.pitch_type) || 0) + 1);
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  return sorted.map(([code, n]) => {
    const [name, colour] = typeOf(code);
    const swatch = svg("svg", { class: "swatch", viewBox: "0 0 10 10", width: 10, height: 10 },
      svg("circle", { cx: 5, cy: 5, r: 5, fill: colour }));
    return el("li", { "data-type": code || "" }, swatch, ` ${name} `, el("b", {}, n));
  });
}

const VELO = { width: 520, height: 240, left: 44, right: 12, top: 14, bottom: 30 };

function axes(low, high, count) {
  const parts = [];
  const plotH = VELO.height - VELO.top - VELO.bottom;
  const step = high - low > 12 ? 5 : high - low > 6 ? 2 : 1;
  for (let mph = Math.ceil(low); mph <= high; mph += 1) {
    if (mph % step) continue;
    const y = VELO.top + ((high - mph) / (high - low)) * plotH;
    parts.push(svg("line", { class: "grid", x1: VELO.left, x2: VELO.width - VELO.right, y1: y, y2: y }));
    parts.push(svg("text", { class: "tick", x: VELO.left - 6, y: y + 4, "text-anchor": "end" }, mph));
  }
  parts.push(svg("text", { class: "tick", x: VELO.width - VELO.right, y: VELO.height - 8,
    "text-anchor": "end" }, `pitch ${count}`));
  parts.push(svg("text", { class: "tick", x: VELO.left, y: VELO.height - 8 }, "pitch 1"));
  return parts;
}

/** Draw one pitcher's velocity trend; returns how many pitches it shows. */
export function drawVelocity(node, pitches, names) {
  const timed = pitches.filter((p) => p.is_pitch && Number.isFinite(p.start_speed));
  node.setAttribute("viewBox", `0 0 ${VELO.width} ${VELO.height}`);
  if (!timed.length) {
    node.replaceChildren(svg("text", { class: "tick", x: VELO.width / 2, y: VELO.height / 2,
      "text-anchor": "middle" }, "no pitch speeds yet"));
    node.dataset.count = "0";
    return 0;
  }
  const speeds = timed.map((p) => p.start_speed);
  const low = Math.floor(Math.min(...speeds)) - 1;
  const high = Math.ceil(Math.max(...speeds)) + 1;
  const plotW = VELO.width - VELO.left - VELO.right;
  const plotH = VELO.height - VELO.top - VELO.bottom;
  const x = (i) => VELO.left + (timed.length === 1 ? plotW / 2 : (i * plotW) / (timed.length - 1));
  const y = (mph) => VELO.top + ((high - mph) / (high - low)) * plotH;
  const line = timed.map((p, i) => `${x(i).toFixed(1)},${y(p.start_speed).toFixed(1)}`).join(" ");
  const dots = timed.map((p, i) =>
    svg("circle", { class: "velo-point", cx: x(i).toFixed(1), cy: y(p.start_speed).toFixed(1),
      r: 3, fill: typeOf(p.pitch_type)[1] }, svg("title", {}, describe(p, names))),
  );
  node.replaceChildren(...axes(low, high, timed.length),
    svg("polyline", { class: "velo-line", points: line }), ...dots);
  node.dataset.count = String(timed.length);
  return timed.length;
}
