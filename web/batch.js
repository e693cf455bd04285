// One batch: progress by state (polled every 1.5 s until complete), the
// hosting chart, the results table (server-side filter, sort and paging,
// the state kept in the route's query), re-check, referral packages and the
// signed export.
import {download, json, query, saveBlob, call, session} from "./api.js";
import {barChart} from "./chart.js";
import {announce, append, clear, el, formatDuration, formatTime, urlCell}
  from "./dom.js";

const POLL_MS = 1500;
const ROWS_SETTLE_MS = 2500;
const PAGE = 50;
const FILTERS = ["country", "provider", "cdn", "status", "error_class",
  "event", "state", "q"];
const SORTABLE = {
  line: "Line", url: "URL", status: "Status", country: "Country",
  provider: "Provider", error_class: "Error", confidence: "Confidence",
  checked_at: "Checked",
};

export async function batchView(view, id, params, signal) {
  const state = {
    sort: params.get("sort") || "line",
    order: params.get("order") === "desc" ? "desc" : "asc",
    offset: Number(params.get("offset")) || 0,
  };
  for (const f of FILTERS) state[f] = params.get(f) || "";

  const progress = el("section.progress", {"aria-labelledby": "progress-h"});
  // A live region that persists across redraws and changes only every 10 %
  // and at the end, so a screen reader hears the progress without chatter.
  const spoken = el("p.sr-only", {"aria-live": "polite", id: "progress-live"});
  const charts = el("section.charts", {"aria-labelledby": "charts-h"});
  const filters = el("form.filters", {"aria-label": "Filter the results"});
  const results = el("div.results");
  const packages = el("section", {"aria-labelledby": "packages-h"});
  const actions = el("div.actions");
  const meta = el("p.meta");
  view.append(
    el("h1", {}, `Batch ${id}`), meta, actions,
    el("div.overview", {},
      el("div", {}, el("h2", {id: "progress-h"}, "Progress"), progress,
        spoken),
      el("div", {}, el("h2", {id: "charts-h"}, "Where it is hosted"), charts)),
    el("h2", {id: "results-h"}, "Results"), filters, results,
    el("h2", {id: "packages-h"}, "Referral packages"), packages);

  const can = (role) => session.roles.includes(role) ||
    session.roles.includes("admin");
  actions.append(
    el("button", {type: "button", disabled: !can("submit"),
      on: {click: () => recheckBatch(id).then(() => startPolling()).catch(fail)}},
    "Re-check the batch now"),
    el("button", {type: "button", disabled: !can("export"),
      on: {click: () => signedExport(id, "csv").catch(fail)}},
    "Download signed export (CSV)"),
    el("button", {type: "button", disabled: !can("export"),
      on: {click: () => signedExport(id, "jsonl").catch(fail)}},
    "Download signed export (JSON Lines)"));

  let status = null;
  let startPolling = () => {};
  let page = null;
  let filtersDrawn = false;

  const keepInRoute = () => {
    const q = query({...Object.fromEntries(FILTERS.map((f) => [f, state[f]])),
      sort: state.sort === "line" ? "" : state.sort,
      order: state.order === "asc" ? "" : state.order,
      offset: state.offset || ""});
    history.replaceState(null, "", `#/batch/${id}${q}`);
  };

  // Only the newest request draws: an older answer (a poll under way when
  // the filter changed) is dropped.
  let rowsRequest = 0;
  const loadRows = async () => {
    const mine = ++rowsRequest;
    const answer = await json(`/batches/${id}/rows` + query({
      ...Object.fromEntries(FILTERS.map((f) => [f, state[f]])),
      sort: state.sort, order: state.order, offset: state.offset,
      limit: PAGE,
    }), {signal});
    if (mine !== rowsRequest) return;
    page = answer;
    drawCharts(charts, page.facets);
    if (!filtersDrawn) {
      drawFilters(filters, page.facets, state, apply);
      filtersDrawn = true;
    } else {
      refreshFilterMenus(filters, page.facets, state);
    }
    // Redrawing keeps the keyboard focus on the same sort button.
    const focused = document.activeElement?.closest("#results th[data-sort]");
    drawRows(results, id, page, state, {sortBy, pageTo});
    if (focused) {
      results.querySelector(`th[data-sort="${focused.dataset.sort}"] button`)
        ?.focus();
    }
  };
  const apply = () => {
    state.offset = 0;
    keepInRoute();
    loadRows().catch(fail);
  };
  const sortBy = (field) => {
    state.order = state.sort === field && state.order === "asc" ? "desc" : "asc";
    state.sort = field;
    state.offset = 0;
    keepInRoute();
    loadRows().then(() => {
      results.querySelector(`th[data-sort="${field}"] button`)?.focus();
    }).catch(fail);
  };
  const pageTo = (offset) => {
    state.offset = Math.max(0, offset);
    keepInRoute();
    loadRows().catch(fail);
  };
  const loadStatus = async () => {
    status = await json(`/batches/${id}`, {signal});
    meta.textContent = [
      `Submitted ${formatTime(status.submitted_at)}`,
      status.submitter ? `by ${status.submitter}` : "",
      status.case_reference ? `· case ${status.case_reference}` : "",
    ].filter(Boolean).join(" ");
    drawProgress(progress, status);
    const said = status.complete ? `Batch ${id} complete.`
      : `Batch ${id}: ${Math.floor(status.progress * 10) * 10} % finished.`;
    if (spoken.textContent !== said) spoken.textContent = said;
  };
  // The rows are fetched again only when the counts or the rate moved (the
  // rate is not 0 for ~30 s after any line finished, so a re-check done
  // between two polls still shows).
  let counted = "";
  const refresh = async () => {
    await loadStatus();
    const counts = JSON.stringify([status.states, status.outcomes,
      status.finished_per_s]);
    if (counts !== counted) {
      counted = counts;
      await loadRows();
    }
  };
  const fail = (e) => {
    if (e.name !== "AbortError") announce(e.message, "error");
  };

  await refresh();
  loadPackages(packages, id, can("export"), signal).catch(fail);
  // Polls every 1.5 s while the batch runs and stops when it is complete;
  // a re-check from this page starts it again.
  let polling = false;
  const poll = async () => {
    if (signal.aborted) return;
    try {
      await refresh();
    } catch (e) {
      fail(e);
    }
    if (status.complete) {
      polling = false;
      // The server rebuilds a running batch's rows at most every 2 s
      // (docs/api.md): one more read after that shows the last results.
      setTimeout(() => {
        if (!signal.aborted) loadRows().catch(fail);
      }, ROWS_SETTLE_MS);
      loadPackages(packages, id, can("export"), signal).catch(fail);
    } else if (!signal.aborted) {
      setTimeout(poll, POLL_MS);
    }
  };
  startPolling = () => {
    if (polling || signal.aborted) return;
    polling = true;
    setTimeout(poll, POLL_MS);
  };
  if (!status.complete) startPolling();
}

