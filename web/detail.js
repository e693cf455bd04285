// One line's whole observation (GET /api/v1/batches/ID/lines/N): DNS chain,
// addresses, redirect hops, TLS, headers, providers, verdict, referral,
// RDAP and the history of checks. Every value is text.
import {json, session} from "./api.js";
import {announce, append, el, formatTime, table, urlCell, valueView}
  from "./dom.js";

const dash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));

export async function lineView(view, id, line, signal) {
  const body = await json(`/batches/${id}/lines/${line}`, {signal});
  const r = body.record || {};
  const can = session.roles.includes("submit") || session.roles.includes("admin");
  const sections = [
    section("Verdict", verdict(r.verdict)),
    section("DNS", dns(r.dns)),
    section("Addresses", addresses(r.addresses, r.pinned_ip, r.dns && r.dns.ptr)),
    section("Redirects", redirects(r.redirects, r.redirect_error)),
    section("HTTP", http(r.http)),
    section("TLS certificate", r.http && r.http.tls ? valueView(r.http.tls)
      : el("p.muted", {}, "no certificate (http:// URL or no answer)")),
    section("Headers", headers(r.http)),
    section("Providers and CDNs", providers(r.providers)),
    section("Referral", referral(r.verdict, r)),
    section("Registration and RDAP", el("div", {},
      el("h3", {}, "Registration"), valueView(r.registration),
      el("h3", {}, "RDAP"), valueView(r.rdap))),
    section("History of checks", history(body.history)),
    section("Data sources", el("div", {}, valueView(r.data_sources),
      r.warnings && r.warnings.length ? el("p.warn", {}, r.warnings.join(" ")) : null)),
  ];
  append(view, [
    el("p", {}, el("a", {href: `#/batch/${id}`}, `← Batch ${id}`)),
    el("h1", {}, `Line ${line}`),
    el("div.url-head", {}, urlCell(r.url || r.input)),
    el("p", {},
      el("span", {class: "status status-" + r.status}, dash(r.status)),
      r.reason ? ` ${r.reason}` : "",
      r.error ? ` · ${r.error.class}: ${dash(r.error.message)}` : "",
      ` · checked ${formatTime(r.checked_at)} by ${dash(r.worker)}`),
    el("div.actions", {}, el("button", {type: "button", disabled: !can,
      on: {
        click: async () => {
          try {
            const q = await json(`/batches/${id}/lines/${line}/recheck`,
              {method: "POST"});
            announce(q.queued
              ? `Line ${line} is queued for a new check.`
              : `Line ${line} is already queued.`);
          } catch (e) {
            announce(e.message, "error");
          }
        },
      }}, "Re-check this URL now")),
    // Buttons, not #fragment links: the fragment is the route.
    el("nav.toc", {"aria-label": "Sections of this line"},
      sections.map((s) => el("button", {type: "button", on: {click: () => {
        s.scrollIntoView();
        s.querySelector("h2").focus({preventScroll: true});
      }}}, s.querySelector("h2").textContent))),
    sections]);
}

function section(title, content) {
  const id = "s-" + title.toLowerCase().replace(/[^a-z]+/g, "-");
  return el("section.detail", {"aria-labelledby": id},
    el("h2", {id, tabindex: -1}, title), content);
}

function verdict(v) {
  if (!v) return el("p.muted", {}, "no verdict");
  return el("div", {},
    el("p", {}, "Hosting countries: ",
      el("strong", {}, (v.hosting_countries || []).join(", ") || "none"),
      v.jurisdiction ? ` · ${v.jurisdiction.attribution}, confidence ` +
        v.jurisdiction.confidence : ""),
    el("h3", {}, "Reasons"),
    el("ul", {}, (v.reasons || []).map((x) => el("li", {},
      typeof x === "string" ? x : valueView(x)))),
    el("details", {}, el("summary", {}, "The whole verdict"), valueView(v)));
}

function dns(d) {
  if (!d) return el("p.muted", {}, "no DNS lookup (IP address or .onion host)");
  return el("div", {},
    el("p", {}, "Chain: ", el("code", {}, (d.cname_chain || []).join(" → "))),
    d.error ? el("p.warn", {}, `${d.error.class}: ${dash(d.error.message)}`) : null,
    table("Answers", [
      ["Address", (a) => el("code", {}, a.ip)],
      ["TTL (s)", (a) => dash(a.ttl)],
    ], d.addresses || []),
    table("Queries", [
      ["Name", (q) => el("code", {}, q.name)],
      ["Type", (q) => dash(q.type)],
      ["Resolver", (q) => dash(q.resolver)],
      ["Rcode", (q) => dash(q.rcode)],
      ["Sent", (q) => formatTime(q.sent_at)],
      ["Time (ms)", (q) => q.elapsed_ms === undefined ? "—" : q.elapsed_ms.toFixed(1)],
    ], d.queries || []),
    el("p", {}, `Name servers of ${dash(d.ns_domain)}: ${(d.ns || []).join(", ") || "—"}`),
    (d.per_resolver || []).length ? table("Per resolver", [
      ["Resolver", (p) => p.resolver],
      ["Addresses", (p) => (p.addresses || []).join(", ")],
      ["Error", (p) => dash(p.error_class)],
    ], d.per_resolver) : null,
    d.resolvers_disagree ? el("p.warn", {}, "The resolvers disagree.") : null);
}

