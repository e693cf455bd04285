// Horizontal bar charts drawn as inline SVG from the facets of the rows
// endpoint (counts over the whole batch). Geometry only through SVG
// attributes: the CSP allows no inline style.
import {el, svg} from "./dom.js";

const BAR = 22;
const GAP = 6;
const LABEL = 130;
const WIDTH = 380;
const TOP = 8;

// `counts` {name: n}; the `limit` largest are drawn, the rest summed as
// "others". The chart's text alternative lists every drawn bar.
export function barChart(title, counts, limit = 8) {
  const entries = Object.entries(counts || {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = entries.slice(0, limit);
  const others = entries.slice(limit).reduce((sum, [, n]) => sum + n, 0);
  if (others > 0) shown.push([`${entries.length - limit} others`, others]);
  const figure = el("figure.chart");
  figure.append(el("figcaption", {}, title));
  if (shown.length === 0) {
    figure.append(el("p.muted", {}, "nothing yet"));
    return figure;
  }
  const max = Math.max(...shown.map(([, n]) => n));
  const height = TOP + shown.length * (BAR + GAP);
  const summary = shown.map(([name, n]) => `${name}: ${n}`).join(", ");
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height,
    role: "img", "aria-label": `${title}: ${summary}`,
  });
  chart.append(svg("title", {}, `${title}: ${summary}`));
  shown.forEach(([name, n], i) => {
    const y = TOP + i * (BAR + GAP);
    const barWidth = Math.max(2, ((WIDTH - LABEL - 60) * n) / max);
    const label = name.length > 18 ? name.slice(0, 17) + "…" : name;
    chart.append(
      svg("text", {x: LABEL - 8, y: y + BAR / 2, "text-anchor": "end",
        "dominant-baseline": "central", class: "chart-label"}, label),
      svg("rect", {x: LABEL, y, width: barWidth, height: BAR, rx: 3,
        class: "chart-bar"}),
      svg("text", {x: LABEL + barWidth + 6, y: y + BAR / 2,
        "dominant-baseline": "central", class: "chart-value"}, String(n)));
  });
  figure.append(chart);
  return figure;
}
