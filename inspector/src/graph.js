// Draw `GET /assistants/{id}/graph` as SVG: nodes in layers (breadth-first from __start__, __end__ last).

import { svg } from "./dom.js";

const ROW = 90;
const GAP = 36;
const HEIGHT = 34;
const CHAR = 8;

function layers(nodes, edges) {
  const rank = new Map([["__start__", 0]]);
  const queue = ["__start__"];
  while (queue.length) {
    const id = queue.shift();
    for (const edge of edges.filter((e) => e.source === id)) {
      if (rank.has(edge.target)) continue;
      rank.set(edge.target, rank.get(id) + 1);
      queue.push(edge.target);
    }
  }
  const deepest = Math.max(0, ...[...rank.entries()].filter(([id]) => id !== "__end__").map(([, r]) => r));
  for (const node of nodes) if (!rank.has(node.id) && node.id !== "__end__") rank.set(node.id, deepest + 1);
  if (nodes.some((node) => node.id === "__end__")) rank.set("__end__", Math.max(...rank.values()) + 1);
  return rank;
}

function place(nodes, rank) {
  const rows = new Map();
  for (const node of nodes) {
    const r = rank.get(node.id) ?? 0;
    rows.set(r, [...(rows.get(r) ?? []), node]);
  }
  const widths = new Map(nodes.map((node) => [node.id, Math.max(70, node.id.length * CHAR + 24)]));
  const rowWidth = (row) => row.reduce((sum, node) => sum + widths.get(node.id), 0) + GAP * (row.length - 1);
  const width = Math.max(...[...rows.values()].map(rowWidth)) + 2 * GAP;
  const boxes = new Map();
  for (const [r, row] of rows) {
    let x = (width - rowWidth(row)) / 2;
    for (const node of row) {
      boxes.set(node.id, { x, y: GAP + r * ROW, w: widths.get(node.id), h: HEIGHT });
      x += widths.get(node.id) + GAP;
    }
  }
  return { boxes, width, height: GAP * 2 + (Math.max(...rows.keys()) + 1) * ROW - (ROW - HEIGHT) };
}

function edgePath(from, to) {
  const sx = from.x + from.w / 2;
  const tx = to.x + to.w / 2;
  if (to.y > from.y) {
    const sy = from.y + from.h;
    const mid = (sy + to.y) / 2;
    return `M${sx},${sy} C${sx},${mid} ${tx},${mid} ${tx},${to.y}`;
  }
  // a loop back up: leave from the right side, come back into the right side of the target
  const sy = from.y + from.h / 2;
  const ty = to.y + to.h / 2;
  const out = Math.max(from.x + from.w, to.x + to.w) + 40;
  return `M${from.x + from.w},${sy} C${out},${sy} ${out},${ty} ${to.x + to.w},${ty}`;
}

/** An `<svg>` with one box per node and one arrow per edge (dashed when conditional). */
export function drawGraph(graph) {
  const nodes = graph?.nodes ?? [];
  const edges = graph?.edges ?? [];
  if (!nodes.length) return svg("svg", { width: 10, height: 10 });
  const { boxes, width, height } = place(nodes, layers(nodes, edges));
  const marker = svg(
    "marker",
    { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
  );
  const lines = edges
    .filter((edge) => boxes.has(edge.source) && boxes.has(edge.target))
    .map((edge) =>
      svg("path", {
        d: edgePath(boxes.get(edge.source), boxes.get(edge.target)),
        class: edge.conditional ? "edge conditional" : "edge",
        "marker-end": "url(#arrow)",
      }),
    );
  const boxesSvg = nodes.map((node) => {
    const box = boxes.get(node.id);
    const special = node.id === "__start__" || node.id === "__end__";
    return svg(
      "g",
      { class: special ? "node terminal" : "node", "data-node": node.id },
      svg("rect", { x: box.x, y: box.y, width: box.w, height: box.h, rx: special ? 17 : 6 }),
      svg("text", { x: box.x + box.w / 2, y: box.y + box.h / 2 + 5, "text-anchor": "middle" }, node.id),
    );
  });
  return svg(
    "svg",
    { class: "graph", "data-testid": "graph", width: width + 60, height, viewBox: `0 0 ${width + 60} ${height}` },
    svg("defs", {}, marker),
    lines,
    boxesSvg,
  );
}
