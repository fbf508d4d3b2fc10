// Small SVG line charts drawn here (no chart library): training loss, the validation metric,
// and the learning curve (score against training notes, zero-shot as a dashed line).

import { svg } from "./dom.js";

const W = 460, H = 230, L = 48, R = 14, T = 22, B = 38;

function ticks(lo, hi, count = 5) {
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step / 1e6; v += step) out.push(Number(v.toFixed(10)));
  return out;
}

function fmt(value) {
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.01 || abs >= 10000)) return value.toExponential(1);
  return String(Number(value.toFixed(3)));
}

export function lineChart({ title, series, xLabel, yLabel, yMin = null, yMax = null, baseline = null }) {
  const points = series.flatMap((s) => s.points);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]).concat(baseline === null ? [] : [baseline]);
  let x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1);
  if (x0 === x1) x1 = x0 + 1;
  let y0 = yMin ?? Math.min(...ys), y1 = yMax ?? Math.max(...ys);
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) { y0 = 0; y1 = 1; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const Y = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);

  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  chart.append(svg("title", {}, title));
  chart.append(svg("text", { x: L, y: 14 }, title));
  for (const t of ticks(y0, y1)) {
    chart.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: Y(t), y2: Y(t) }));
    chart.append(svg("text", { x: L - 6, y: Y(t) + 4, "text-anchor": "end" }, fmt(t)));
  }
  for (const t of ticks(x0, x1, 6)) {
    chart.append(svg("text", { x: X(t), y: H - B + 15, "text-anchor": "middle" }, fmt(t)));
  }
  chart.append(svg("g", { class: "axis" },
    svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { x1: L, x2: L, y1: T, y2: H - B })));
  chart.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, xLabel));
  chart.append(svg("text", { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle" }, yLabel));
  if (baseline !== null) {
    chart.append(svg("line", { class: "baseline", x1: L, x2: W - R, y1: Y(baseline), y2: Y(baseline) },
      svg("title", {}, `zero-shot: ${fmt(baseline)}`)));
  }
  series.forEach((s, index) => {
    const extra = index ? " second" : "";
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    if (sorted.length > 1) {
      chart.append(svg("path", { class: `series${extra}`, d: sorted.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(" ") }));
    }
    for (const [x, y] of sorted) {
      chart.append(svg("circle", { class: `dot${extra}`, cx: X(x), cy: Y(y), r: 3.5 },
        svg("title", {}, `${s.label}: ${fmt(y)} at ${fmt(x)}`)));
    }
  });
  return chart;
}

// a learning curve: the mean score per N, zero-shot (N = 0) as the dashed baseline
export function curveChart(rows, metric) {
  const trained = rows.filter((r) => r.n > 0).map((r) => [r.n, r.mean ?? r.value]);
  const zero = rows.find((r) => r.n === 0);
  return lineChart({
    title: `Learning curve: test ${metric || "score"} against training notes`,
    series: [{ label: "fine-tuned", points: trained }],
    xLabel: "training notes (N)", yLabel: metric || "score", yMin: 0, yMax: 1,
    baseline: zero ? (zero.mean ?? zero.value) : null,
  });
}
