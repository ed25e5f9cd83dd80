// The sign-in dialog: shown when the server answers 401; the token goes in the header the server's auth reads.

import { credentials } from "./api.js";
import { h, mount } from "./dom.js";

/** Ask for a header and token; `onSignedIn()` re-renders the page with them. */
export function showSignIn(reason, onSignedIn) {
  const saved = credentials.load();
  const header = h("input", { value: saved?.header ?? "Authorization", "data-testid": "auth-header" });
  const token = h("input", { type: "password", placeholder: "token", "data-testid": "auth-token" });
  const scheme = h("input", { type: "checkbox", checked: true, "data-testid": "auth-bearer" });
  const dialog = h("dialog", { class: "signin", "data-testid": "signin" });
  const submit = (event) => {
    event.preventDefault();
    if (!token.value.trim()) return;
    credentials.save(
      header.value.trim() || "Authorization",
      scheme.checked ? `Bearer ${token.value.trim()}` : token.value.trim(),
    );
    dialog.close();
    dialog.remove();
    onSignedIn();
  };
  mount(
    dialog,
    h(
      "form",
      { onSubmit: submit },
      h("h2", {}, "Sign in"),
      h("p", { class: "muted" }, reason),
      h("label", {}, "Header", header),
      h("label", {}, "Token", token),
      h("label", { class: "inline" }, scheme, "send as “Bearer <token>”"),
      h("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, "Sign in"),
    ),
  );
  document.querySelectorAll("dialog.signin").forEach((old) => old.remove());
  document.body.append(dialog);
  dialog.showModal();
  token.focus();
}
