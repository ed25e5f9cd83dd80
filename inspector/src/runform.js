// The run form: the assistant, and the input either from the graph's input schema or as raw JSON.

import { request } from "./api.js";
import { errorBox, h, mount } from "./dom.js";
import { parseJson } from "./json.js";
import { assistantLabel, pickAssistant, store } from "./store.js";

const SIMPLE_TYPES = new Set(["string", "number", "integer", "boolean"]);

function fieldsFromSchema(schema) {
  const properties = schema?.properties ?? {};
  const fields = [];
  if (properties.messages) fields.push({ name: "messages", kind: "message" });
  for (const [name, property] of Object.entries(properties)) {
    if (name !== "messages" && SIMPLE_TYPES.has(property?.type)) fields.push({ name, kind: property.type });
  }
  return fields;
}

function fieldInput(field) {
  if (field.kind === "message")
    return h("textarea", { rows: 3, name: "messages", placeholder: "Message", "data-testid": "input-message" });
  if (field.kind === "boolean") return h("input", { type: "checkbox", name: field.name });
  return h("input", { name: field.name, type: field.kind === "string" ? "text" : "number", "data-field": field.name });
}

function formValue(fields, inputs) {
  const value = {};
  fields.forEach((field, index) => {
    const input = inputs[index];
    if (field.kind === "message") {
      if (input.value.trim()) value.messages = [{ role: "human", content: input.value }];
    } else if (field.kind === "boolean") {
      if (input.checked) value[field.name] = true;
    } else if (input.value !== "") {
      value[field.name] = field.kind === "string" ? input.value : Number(input.value);
    }
  });
  return value;
}

function assistantSelect(onChange) {
  return h(
    "select",
    { "data-testid": "run-assistant", onChange: (event) => onChange(event.target.value) },
    store.assistants.map((assistant) =>
      h(
        "option",
        { value: assistant.assistant_id, selected: assistant.assistant_id === store.picked },
        assistantLabel(assistant),
      ),
    ),
  );
}

async function buildForm(onSubmit, onAssistantChange) {
  const assistantId = store.picked;
  const schemas = assistantId ? await request("GET", `/assistants/${assistantId}/schemas`).catch(() => null) : null;
  const fields = fieldsFromSchema(schemas?.input_schema);
  const inputs = fields.map(fieldInput);
  const raw = h("textarea", {
    rows: 5,
    placeholder: '{"messages": [{"role": "human", "content": "hi"}]}',
    "data-testid": "input-json",
  });
  const useJson = h("input", { type: "checkbox", checked: fields.length === 0, "data-testid": "use-json" });
  const formPart = h(
    "div",
    { class: "fields" },
    fields.map((field, index) => h("label", {}, field.name, inputs[index])),
  );
  const jsonPart = h("label", {}, "Input (JSON; empty for none)", raw);
  const message = h("div", { "data-testid": "run-form-error" });
  const toggle = () => {
    formPart.hidden = useJson.checked;
    jsonPart.hidden = !useJson.checked;
  };
  useJson.addEventListener("change", toggle);
  toggle();
  const submit = (event) => {
    event.preventDefault();
    mount(message);
    const parsed = useJson.checked ? parseJson(raw.value, null) : { ok: true, value: formValue(fields, inputs) };
    if (!parsed.ok) return mount(message, errorBox(parsed.message));
    onSubmit({ assistant_id: store.picked, input: parsed.value });
  };
  return h(
    "form",
    { class: "card run-form", onSubmit: submit, "data-testid": "run-form", "data-assistant": assistantId },
    h(
      "div",
      { class: "row" },
      h("h3", {}, "Start a run"),
      assistantSelect(onAssistantChange),
      h("label", { class: "inline" }, useJson, "raw JSON"),
    ),
    formPart,
    jsonPart,
    message,
    h("button", { type: "submit", class: "primary", "data-testid": "start-run" }, "Run"),
  );
}

/** A form that calls `onSubmit({assistant_id, input})` with a valid input; invalid JSON shows a message instead.
 * Picking another assistant rebuilds the fields from that graph's input schema. */
export async function runForm(onSubmit) {
  const holder = h("div", { "data-testid": "run-form-holder" });
  const rebuild = async (assistantId) => {
    pickAssistant(assistantId);
    mount(holder, await buildForm(onSubmit, rebuild));
  };
  mount(holder, await buildForm(onSubmit, rebuild));
  return holder;
}
