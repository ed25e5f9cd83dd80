// JSON display, parsing with readable errors, and a structural diff between two states.

import { h } from "./dom.js";

export function jsonView(value, testid) {
  return h("pre", { class: "json", "data-testid": testid }, JSON.stringify(value ?? null, null, 2));
}

/** `{ok: true, value}` or `{ok: false, message}` naming where the JSON breaks; blank text is `fallback`. */
export function parseJson(text, fallback = undefined) {
  if (!text.trim()) {
    return fallback === undefined ? { ok: false, message: "Enter a JSON value" } : { ok: true, value: fallback };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, message: `Invalid JSON: ${error.message}` };
  }
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** What changed from `before` to `after`: a list of `{path, kind, before, after}` (kind: added/removed/changed). */
export function diff(before, after, path = "") {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => diff(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, index) => diff(before[index], after[index], `${path}[${index}]`)).flat();
  }
  if (before === undefined && after === undefined) return [];
  if (before === undefined) return [{ path, kind: "added", after }];
  if (after === undefined) return [{ path, kind: "removed", before }];
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path, kind: "changed", before, after }];
}

function compact(value) {
  const text = JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

export function diffView(changes) {
  if (!changes.length)
    return h("p", { class: "muted", "data-testid": "diff" }, "No change from the previous checkpoint.");
  const rows = changes.map((change) =>
    h(
      "li",
      { class: `diff-${change.kind}` },
      h("code", {}, change.path || "(root)"),
      ` ${change.kind}: `,
      change.kind === "changed" ? `${compact(change.before)} → ${compact(change.after)}` : "",
      change.kind === "added" ? compact(change.after) : "",
      change.kind === "removed" ? compact(change.before) : "",
    ),
  );
  return h("ul", { class: "diff", "data-testid": "diff" }, rows);
}
