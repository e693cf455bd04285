// Submitting a batch: pasted lines or an uploaded text/CSV file (url,
// referer, user_agent columns), a case reference and a maximum result age.
// The 201 answer's rejected lines are listed by line number at once.
import {json, query} from "./api.js";
import {announce, append, clear, el, table} from "./dom.js";

export function submitView(view) {
  const text = el("textarea", {
    id: "urls", rows: 10, spellcheck: "false", autocomplete: "off",
    "aria-describedby": "urls-help",
  });
  const file = el("input", {id: "file", type: "file",
    accept: ".txt,.csv,text/plain,text/csv"});
  const caseRef = el("input", {id: "case", type: "text", autocomplete: "off"});
  const maxAge = el("input", {id: "max-age", type: "text", autocomplete: "off",
    placeholder: "7d", "aria-describedby": "max-age-help"});
  const answer = el("section", {"aria-live": "polite", id: "submit-answer"});
  const button = el("button.primary", {type: "submit"}, "Submit batch");

  const form = el("form.card", {
    on: {
      submit: async (event) => {
        event.preventDefault();
        const chosen = file.files[0];
        if (!chosen && text.value.trim() === "") {
          announce("Paste URLs or choose a file first.", "error");
          text.focus();
          return;
        }
        let body;
        const headers = {};
        if (chosen) {
          body = new FormData();
          body.append("file", chosen, chosen.name);
        } else {
          body = text.value;
          headers["Content-Type"] = "text/plain; charset=utf-8";
        }
        button.disabled = true;
        try {
          const result = await json("/batches" + query({
            case: caseRef.value.trim(), max_age: maxAge.value.trim(),
          }), {method: "POST", body, headers});
          showAnswer(answer, result);
          // The answer is below the form: bring it, and the keyboard, there.
          const heading = answer.querySelector("h2");
          heading.scrollIntoView({block: "start"});
          heading.focus({preventScroll: true});
          announce(`Batch ${result.batch_id} submitted: ${result.accepted} ` +
            `accepted, ${result.rejected} rejected.`);
        } catch (e) {
          announce(e.message, "error");
        } finally {
          button.disabled = false;
        }
      },
    },
  },
    el("h1", {}, "Submit a batch"),
    el("label", {for: "urls"}, "URLs, one a line (or CSV with a url column)"),
    text,
    el("p.help", {id: "urls-help"},
      "CSV columns: url, and optionally referer and user_agent. " +
      "Lines are numbered from 1 as pasted."),
    el("label", {for: "file"}, "…or upload a text or CSV file"),
    file,
    el("div.row", {},
      el("div", {},
        el("label", {for: "case"}, "Case reference"),
        caseRef),
      el("div", {},
        el("label", {for: "max-age"}, "Maximum result age"),
        maxAge,
        el("p.help", {id: "max-age-help"},
          "Reuse results younger than this (0, 30s, 15m, 12h, 7d); " +
          "empty: the coordinator's setting."))),
    button);
  view.append(form, answer);
  text.focus();
}

function showAnswer(holder, result) {
  append(clear(holder), [
    el("h2", {tabindex: -1}, `Batch ${result.batch_id}`),
    el("p", {}, `${result.lines} lines: ${result.accepted} accepted ` +
      `(${result.new_jobs} new URLs, ${result.reused_jobs} already known), ` +
      `${result.rejected} rejected. `,
      el("a", {href: `#/batch/${result.batch_id}`}, "Watch the batch")),
    result.rejections.length === 0 ? null : table(
      "Rejected lines", [
        ["Line", (r) => String(r.line)],
        ["Input", (r) => el("code", {}, r.input)],
        ["Reason", (r) => r.reason],
        ["Detail", (r) => r.detail || ""],
      ], result.rejections, "rejections")]);
}
