// A run streaming live: tokens grow in a bubble as they arrive, node updates become a trace, Cancel stops it.

import { request, stream } from "./api.js";
import { bubble, messageText } from "./chat.js";
import { errorBox, h, mount, shortId } from "./dom.js";

const STREAM_MODES = ["messages-tuple", "updates", "custom"];

function traceLine(text) {
  return h("li", {}, text);
}

function describeUpdate(data) {
  return Object.entries(data ?? {}).map(([node, update]) => {
    if (node === "__interrupt__") return `interrupt: ${JSON.stringify((update ?? []).map((item) => item.value))}`;
    const keys = update && typeof update === "object" ? Object.keys(update).join(", ") : "";
    return keys ? `${node} → ${keys}` : node;
  });
}

class LiveView {
  constructor(threadId) {
    this.threadId = threadId;
    this.runId = null;
    this.bubbles = new Map();
    this.chat = h("div", { class: "chat live", "data-testid": "live-chat" });
    this.trace = h("ol", { class: "trace", "data-testid": "trace" });
    this.status = h("span", { class: "badge badge-running", "data-testid": "live-status" }, "starting");
    this.problem = h("div", { "data-testid": "live-error" });
    this.cancel = h("button", { onClick: () => this.cancelRun(), "data-testid": "cancel-run" }, "Cancel");
    this.root = h(
      "section",
      { class: "card" },
      h("div", { class: "row" }, h("h3", {}, "Live run"), this.status, this.cancel),
      this.chat,
      h("h4", {}, "Trace"),
      this.trace,
      this.problem,
    );
  }

  setStatus(text) {
    this.status.textContent = text;
    this.status.className = `badge badge-${text}`;
  }

  onMessage([chunk]) {
    const id = chunk?.id ?? `anon-${this.bubbles.size}`;
    const existing = this.bubbles.get(id);
    if (!existing) {
      const empty = !messageText(chunk?.content) && !chunk?.tool_calls?.length && !chunk?.tool_call_chunks?.length;
      if (empty) return; // a closing chunk with nothing to show
      const element = bubble({ ...chunk, content: messageText(chunk?.content) });
      this.bubbles.set(id, { element, text: messageText(chunk?.content) });
      this.chat.append(element);
      return;
    }
    existing.text =
      chunk?.type === "AIMessageChunk" ? existing.text + messageText(chunk.content) : messageText(chunk?.content);
    existing.element.querySelector(".text").textContent = existing.text;
  }

  onEvent({ event, data }) {
    const mode = event.split("|")[0];
    if (mode === "metadata") {
      this.runId = data?.run_id ?? this.runId;
      this.setStatus("running");
      this.trace.append(traceLine(`run ${shortId(this.runId)} started`));
    } else if (mode === "messages") {
      this.onMessage(data);
    } else if (mode === "updates") {
      describeUpdate(data).forEach((line) => this.trace.append(traceLine(line)));
    } else if (mode === "values") {
      this.trace.append(traceLine(`values: ${Object.keys(data ?? {}).join(", ")}`));
    } else if (mode === "custom") {
      this.trace.append(traceLine(`custom: ${JSON.stringify(data)}`));
    } else if (mode === "error") {
      this.setStatus("error");
      mount(this.problem, errorBox(`${data?.error ?? "Error"}: ${data?.message ?? JSON.stringify(data)}`));
    }
  }

  async cancelRun() {
    if (!this.runId) return;
    this.cancel.disabled = true;
    const before = this.status.textContent;
    // Before the request: the stream may end (and read the status) before the cancel's answer arrives.
    this.setStatus("cancelling");
    try {
      await request("POST", `/threads/${this.threadId}/runs/${this.runId}/cancel`);
    } catch (error) {
      if (this.status.textContent === "cancelling") this.setStatus(before);
      this.cancel.disabled = false;
      mount(this.problem, errorBox(error.message));
    }
  }
}

async function follow(view, container, events, onDone) {
  mount(container, view.root);
  try {
    for await (const part of events) view.onEvent(part);
    if (view.status.textContent === "running") view.setStatus("done");
    if (view.status.textContent === "cancelling") view.setStatus("cancelled");
  } catch (error) {
    view.setStatus("error");
    mount(view.problem, errorBox(error.message));
  } finally {
    view.cancel.disabled = true;
    await onDone();
  }
}

/** Start a streamed run on the thread; render it in `container`; `onDone()` runs when the stream ends. */
export function startLiveRun(container, threadId, body, onDone) {
  const payload = { ...body, stream_mode: STREAM_MODES, stream_subgraphs: true };
  return follow(new LiveView(threadId), container, stream(`/threads/${threadId}/runs/stream`, payload), onDone);
}

/** Follow a run that is already going (started elsewhere): its stream from now on, with Cancel. */
export function joinLiveRun(container, threadId, runId, onDone) {
  const view = new LiveView(threadId);
  view.runId = runId;
  view.setStatus("running");
  view.trace.append(traceLine(`joined run ${shortId(runId)}`));
  return follow(view, container, stream(`/threads/${threadId}/runs/${runId}/stream`), onDone);
}