function drawProgress(holder, s) {
  const states = s.states || {};
  const outcomes = s.outcomes || {};
  const counts = [
    ["Queued", states.pending || 0],
    ["In flight", states.in_flight || 0],
    ["Located", outcomes.located || 0],
    ["Unresolved", outcomes.unresolved || 0],
    ["Error", (outcomes.error || 0) + (states.dead || 0)],
    ["Rejected", states.rejected || 0],
  ];
  const percent = Math.round((s.progress || 0) * 100);
  const rate = s.finished_per_s || 0;
  clear(holder).append(
    el("p.progress-line", {},
      el("progress", {max: 1, value: s.progress || 0,
        "aria-label": "Share of lines finished"}, `${percent} %`),
      el("strong", {id: "progress-text"},
        s.complete ? `Complete: ${s.lines} lines` :
          `${percent} % of ${s.lines} lines`)),
    el("dl.counts", {}, counts.map(([name, n]) => el("div", {
      class: "count count-" + name.toLowerCase().replace(" ", "-"),
    }, el("dt", {}, name), el("dd", {}, String(n))))),
    el("p.rate", {},
      s.complete ? "Nothing left to do." : rate > 0
        ? `${rate.toFixed(1)} lines/s · about ${formatDuration(s.eta_s)} left`
        : "No line finished in the last 30 s: waiting for a worker."));
}

