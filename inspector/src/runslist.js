// The runs of a thread: status, timings, and for failed runs the error and the node it happened in.

import { request } from "./api.js";
import { badge, duration, formatTime, h, shortId } from "./dom.js";

function failedNode(runId, history) {
  for (const state of history) {
    if (state.metadata?.run_id !== runId) continue;
    const task = (state.tasks ?? []).find((item) => item.error);
    if (task) return task.name;
  }
  return null;
}

async function errorText(threadId, run, history) {
  if (run.status !== "error") return "";
  const joined = await request("GET", `/threads/${threadId}/runs/${run.run_id}/join`).catch(() => null);
  const error = joined?.__error__;
  const node = failedNode(run.run_id, history);
  const text = error ? `${error.error}: ${error.message}` : "failed";
  return node ? `${text} (in node ${node})` : text;
}

/** A table of the thread's runs, newest first. */
export async function runsTable(threadId, history) {
  const runs = await request("GET", `/threads/${threadId}/runs?limit=50`);
  if (!runs.length) return h("p", { class: "muted", "data-testid": "runs" }, "No runs yet.");
  const errors = await Promise.all(runs.map((run) => errorText(threadId, run, history)));
  const rows = runs.map((run, index) =>
    h(
      "tr",
      { "data-run": run.run_id },
      h("td", {}, shortId(run.run_id)),
      h("td", {}, badge(run.status)),
      h("td", {}, run.metadata?.graph_id ?? shortId(run.assistant_id)),
      h("td", {}, formatTime(run.created_at)),
      h("td", {}, duration(run.created_at, run.updated_at)),
      h(
        "td",
        { class: errors[index] ? "error-text" : "", "data-testid": errors[index] ? "run-error" : null },
        errors[index],
      ),
    ),
  );
  return h(
    "table",
    { "data-testid": "runs" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Run", "Status", "Graph", "Started", "Took", "Error"].map((title) => h("th", {}, title)),
      ),
    ),
    h("tbody", {}, rows),
  );
}
