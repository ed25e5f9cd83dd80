// Messages as a chat: one bubble per message, tool calls listed under the AI message that made them.

import { h } from "./dom.js";

const ROLES = {
  human: "user",
  user: "user",
  ai: "assistant",
  AIMessageChunk: "assistant",
  tool: "tool",
  system: "system",
};

/** The text of a message's `content` (a string, or a list of parts). */
export function messageText(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content == null ? "" : JSON.stringify(content);
  return content.map((part) => (typeof part === "string" ? part : (part?.text ?? ""))).join("");
}

export function bubble(message) {
  const role = ROLES[message.type ?? message.role] ?? message.type ?? "message";
  const calls = (message.tool_calls ?? []).map((call) =>
    h("div", { class: "tool-call" }, `→ ${call.name}(${JSON.stringify(call.args ?? {})})`),
  );
  return h(
    "div",
    { class: `bubble ${role}`, "data-message": message.id ?? "" },
    h("div", { class: "role" }, message.name ? `${role} · ${message.name}` : role),
    h("div", { class: "text" }, messageText(message.content)),
    calls,
  );
}

/** The chat of a thread's `values.messages` (or a note when the state has no messages). */
export function chatView(values) {
  const messages = Array.isArray(values?.messages) ? values.messages : null;
  if (!messages) return h("p", { class: "muted", "data-testid": "chat" }, "This state has no messages.");
  return h("div", { class: "chat", "data-testid": "chat" }, messages.map(bubble));
}
