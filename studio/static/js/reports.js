// The reports page: evaluation reports (report.html, shown as it is in a sandboxed frame: no
// script can run in it) and learning curves (curve.json, drawn here).

import { get } from "./api.js";
import { curveChart } from "./chart.js";
import { h, number, replace, select } from "./dom.js";
import { entriesOf, guarded, hashParams, workspace } from "./ui.js";

export async function render(view) {
  const listing = await workspace();
  const params = hashParams();
  const items = entriesOf(listing, "report", "curve");
  const chooser = select("report", [["", "— choose a report or a learning curve —"],
    ...items.map((item) => [item.path, `${item.kind === "curve" ? "curve" : "report"}: ${item.path} (${item.summary})`])],
  params.path || "");
  const shown = h("section", { id: "report-view" });
  const showChosen = () => guarded(async () => {
    const item = items.find((i) => i.path === chooser.value);
    if (!item) { replace(shown); return; }
    if (item.kind === "curve") await showCurve(shown, item);
    else showReport(shown, item);
  });
  chooser.addEventListener("change", showChosen);
  replace(view, h("h1", {}, "Reports"),
    items.length ? h("div", { class: "setup" }, chooser) : h("p", { class: "muted" }, "No reports or learning curves in the workspace yet: evaluate a reviewed output, or run a learning curve."),
    shown);
  if (chooser.value) await showChosen();
}

function showReport(shown, item) {
  const frame = h("iframe", {
    class: "report-frame", id: "report-frame", title: `Report ${item.path}`,
    sandbox: "", referrerpolicy: "no-referrer",
    src: `/report?path=${encodeURIComponent(item.path)}`,
  });
  replace(shown, h("p", { class: "muted small" }, "The report as `mlxmed evaluate` wrote it: ", h("span", { class: "path" }, `${item.path}/report.html`)), frame);
}

const BASELINES = { majority: "majority label", tfidf_logreg: "TF-IDF + LR", all_null: "all null", most_frequent: "most frequent" };

async function showCurve(shown, item) {
  const curve = await get("/api/curve", { path: item.path });
  const metric = curve.rows.length ? curve.rows[0].metric : "score";
  // classic baselines trained on the same notes (curves written before they existed have none)
  const names = [...new Set(curve.rows.flatMap((row) => Object.keys(row.baselines || {})))];
  replace(shown,
    h("div", { class: "charts" }, curveChart(curve.rows, metric)),
    h("table", { id: "curve-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "training notes (N)"), h("th", {}, `mean ${metric}`), h("th", {}, "sd"), h("th", {}, "runs"),
        names.map((name) => h("th", {}, BASELINES[name] || name)))),
      h("tbody", {}, curve.rows.map((row) => h("tr", {},
        h("td", {}, row.n === 0 ? "0 (zero-shot)" : String(row.n)), h("td", {}, number(row.mean)),
        h("td", {}, number(row.sd)), h("td", {}, String(row.runs)),
        names.map((name) => h("td", {}, row.baselines && name in row.baselines ? number(row.baselines[name]) : "")))))),
    names.length ? h("p", { class: "muted small" }, "Baselines are trained on the same notes and scored on the same test split: fine-tuning is worth it where it beats them.") : null);
}
