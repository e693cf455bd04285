// DOM helpers. Every value from the server (URLs, headers, names from
// reported sites) reaches the page through textContent or an attribute set
// here, never as markup: the UI parses no HTML at all.

const SVG_NS = "http://www.w3.org/2000/svg";

// el("tag.class1.class2", {attr: value, on: {click: fn}}, ...children):
// children are nodes, strings (text) or null/false (skipped).
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag);
  return fill(node, classes, attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), [], attrs, children);
}

function fill(node, classes, attrs, children) {
  if (classes.length) node.classList.add(...classes);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "on") {
      for (const [event, fn] of Object.entries(value)) {
        node.addEventListener(event, fn);
      }
    } else if (value === true) {
      node.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

// The URL made unclickable and unresolvable when pasted: http -> hxxp,
// ftp -> fxp, and every dot of the host as [.] (as the referral packages
// print URLs, coordinator/html_text.h DefangUrl).
export function defang(url) {
  let rest = url;
  let out = "";
  const sep = url.indexOf("://");
  if (sep >= 0) {
    const scheme = url.slice(0, sep);
    const lower = scheme.toLowerCase();
    if (lower.startsWith("http")) {
      out = scheme[0] + "xx" + scheme.slice(3);
    } else if (lower.startsWith("ftp")) {
      out = scheme[0] + "x" + scheme.slice(2);
    } else {
      out = scheme;
    }
    out += "://";
    rest = url.slice(sep + 3);
  }
  const end = rest.search(/[/?#]/);
  const host = end < 0 ? rest : rest.slice(0, end);
  return out + host.replaceAll(".", "[.]") + (end < 0 ? "" : rest.slice(end));
}

// Announces `text` in the page's polite live region (and so to screen
// readers); kind "error" marks it as an alert.
export function announce(text, kind = "info") {
  const region = document.getElementById("announce");
  region.classList.toggle("error", kind === "error");
  region.textContent = text;
}

// Copies text to the clipboard; where the Clipboard API is not available
// (a plain-HTTP address other than loopback) through a selected text area.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // fall through
  }
  const area = el("textarea.offscreen", {"aria-hidden": "true"}, text);
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

// A URL of a reported site: text only, never a link, with a button that
// copies it defanged.
export function urlCell(url) {
  if (!url) return el("span.muted", {}, "—");
  return el("span.url", {},
    el("code.url-text", {}, url), " ",
    el("button.copy", {
      type: "button",
      title: "Copy the URL defanged (hxxp, [.])",
      "aria-label": "Copy defanged: " + defang(url),
      on: {
        click: async () => {
          const text = defang(url);
          await copyText(text);
          announce("Copied " + text);
        },
      },
    }, "copy"));
}

// "2026-11-29T13:39:01.123Z" as "2026-11-29 13:39:01Z".
export function formatTime(text) {
  if (!text) return "—";
  return text.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) {
    return "unknown";
  }
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// A table with a caption, `th scope=col` headers and one row per item;
// `columns` are [heading, item => cell content].
export function table(caption, columns, items, cls = "") {
  return el("table" + (cls ? "." + cls : ""), {},
    el("caption", {}, caption),
    el("thead", {}, el("tr", {},
      columns.map(([heading]) => el("th", {scope: "col"}, heading)))),
    el("tbody", {}, items.map((item) => el("tr", {},
      columns.map(([, cell]) => el("td", {}, cell(item)))))));
}

// Any JSON value as nested definition lists, for the parts of a record
// without a table of their own.
export function valueView(value) {
  if (value === null || value === undefined) return el("span.muted", {}, "—");
  if (Array.isArray(value)) {
    if (value.length === 0) return el("span.muted", {}, "none");
    if (value.every((v) => typeof v !== "object" || v === null)) {
      return value.join(", ");
    }
    return el("ol.values", {}, value.map((v) => el("li", {}, valueView(v))));
  }
  if (typeof value === "object") {
    return el("dl.values", {}, Object.entries(value).map(([k, v]) => [
      el("dt", {}, k), el("dd", {}, valueView(v))]));
  }
  return String(value);
}
