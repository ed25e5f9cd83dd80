// What several views share: the assistants and the one picked for new runs.

import { request } from "./api.js";

const PICKED_KEY = "aegra-inspector-assistant";

export const store = {
  assistants: [],
  picked: localStorage.getItem(PICKED_KEY),
};

export async function loadAssistants() {
  store.assistants = await request("POST", "/assistants/search", {
    limit: 200,
    sort_by: "graph_id",
    sort_order: "asc",
  });
  if (!store.assistants.some((assistant) => assistant.assistant_id === store.picked)) {
    store.picked = store.assistants[0]?.assistant_id ?? null;
  }
  return store.assistants;
}

export function pickAssistant(assistantId) {
  store.picked = assistantId;
  localStorage.setItem(PICKED_KEY, assistantId);
}

export function pickedAssistant() {
  return store.assistants.find((assistant) => assistant.assistant_id === store.picked) ?? null;
}

export function assistantLabel(assistant) {
  return assistant.name && assistant.name !== assistant.graph_id
    ? `${assistant.graph_id} · ${assistant.name}`
    : assistant.graph_id;
}
