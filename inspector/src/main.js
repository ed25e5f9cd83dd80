// The inspector's shell: top bar, hash routes (#/graphs/<id>, #/threads, #/threads/<id>), sign-in on 401.

import { credentials, onUnauthorized } from "./api.js";
import { renderAssistants } from "./assistants.js";
import { showSignIn } from "./auth.js";
import { errorBox, h, mount } from "./dom.js";
import { renderThread } from "./thread.js";
import { renderThreads } from "./threads.js";
import { loadAssistants } from "./store.js";

const root = document.getElementById("app");
const content = h("main", { id: "content" });
const account = h("span", { class: "account" });

function renderAccount() {
  const signedIn = credentials.load();
  mount(
    account,
    signedIn
      ? h(
          "button",
          {
            "data-testid": "signout",
            onClick: () => {
              credentials.clear();
              route();
            },
          },
          "Sign out",
        )
      : h(
          "button",
          { "data-testid": "signin-open", onClick: () => showSignIn("Enter a token for this server.", route) },
          "Sign in",
        ),
  );
}

async function route() {
  renderAccount();
  const [section, id] = window.location.hash.replace(/^#\/?/, "").split("/");
  document
    .querySelectorAll("nav.top a")
    .forEach((link) => link.classList.toggle("selected", link.dataset.section === (section || "graphs")));
  try {
    if (section === "threads" && id) {
      await loadAssistants();
      await renderThread(content, id);
    } else if (section === "threads") await renderThreads(content);
    else await renderAssistants(content, id || undefined);
  } catch (error) {
    if (error.status !== 401) mount(content, errorBox(error.message));
  }
}

onUnauthorized((error) => {
  mount(content, errorBox(`Not signed in: ${error.message}`));
  showSignIn(error.message, route);
});

mount(
  root,
  h(
    "header",
    { class: "topbar" },
    h("strong", {}, "Aegra inspector"),
    h(
      "nav",
      { class: "top" },
      h("a", { href: "#/graphs", "data-section": "graphs" }, "Graphs"),
      h("a", { href: "#/threads", "data-section": "threads" }, "Threads"),
    ),
    account,
  ),
  content,
);
window.addEventListener("hashchange", route);
route();
