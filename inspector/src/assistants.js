// The graphs page: assistants grouped by graph, the graph drawing, versions, new versions with a config.

import { request } from "./api.js";
import { badge, errorBox, formatTime, h, mount, shortId } from "./dom.js";
import { drawGraph } from "./graph.js";
import { jsonView, parseJson } from "./json.js";
import { assistantLabel, loadAssistants, pickAssistant, store } from "./store.js";

function assistantList(selectedId, onSelect) {
  const graphs = [...new Set(store.assistants.map((assistant) => assistant.graph_id))];
  return h(
    "nav",
    { class: "list", "data-testid": "assistant-list" },
    graphs.map((graphId) =>
      h(
        "section",
        {},
        h("h3", {}, graphId),
        store.assistants
          .filter((assistant) => assistant.graph_id === graphId)
          .map((assistant) =>
            h(
              "button",
              {
                class: assistant.assistant_id === selectedId ? "item selected" : "item",
                "data-assistant": assistant.assistant_id,
                onClick: () => onSelect(assistant.assistant_id),
              },
              assistant.name || shortId(assistant.assistant_id),
              assistant.assistant_id === store.picked ? badge("picked") : null,
            ),
          ),
      ),
    ),
  );
}

function versionForm(assistant, onSaved) {
  const config = h(
    "textarea",
    { rows: 6, "data-testid": "version-config" },
    JSON.stringify(assistant.config ?? {}, null, 2),
  );
  const name = h("input", { placeholder: "name of a new assistant", "data-testid": "new-assistant-name" });
  const message = h("div");
  const submit = async (asNewAssistant) => {
    const parsed = parseJson(config.value, {});
    if (!parsed.ok) return mount(message, errorBox(parsed.message));
    try {
      const saved = asNewAssistant
        ? await request("POST", "/assistants", {
            graph_id: assistant.graph_id,
            config: parsed.value,
            name: name.value || undefined,
          })
        : await request("PATCH", `/assistants/${assistant.assistant_id}`, { config: parsed.value });
      await onSaved(saved);
    } catch (error) {
      mount(message, errorBox(error.message));
    }
  };
  return h(
    "section",
    { class: "card" },
    h("h3", {}, "New version or assistant"),
    h("label", {}, "Config (JSON)", config),
    h(
      "div",
      { class: "row" },
      h("button", { onClick: () => submit(false), "data-testid": "save-version" }, "Save as new version"),
      name,
      h("button", { onClick: () => submit(true), "data-testid": "create-assistant" }, "Create assistant"),
    ),
    message,
  );
}

async function versionsCard(assistant, onChanged) {
  const versions = await request("POST", `/assistants/${assistant.assistant_id}/versions`, { limit: 20 });
  const use = async (version) => {
    await request("POST", `/assistants/${assistant.assistant_id}/latest`, { version });
    await onChanged();
  };
  const rows = versions.map((version) =>
    h(
      "tr",
      { "data-version": version.version },
      h("td", {}, `v${version.version}`),
      h("td", {}, formatTime(version.created_at)),
      h("td", {}, h("code", {}, JSON.stringify(version.config ?? {}))),
      h(
        "td",
        {},
        version.version === assistant.version
          ? "current"
          : h("button", { onClick: () => use(version.version) }, "Make current"),
      ),
    ),
  );
  return h(
    "section",
    { class: "card" },
    h("h3", {}, "Versions"),
    h("table", { "data-testid": "versions" }, h("tbody", {}, rows)),
  );
}

async function detail(assistantId, refresh) {
  const assistant = await request("GET", `/assistants/${assistantId}`);
  const picked = store.picked === assistantId;
  return h(
    "div",
    { class: "detail", "data-testid": "assistant-detail" },
    h(
      "header",
      { class: "row" },
      h("h2", {}, assistantLabel(assistant)),
      h("span", { class: "muted" }, `v${assistant.version} · ${assistant.assistant_id}`),
      picked
        ? badge("picked")
        : h(
            "button",
            {
              onClick: async () => {
                pickAssistant(assistantId);
                await refresh(assistantId);
              },
              "data-testid": "pick-assistant",
            },
            "Use for runs",
          ),
    ),
    await graphCard(assistantId),
    h("section", { class: "card" }, h("h3", {}, "Config"), jsonView(assistant.config, "assistant-config")),
    versionForm(assistant, async (saved) => {
      await loadAssistants();
      await refresh(saved.assistant_id);
    }),
    await versionsCard(assistant, () => refresh(assistantId)),
  );
}

/** The graph drawing; "subgraphs" redraws it with `?xray=true` (subgraph nodes inlined). */
async function graphCard(assistantId) {
  const drawing = h("div", {}, drawGraph(await request("GET", `/assistants/${assistantId}/graph`)));
  const xray = h("input", { type: "checkbox", "data-testid": "xray" });
  xray.addEventListener("change", async () => {
    const query = xray.checked ? "?xray=true" : "";
    mount(drawing, drawGraph(await request("GET", `/assistants/${assistantId}/graph${query}`)));
  });
  return h(
    "section",
    { class: "card graph-card" },
    h("div", { class: "row" }, h("h3", {}, "Graph"), h("label", { class: "inline" }, xray, "subgraphs")),
    drawing,
  );
}

/** Render the graphs page into `root`; `selectedId` opens one assistant. */
export async function renderAssistants(root, selectedId) {
  await loadAssistants();
  const current = selectedId ?? store.picked ?? store.assistants[0]?.assistant_id;
  const select = (assistantId) => {
    window.location.hash = `#/graphs/${assistantId}`;
  };
  const body = h("div", { class: "detail" }, h("p", { class: "muted" }, "Loading…"));
  mount(root, h("div", { class: "split" }, assistantList(current, select), body));
  if (!current) return mount(body, h("p", {}, "No assistants."));
  const refresh = async (assistantId) => {
    if (assistantId !== current) return select(assistantId);
    await renderAssistants(root, assistantId);
  };
  try {
    mount(body, await detail(current, refresh));
  } catch (error) {
    mount(body, errorBox(error.message));
  }
}