function drawCharts(holder, facets) {
  clear(holder).append(
    barChart("Hosting countries", facets.country),
    barChart("Providers", facets.provider));
}

function option(value, label, selected) {
  return el("option", {value, selected: value === selected}, label);
}

function facetOptions(counts, selected, any) {
  const names = Object.keys(counts || {}).sort();
  if (selected && !names.includes(selected)) names.push(selected);
  return [option("", any, selected),
    ...names.map((n) => option(n, `${n} (${(counts || {})[n] ?? 0})`, selected))];
}

function labelled(id, label, control) {
  control.id = id;
  return el("div.field", {}, el("label", {for: id}, label), control);
}

function drawFilters(form, facets, state, apply) {
  const select = (name, options) => {
    const s = el("select", {name}, options);
    s.addEventListener("change", () => {
      state[name] = s.value;
      apply();
    });
    return s;
  };
  const history = el("select", {name: "history"},
    option("", "any", ""), option("event=moved", "moved", ""),
    option("state=down", "down now", ""), option("event=down", "ever down", ""),
    option("event=back_up", "back up", ""));
  history.value = state.event ? `event=${state.event}`
    : state.state ? `state=${state.state}` : "";
  history.addEventListener("change", () => {
    const [key, value] = history.value.split("=");
    state.event = key === "event" ? value : "";
    state.state = key === "state" ? value : "";
    apply();
  });
  const search = el("input", {type: "search", name: "q", value: state.q,
    autocomplete: "off"});
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.q = search.value.trim();
    apply();
  });
  clear(form).append(
    labelled("f-country", "Country",
      select("country", facetOptions(facets.country, state.country, "any"))),
    labelled("f-provider", "Provider",
      select("provider", facetOptions(facets.provider, state.provider, "any"))),
    labelled("f-cdn", "Behind a CDN",
      select("cdn", [option("", "any", state.cdn), option("yes", "yes", state.cdn),
        option("no", "no", state.cdn)])),
    labelled("f-status", "Status",
      select("status", facetOptions(facets.status, state.status, "any"))),
    labelled("f-error", "Error class",
      select("error_class",
        facetOptions(facets.error_class, state.error_class, "any"))),
    labelled("f-history", "History", history),
    labelled("f-q", "URL contains", search),
    el("div.field", {}, el("button", {type: "submit"}, "Search")));
}

// Keeps the menus' counts current while the batch runs, without moving the
// keyboard focus.
function refreshFilterMenus(form, facets, state) {
  for (const name of ["country", "provider", "status", "error_class"]) {
    const s = form.elements[name];
    if (!s || s === document.activeElement) continue;
    s.replaceChildren(...facetOptions(facets[name], state[name], "any"));
  }
}

