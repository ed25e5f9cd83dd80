// One thread: its chat, a run form with the live stream, interrupts, and tabs for values, history and runs.

import { request } from "./api.js";
import { chatView } from "./chat.js";
import { badge, errorBox, formatTime, h, mount } from "./dom.js";
import { interruptCard, stateEditor } from "./interrupts.js";
import { historyView } from "./history.js";
import { jsonView } from "./json.js";
import { joinLiveRun, startLiveRun } from "./live.js";
import { runForm } from "./runform.js";
import { runsTable } from "./runslist.js";
import { pickAssistant, store } from "./store.js";

const TABS = ["Values", "History", "Runs"];

async function load(threadId) {
  const [thread, state, history] = await Promise.all([
    request("GET", `/threads/${threadId}`),
    request("GET", `/threads/${threadId}/state`),
    request("POST", `/threads/${threadId}/history`, { limit: 100 }),
  ]);
  return { thread, state, history };
}

async function tabBody(name, threadId, data, run) {
  if (name === "History") return historyView(threadId, data.history, run);
  if (name === "Runs") return runsTable(threadId, data.history);
  return h(
    "div",
    {},
    jsonView(data.state.values, "values"),
    stateEditor(threadId, data.state.values, { run, title: "Edit state and continue" }),
  );
}

function tabs(threadId, data, run, view) {
  const body = h("div", { class: "tab-body" });
  const show = async (name) => {
    view.tab = name;
    bar
      .querySelectorAll("button")
      .forEach((button) => button.classList.toggle("selected", button.textContent === name));
    try {
      mount(body, await tabBody(name, threadId, data, run));
    } catch (error) {
      mount(body, errorBox(error.message));
    }
  };
  const bar = h(
    "div",
    { class: "tabs" },
    TABS.map((name) => h("button", { onClick: () => show(name), "data-tab": name }, name)),
  );
  show(view.tab);
  return h("section", { class: "card" }, bar, body);
}

function describeError(error) {
  if (typeof error === "string") return error;
  return error?.message ? `${error.error ?? "Error"}: ${error.message}` : JSON.stringify(error);
}

/** The run form starts on the thread's own assistant (when it has one), not on the last one picked elsewhere. */
function followThreadAssistant(thread) {
  const own = thread.metadata?.assistant_id;
  if (own && own !== store.picked && store.assistants.some((assistant) => assistant.assistant_id === own))
    pickAssistant(own);
}

function header(thread) {
  return h(
    "header",
    { class: "row" },
    h("h2", {}, "Thread"),
    h("code", { "data-testid": "thread-id" }, thread.thread_id),
    badge(thread.status),
    h("span", { class: "muted" }, `created ${formatTime(thread.created_at)}`),
    thread.error ? errorBox(`Last run failed: ${describeError(thread.error)}`) : null,
  );
}

async function joinActiveRun(threadId, container, refresh) {
  const runs = await request("GET", `/threads/${threadId}/runs?limit=10`);
  const active = runs.find((run) => run.status === "running" || run.status === "pending");
  if (active) joinLiveRun(container, threadId, active.run_id, refresh);
}

/** Render the thread page into `root`. */
export async function renderThread(root, threadId) {
  const view = { tab: "Values", live: h("div", { "data-testid": "live" }) };
  const main = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "page" }, main));
  let first = true;
  const refresh = async () => {
    if (!root.contains(main)) return; // the user went elsewhere meanwhile
    let data;
    try {
      data = await load(threadId);
    } catch (error) {
      return mount(main, errorBox(error.message));
    }
    if (first) followThreadAssistant(data.thread);
    first = false;
    const owner = data.thread.metadata?.assistant_id ?? store.picked;
    const run = (body) => startLiveRun(view.live, threadId, { assistant_id: owner, ...body }, refresh);
    const form = await runForm((body) => startLiveRun(view.live, threadId, body, refresh));
    mount(
      main,
      header(data.thread),
      h(
        "div",
        { class: "columns" },
        h(
          "div",
          {},
          h("section", { class: "card" }, h("h3", {}, "Messages"), chatView(data.state.values)),
          interruptCard(data.state, run),
          view.live,
          form,
        ),
        tabs(threadId, data, run, view),
      ),
    );
    if (data.thread.status === "busy" && !view.live.childElementCount)
      await joinActiveRun(threadId, view.live, refresh);
  };
  await refresh();
}