function addresses(list, pinned, ptr) {
  if (!list || list.length === 0) return el("p.muted", {}, "no address");
  return table("Resolved addresses", [
    ["Address", (a) => el("code", {}, a.ip + (a.ip === pinned ? " (probed)" : ""))],
    ["Country", (a) => dash(a.country)],
    ["City", (a) => dash(a.city)],
    ["ASN", (a) => (a.asn ? `AS${a.asn}` : "—")],
    ["AS organisation", (a) => dash(a.as_org)],
    ["Network", (a) => dash(a.network)],
    ["RDAP country", (a) => dash(a.rdap_country)],
    ["Registry country", (a) => dash(a.registry_country)],
    ["PTR", (a) => ((ptr || []).find((p) => p.ip === a.ip)?.names || []).join(", ") || "—"],
  ], list);
}

function redirects(hops, error) {
  if ((!hops || hops.length === 0) && !error) {
    return el("p.muted", {}, "no redirect");
  }
  return el("div", {},
    el("ol.hops", {}, (hops || []).map((h) => el("li", {},
      urlCell(h.url),
      el("p", {}, `HTTP ${dash(h.http && h.http.status)} · countries `,
        ((h.addresses || []).map((a) => `${a.ip} ${dash(a.country)}` +
          (a.asn ? ` AS${a.asn}` : ""))).join("; ") || "—")))),
    error ? el("p.warn", {}, `${error.class}: ${dash(error.message)}`) : null);
}

function http(h) {
  if (!h) return el("p.muted", {}, "no HTTP probe");
  const t = h.timings || {};
  return el("dl.values", {},
    [["Status", h.status], ["Version", h.http_version],
      ["Connected to", h.connected_ip ? `${h.connected_ip}:${h.connected_port}` : null],
      ["Error", h.error ? `${h.error.class}: ${dash(h.error.message)}` : null],
      ["Time (ms)", h.elapsed_ms],
      ["Connect / TLS / first byte (ms)",
        [t.connect_ms, t.tls_ms, t.first_byte_ms].map((x) =>
          (x === null || x === undefined ? "—" : x.toFixed(1))).join(" / ")],
      ["Proxy", h.proxy],
      ["Header block SHA-256", h.header_block_sha256]]
      .map(([k, v]) => [el("dt", {}, k), el("dd", {}, dash(v))]));
}

function headers(h) {
  if (!h || !h.headers || h.headers.length === 0) {
    return el("p.muted", {}, "no response headers");
  }
  return table("Response headers, as received", [
    ["Name", ([name]) => el("code", {}, name)],
    ["Value", ([, value]) => el("code.wrap", {}, value)],
  ], h.headers);
}

function providers(list) {
  if (!list || list.length === 0) return el("p.muted", {}, "no provider recognised");
  return table("Recognised providers", [
    ["Name", (p) => p.name],
    ["Category", (p) => p.category],
    ["Country", (p) => dash(p.country)],
    ["Abuse contact", (p) => dash(p.abuse)],
    ["Evidence", (p) => el("ul", {}, (p.evidence || []).map((e) =>
      el("li", {}, `${e.kind}: `, el("code", {}, e.rule), " ← ",
        el("code.wrap", {}, e.value))))],
  ], list);
}

// The referral targets and abuse contacts: the routing's targets, the
// recognised providers' abuse contacts and the registrar's.
function referral(v, record) {
  const j = v && v.jurisdiction;
  if (!j) return el("p.muted", {}, "no referral target");
  const contacts = [
    ...(record.providers || []).filter((p) => p.abuse)
      .map((p) => `${p.name}: ${p.abuse}`),
    ...((record.rdap && record.rdap.networks) || []).filter((n) => n.abuse_email)
      .map((n) => `network ${dash(n.name)} (${n.ip}, RDAP): ${n.abuse_email}`),
    ...(record.registration && record.registration.abuse_email
      ? [`registrar ${dash(record.registration.registrar)}: ` +
         record.registration.abuse_email] : []),
  ];
  return el("div", {},
    el("p", {}, `Primary jurisdiction: ${(j.primary_countries || []).join(", ") || "none"}` +
      ` (${j.attribution})`),
    j.directory_unverified ? el("p.warn", {},
      "Referral directory not verified: check every target before referring.") : null,
    table("Referral targets", [
      ["Country", (t) => dash(t.country)],
      ["Kind", (t) => dash(t.kind)],
      ["Route", (t) => dash(t.route)],
      ["Name", (t) => dash(t.name)],
      ["Website", (t) => el("code", {}, dash(t.website))],
      ["E-mail", (t) => dash(t.email)],
      ["Phone", (t) => dash(t.phone)],
    ], j.referrals || []),
    el("h3", {}, "Abuse contacts"),
    contacts.length ? el("ul", {}, contacts.map((c) => el("li", {}, c)))
      : el("p.muted", {}, "none known"),
    (j.secondary || []).length ? table("Secondary jurisdictions", [
      ["Country", (s) => dash(s.country)],
      ["Role", (s) => s.role],
      ["Detail", (s) => dash(s.detail)],
    ], j.secondary) : null);
}

function history(h) {
  if (!h) return el("p.muted", {}, "no history");
  return el("div", {},
    h.summary ? el("p", {}, `State ${dash(h.summary.state)} · ` +
      `${dash(h.summary.checks)} checks · moved ${dash(h.summary.moved)} · ` +
      `down ${dash(h.summary.down)}`) : null,
    table("Checks", [
      ["Checked", (c) => formatTime(c.checked_at)],
      ["State", (c) => dash(c.state)],
      ["Countries", (c) => (c.countries || []).join(", ") || "—"],
      ["Reason", (c) => dash(c.reason)],
    ], h.checks || []),
    table("Events", [
      ["At", (e) => formatTime(e.at)],
      ["Event", (e) => e.kind],
      ["Changes", (e) => (e.changes || []).map((c) =>
        `${c.what} ${dash(c.from)} → ${dash(c.to)}`).join("; ") || dash(e.reason)],
    ], h.events || []));
}