function drawRows(holder, id, page, state, {sortBy, pageTo}) {
  const header = (field, label) => {
    if (!SORTABLE[field]) return el("th", {scope: "col"}, label);
    const sorted = state.sort === field;
    return el("th", {scope: "col", "data-sort": field,
      "aria-sort": sorted ? (state.order === "asc" ? "ascending" : "descending") : "none"},
    el("button.sort", {type: "button", on: {click: () => sortBy(field)}},
      label, sorted ? (state.order === "asc" ? " ▲" : " ▼") : ""));
  };
  const columns = [
    ["line", "Line"], ["url", "URL"], ["status", "Status"],
    ["country", "Country"], ["provider", "Provider"], ["cdn", "CDN"],
    ["error_class", "Error"], ["confidence", "Confidence"],
    ["history", "History"], ["checked_at", "Checked"],
  ];
  const first = page.total === 0 ? 0 : page.offset + 1;
  const last = page.offset + page.rows.length;
  clear(holder).append(
    el("table.results", {id: "results"},
      el("caption", {}, `Lines ${first}–${last} of ${page.total} matching`),
      el("thead", {}, el("tr", {}, columns.map(([f, l]) => header(f, l)))),
      el("tbody", {}, page.rows.map((r) => el("tr", {"data-line": r.line},
        el("td.num", {}, el("a", {href: `#/batch/${id}/line/${r.line}`,
          "aria-label": `Details of line ${r.line}`}, String(r.line))),
        el("td.url-cell", {}, urlCell(r.url)),
        el("td", {}, el("span", {class: "status status-" + r.status}, r.status),
          r.reason ? el("span.muted", {}, " " + r.reason) : null),
        el("td", {}, (r.countries && r.countries.length ? r.countries : [r.country])
          .filter(Boolean).join(", ") || "—"),
        el("td", {}, r.provider || "—"),
        el("td", {}, r.checked_at ? (r.cdn ? "yes" : "no") : "—"),
        el("td", {}, r.error_class || ""),
        el("td", {}, r.confidence || ""),
        el("td", {}, [...new Set([r.state, ...(r.events || [])])]
          .filter(Boolean).join(", ")),
        el("td.time", {}, formatTime(r.checked_at)))))),
    el("nav.pager", {"aria-label": "Result pages"},
      el("button", {type: "button", disabled: page.offset === 0,
        on: {click: () => pageTo(page.offset - PAGE)}}, "← Previous"),
      el("span", {}, ` Page ${Math.floor(page.offset / PAGE) + 1} of ` +
        `${Math.max(1, Math.ceil(page.total / PAGE))} `),
      el("button", {type: "button", disabled: last >= page.total,
        on: {click: () => pageTo(page.offset + PAGE)}}, "Next →")));
}

async function recheckBatch(id) {
  const r = await json(`/batches/${id}/recheck`, {method: "POST"});
  announce(`Re-check queued for ${r.queued} URLs (${r.skipped} already queued).`);
}

// The export, then its signed manifest (available once the body was sent
// whole), each saved as a file.
async function signedExport(id, format) {
  announce("Exporting…");
  const response = await call(`/batches/${id}/export?format=${format}`);
  const blob = await response.blob();
  const exportId = response.headers.get("X-Hostlocator-Export");
  const name = `batch-${id}.${format}`;
  saveBlob(blob, name);
  if (exportId) {
    await download(`/exports/${exportId}/manifest`, `${name}.manifest`);
  }
  announce(`Saved ${name} and ${name}.manifest (export ${exportId}).`);
}

async function loadPackages(holder, id, allowed, signal) {
  if (!allowed) {
    clear(holder).append(el("p.muted", {},
      "Downloading referral packages needs the export role."));
    return;
  }
  let index;
  try {
    index = await json(`/batches/${id}/referrals/index.json`, {signal});
  } catch (e) {
    if (e.status === 404) {
      clear(holder).append(el("p.muted", {}, "No package yet."));
      return;
    }
    throw e;
  }
  const files = (p) => p.files.map((f) => f.path.split("/").pop());
  append(clear(holder), [
    index.lines_pending ? el("p.muted", {},
      `${index.lines_pending} lines are still being checked; ` +
      "download again when the batch is complete.") : null,
    el("table.packages", {},
      el("caption", {}, "One package per jurisdiction"),
      el("thead", {}, el("tr", {}, ["Package", "Lines", "Referral targets",
        "Download"].map((h) => el("th", {scope: "col"}, h)))),
      el("tbody", {}, index.packages.map((p) => el("tr", {},
        el("th", {scope: "row"}, p.key),
        el("td.num", {}, String(p.lines)),
        el("td", {}, (p.referral_targets || []).map((t) => t.name).join(", ") || "—"),
        el("td.downloads", {}, files(p).map((name) => el("button", {type: "button",
          "data-file": name,
          on: {click: () => download(`/batches/${id}/referrals/${name}`,
            `batch-${id}-${name}`).then(() => announce(`Saved batch-${id}-${name}.`))
            .catch((e) => announce(e.message, "error"))}},
        name)))))))]);
}
