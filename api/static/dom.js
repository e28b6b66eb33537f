// Small DOM helpers shared by the live pages (no framework, no build step).

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** An HTML element: el("td", {class: "num"}, "3"). */
export function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, same signature. */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function byId(id) {
  return document.getElementById(id);
}

/** Replace the children of the element with the given id. */
export function replace(id, ...children) {
  byId(id).replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

export function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"}`;
}

/** "Top 5th" from a row's inning and half_inning ("top"/"bottom"). */
export function halfName(inning, half) {
  if (!inning) return "";
  const word = String(half || "").toLowerCase().startsWith("b") ? "Bot" : "Top";
  return `${word} ${ordinal(inning)}`;
}

/** Set the connection badge: text and a state class (live, wait, final, error). */
export function setBadge(text, state) {
  const badge = byId("conn");
  if (!badge) return;
  badge.textContent = text;
  badge.className = `conn ${state}`;
}
