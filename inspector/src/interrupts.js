// Human in the loop: the pending interrupts, a resume form (Command resume), and a state editor.

import { request } from "./api.js";
import { errorBox, h, mount } from "./dom.js";
import { jsonView, parseJson } from "./json.js";

/** The interrupts the thread's current state waits on. */
export function pendingInterrupts(state) {
  const fromTasks = (state?.tasks ?? []).flatMap((task) =>
    (task.interrupts ?? []).map((item) => ({ ...item, node: task.name })),
  );
  return fromTasks.length ? fromTasks : (state?.interrupts ?? []);
}

/** The resume card, or null when nothing waits; `run(body)` starts the resuming run. */
export function interruptCard(state, run) {
  const interrupts = pendingInterrupts(state);
  if (!interrupts.length) return null;
  const resume = h("textarea", { rows: 3, placeholder: '{"approved": true}', "data-testid": "resume-value" });
  const message = h("div", { "data-testid": "resume-error" });
  const submit = () => {
    const parsed = parseJson(resume.value);
    if (!parsed.ok) return mount(message, errorBox(parsed.message));
    run({ command: { resume: parsed.value } });
  };
  return h(
    "section",
    { class: "card interrupt", "data-testid": "interrupt" },
    h("h3", {}, "Waiting for a human"),
    interrupts.map((item) =>
      h(
        "div",
        {},
        h("div", { class: "muted" }, item.node ? `at node ${item.node}` : "interrupt"),
        jsonView(item.value, "interrupt-value"),
      ),
    ),
    h("label", {}, "Resume with (JSON)", resume),
    message,
    h("button", { class: "primary", onClick: submit, "data-testid": "resume" }, "Resume"),
  );
}

/** Edit the values (at `checkpoint`, when given: a fork), then continue with a run from the new checkpoint. */
export function stateEditor(threadId, values, { checkpoint, run, title }) {
  const editor = h("textarea", { rows: 8, "data-testid": "state-editor" }, JSON.stringify(values ?? {}, null, 2));
  const asNode = h("input", { placeholder: "as node (optional)", "data-testid": "as-node" });
  const message = h("div", { "data-testid": "state-error" });
  const submit = async () => {
    const parsed = parseJson(editor.value);
    if (!parsed.ok) return mount(message, errorBox(parsed.message));
    const body = { values: parsed.value };
    if (asNode.value.trim()) body.as_node = asNode.value.trim();
    if (checkpoint) body.checkpoint = checkpoint;
    try {
      const saved = await request("POST", `/threads/${threadId}/state`, body);
      run({ input: null, checkpoint: saved.checkpoint });
    } catch (error) {
      mount(message, errorBox(error.message));
    }
  };
  return h(
    "section",
    { class: "card" },
    h("h3", {}, title),
    editor,
    h(
      "div",
      { class: "row" },
      asNode,
      h("button", { onClick: submit, "data-testid": "update-and-continue" }, "Update state and continue"),
    ),
    message,
  );
}
