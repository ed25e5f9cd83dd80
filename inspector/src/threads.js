// The threads page: search by status and metadata, newest first, paginated; a new thread.

import { request } from "./api.js";
import { badge, errorBox, formatTime, h, mount, shortId } from "./dom.js";
import { parseJson } from "./json.js";

const PAGE = 20;
const STATUSES = ["", "idle", "busy", "interrupted", "error"];

function filters(query, onSearch) {
  const status = h(
    "select",
    { "data-testid": "status-filter" },
    STATUSES.map((value) => h("option", { value, selected: value === query.status }, value || "any status")),
  );
  const metadata = h("input", {
    placeholder: '{"graph_id": "agent"}',
    value: query.metadata,
    "data-testid": "metadata-filter",
  });
  const search = () => onSearch({ status: status.value, metadata: metadata.value, offset: 0 });
  metadata.addEventListener("keydown", (event) => event.key === "Enter" && search());
  return h(
    "div",
    { class: "row filters" },
    status,
    metadata,
    h("button", { onClick: search, "data-testid": "search-threads" }, "Search"),
    h("button", { class: "primary", onClick: newThread, "data-testid": "new-thread" }, "New thread"),
  );
}

async function newThread() {
  const thread = await request("POST", "/threads", {});
  window.location.hash = `#/threads/${thread.thread_id}`;
}

function table(threads) {
  if (!threads.length) return h("p", { class: "muted" }, "No threads match.");
  const rows = threads.map((thread) =>
    h(
      "tr",
      { "data-thread": thread.thread_id },
      h("td", {}, h("a", { href: `#/threads/${thread.thread_id}` }, shortId(thread.thread_id))),
      h("td", {}, badge(thread.status)),
      h("td", {}, thread.metadata?.graph_id ?? ""),
      h("td", {}, formatTime(thread.created_at)),
      h("td", {}, formatTime(thread.updated_at)),
    ),
  );
  return h(
    "table",
    { "data-testid": "threads" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Thread", "Status", "Graph", "Created", "Updated"].map((title) => h("th", {}, title)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

/** Render the threads page into `root` for `query` ({status, metadata, offset}). */
export async function renderThreads(root, query = { status: "", metadata: "", offset: 0 }) {
  const rerender = (next) => renderThreads(root, { ...query, ...next });
  const results = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page" }, h("h2", {}, "Threads"), filters(query, rerender), results));
  const metadata = parseJson(query.metadata, {});
  if (!metadata.ok) return mount(results, errorBox(`Metadata filter: ${metadata.message}`));
  const body = { limit: PAGE + 1, offset: query.offset, sort_by: "created_at", sort_order: "desc" };
  if (query.status) body.status = query.status;
  if (Object.keys(metadata.value).length) body.metadata = metadata.value;
  try {
    const threads = await request("POST", "/threads/search", body);
    const pager = h(
      "div",
      { class: "row" },
      h(
        "button",
        { disabled: query.offset === 0, onClick: () => rerender({ offset: Math.max(0, query.offset - PAGE) }) },
        "Newer",
      ),
      h("span", { class: "muted" }, `${query.offset + 1}–${query.offset + Math.min(PAGE, threads.length)}`),
      h(
        "button",
        {
          disabled: threads.length <= PAGE,
          onClick: () => rerender({ offset: query.offset + PAGE }),
          "data-testid": "older",
        },
        "Older",
      ),
    );
    mount(results, table(threads.slice(0, PAGE)), pager);
  } catch (error) {
    mount(results, errorBox(error.message));
  }
}
