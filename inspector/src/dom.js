// Tiny DOM helpers: build elements from tag, attributes and children (text is always set as text, never HTML).

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.setAttribute("class", value);
    else if (key === "value" && "value" in el) el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: `h("button", { onClick }, "Run")`. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (for the graph drawing). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  append(el, children);
  return el;
}

/** Replace the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A short, readable form of an id. */
export function shortId(id) {
  return id ? String(id).slice(0, 8) : "";
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

/** Seconds between two timestamps, e.g. "1.24 s". */
export function duration(startIso, endIso) {
  const ms = new Date(endIso).getTime() - new Date(startIso).getTime();
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "";
}

/** A status badge: idle, busy, interrupted, error, success, pending, running, timeout. */
export function badge(status) {
  return h("span", { class: `badge badge-${status}`, "data-testid": "status" }, status);
}

/** A message line that says what went wrong, or nothing. */
export function errorBox(message) {
  return message ? h("div", { class: "error", role: "alert" }, message) : null;
}
