// The analyst web UI (docs/webui.md): a single page with hash routes.
//   #/signin            token
//   #/batches           the newest batches
//   #/submit            a new batch
//   #/batch/ID?...      progress, chart, results table (filters in the query)
//   #/batch/ID/line/N   one line's whole observation
import {ApiError, json, session} from "./api.js";
import {announce, clear, el, formatTime} from "./dom.js";
import {batchView} from "./batch.js";
import {lineView} from "./detail.js";
import {submitView} from "./submit.js";

const view = document.getElementById("view");

// Each route render gets a fresh AbortSignal; leaving the view aborts it,
// which ends its polling.
let current = new AbortController();

async function signIn(token) {
  session.set(token);
  try {
    const who = await json("/session");
    session.name = who.token;
    session.roles = who.roles;
  } catch (e) {
    session.clear();
    throw e;
  }
  showSession();
}

function showSession() {
  const signedIn = Boolean(session.token) && session.name !== "";
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("signout").hidden = !signedIn;
  const who = document.getElementById("who");
  who.hidden = !signedIn;
  who.textContent = signedIn
    ? `Signed in as ${session.name} (roles: ${session.roles.join(", ")})`
    : "";
}

function signOut() {
  session.clear();
  session.name = "";
  session.roles = [];
  showSession();
  announce("Signed out; the token was removed from this tab.");
  go("#/signin");
}

function signInView() {
  const input = el("input", {
    id: "token", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "token-help",
  });
  const form = el("form.card", {
    on: {
      submit: async (event) => {
        event.preventDefault();
        try {
          await signIn(input.value.trim());
          input.value = "";
          announce(`Signed in as ${session.name}.`);
          go(location.hash === "#/signin" || !location.hash
            ? "#/batches" : location.hash);
        } catch (e) {
          announce(e instanceof ApiError && e.status === 401
            ? "That token is not valid: paste the secret printed by " +
              "`hostlocator tokens add`."
            : e.message, "error");
          input.focus();
        }
      },
    },
  },
    el("h1", {}, "Sign in"),
    el("label", {for: "token"}, "Token"),
    input,
    el("p.help", {id: "token-help"},
      "The secret from `hostlocator tokens add`. It is kept in this tab " +
      "only and forgotten when the tab closes or you sign out."),
    el("button.primary", {type: "submit"}, "Sign in"));
  view.append(form);
  input.focus();
}

async function batchesView(signal) {
  view.append(el("h1", {}, "Batches"));
  const holder = el("div");
  view.append(holder);
  let cursor = null;
  const rows = [];
  const more = el("button", {type: "button"}, "Show older batches");
  const render = () => {
    clear(holder).append(rows.length === 0
      ? el("p", {}, "No batch yet. ", el("a", {href: "#/submit"}, "Submit one"), ".")
      : el("table.list", {},
        el("caption", {}, "Newest first"),
        el("thead", {}, el("tr", {}, ["Batch", "Submitted", "Submitter",
          "Case", "Lines", "Progress", "State"].map((h) =>
          el("th", {scope: "col"}, h)))),
        el("tbody", {}, rows.map((b) => el("tr", {},
          el("td", {}, el("a", {href: `#/batch/${b.batch_id}`},
            `Batch ${b.batch_id}`)),
          el("td", {}, formatTime(b.submitted_at)),
          el("td", {}, b.submitter || "—"),
          el("td", {}, b.case_reference || "—"),
          el("td.num", {}, String(b.lines)),
          el("td", {}, el("progress", {max: 1, value: b.progress},
            `${Math.round(b.progress * 100)} %`),
          ` ${Math.round(b.progress * 100)} %`),
          el("td", {}, b.complete ? "complete" : "running"))))));
    if (cursor) holder.append(more);
  };
  const load = async () => {
    const page = await json("/batches?limit=50" +
      (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""), {signal});
    rows.push(...page.batches);
    cursor = page.next_cursor;
    render();
  };
  more.addEventListener("click", () => load().catch(report));
  await load();
}

// Shows `hash`, also when it is the current one (no hashchange then).
export function go(hash) {
  if (location.hash === hash) {
    route();
  } else {
    location.hash = hash;
  }
}

function report(e) {
  if (e.name === "AbortError") return;
  announce(e.message, "error");
}

async function route() {
  current.abort();
  current = new AbortController();
  const signal = current.signal;
  clear(view);
  const hash = location.hash || "#/batches";
  const [path, queryText] = hash.slice(1).split("?");
  const params = new URLSearchParams(queryText || "");
  if (!session.token || !session.name) {
    if (session.token && !session.name) {
      try {
        await signIn(session.token);
      } catch {
        // falls through to the sign-in form
      }
    }
    if (!session.name) {
      signInView();
      return;
    }
  }
  if (path === "/signin") {
    location.hash = "#/batches";
    return;
  }
  let m;
  try {
    if (path === "/batches") {
      await batchesView(signal);
    } else if (path === "/submit") {
      submitView(view);
    } else if ((m = path.match(/^\/batch\/(\d+)$/))) {
      await batchView(view, Number(m[1]), params, signal);
    } else if ((m = path.match(/^\/batch\/(\d+)\/line\/(\d+)$/))) {
      await lineView(view, Number(m[1]), Number(m[2]), signal);
    } else {
      view.append(el("h1", {}, "Not found"),
        el("p", {}, el("a", {href: "#/batches"}, "Back to the batches")));
    }
  } catch (e) {
    report(e);
  }
}

window.addEventListener("hashchange", () => {
  announce("");
  route().then(() => view.focus({preventScroll: true}));
});
// A 401 after signing in: the token was revoked or the file replaced.
window.addEventListener("hl-unauthorized", () => {
  if (!session.name) return;
  session.clear();
  session.name = "";
  showSession();
  announce("The token was refused (revoked?): sign in again.", "error");
  go("#/signin");
});
document.getElementById("signout").addEventListener("click", signOut);
route();
