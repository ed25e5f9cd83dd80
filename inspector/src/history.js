// A thread's checkpoints as a timeline; one picked shows its state, what changed, and how to fork from it.

import { badge, formatTime, h, mount, shortId } from "./dom.js";
import { diff, diffView, jsonView } from "./json.js";
import { stateEditor } from "./interrupts.js";

function label(state) {
  const meta = state.metadata ?? {};
  const writes = meta.writes ? Object.keys(meta.writes).join(", ") : "";
  const next = (state.next ?? []).join(", ");
  return `step ${meta.step ?? "?"} · ${meta.source ?? ""}${writes ? ` · wrote ${writes}` : ""}${next ? ` · next ${next}` : ""}`;
}

function detail(threadId, history, index, run) {
  const state = history[index];
  const previous = history.find((item) => item.checkpoint?.checkpoint_id === state.parent_checkpoint?.checkpoint_id);
  const errors = (state.tasks ?? []).filter((task) => task.error);
  return h(
    "div",
    { class: "checkpoint", "data-testid": "checkpoint-detail" },
    h("h4", {}, `Checkpoint ${state.checkpoint?.checkpoint_id}`),
    errors.map((task) => h("div", { class: "error" }, `${task.name}: ${task.error}`)),
    h("h4", {}, "Changed from the previous checkpoint"),
    diffView(diff(previous?.values ?? {}, state.values ?? {})),
    h("h4", {}, "State at this checkpoint"),
    jsonView(state.values, "checkpoint-values"),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        { onClick: () => run({ input: null, checkpoint: state.checkpoint }), "data-testid": "replay" },
        "Replay from here",
      ),
    ),
    stateEditor(threadId, state.values, {
      checkpoint: state.checkpoint,
      run,
      title: "Fork: edit this state and continue",
    }),
  );
}

/** The timeline (newest first) beside the picked checkpoint's detail. */
export function historyView(threadId, history, run) {
  const panel = h("div", { class: "checkpoint" }, h("p", { class: "muted" }, "Pick a checkpoint."));
  const items = history.map((state, index) => {
    const item = h(
      "li",
      {},
      h(
        "button",
        {
          class: "item",
          "data-checkpoint": state.checkpoint?.checkpoint_id,
          onClick: () => {
            list.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
            item.firstChild.classList.add("selected");
            mount(panel, detail(threadId, history, index, run));
          },
        },
        h("span", {}, label(state)),
        (state.tasks ?? []).some((task) => task.error) ? badge("error") : null,
        (state.tasks ?? []).some((task) => task.interrupts?.length) ? badge("interrupted") : null,
        h("span", { class: "muted" }, ` ${shortId(state.checkpoint?.checkpoint_id)} · ${formatTime(state.created_at)}`),
      ),
    );
    return item;
  });
  const list = h("ol", { class: "timeline", "data-testid": "timeline" }, items);
  return h("div", { class: "split" }, list, panel);
}
