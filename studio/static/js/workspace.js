// The workspace page: every task file, notes file, labels file, data folder, run, model and
// output in the workspace folder, each with its status.

import { h, replace } from "./dom.js";
import { guarded, workspace } from "./ui.js";

const SECTIONS = [
  ["task", "Task files", "What to extract: the labels or fields, and the prompt."],
  ["notes", "Notes", "CSV, JSONL or folders of .txt notes to label or to extract from."],
  ["labels", "Labels", "Answers given by hand in the studio (labels/), read by `mlxmed data`."],
  ["data", "Data folders", "Notes checked and split for training."],
  ["run", "Training runs", "Fine-tuned adapters with their validation metric."],
  ["curve", "Learning curves", "Test score against the number of training notes."],
  ["model", "Base models", "Converted models to fine-tune."],
  ["gguf", "GGUF models", "Exported models for extraction (and for pre-filling answers)."],
  ["output", "Extraction outputs", "Rows written by `mlxmed extract`."],
  ["report", "Reports", "Evaluation reports."],
  ["unreadable", "Could not be read", "Files that look like mlxmed files but failed to load."],
];

function actions(entry) {
  const go = (hash) => h("a", { href: hash }, hash.includes("label") ? "label" : hash.includes("train") ? "train" : hash.includes("review") ? "review" : "open");
  const path = encodeURIComponent(entry.path);
  if (entry.kind === "task" && entry.status === "ok") return go(`#/label?task=${path}`);
  if (entry.kind === "notes") return go(`#/label?notes=${path}`);
  if (entry.kind === "labels") return go(`#/train?labels=${path}`);
  if (entry.kind === "output") return go(`#/review?output=${path}`);
  if (entry.kind === "report" || entry.kind === "curve") return go(`#/reports?path=${path}`);
  if (entry.kind === "run" && entry.details.resumable) return go(`#/train?resume=${path}`);
  return null;
}

export async function render(view) {
  const listing = await workspace();
  const body = [h("h1", {}, "Workspace"),
    h("p", { class: "muted" }, "Folder: ", h("span", { class: "path" }, listing.root),
      " · ", h("button", { type: "button", onclick: () => guarded(() => render(view)) }, "Refresh"))];
  for (const [kind, title, about] of SECTIONS) {
    const entries = listing.entries.filter((e) => e.kind === kind);
    if (!entries.length && kind === "unreadable") continue;
    body.push(h("h2", {}, `${title} (${entries.length})`), h("p", { class: "muted small" }, about));
    if (!entries.length) { body.push(h("p", { class: "muted" }, "None yet.")); continue; }
    body.push(h("table", { class: "entries", dataset: { kind } },
      h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "status"), h("th", {}, "what"), h("th", {}, "path"), h("th", {}, ""))),
      h("tbody", {}, entries.map((entry) => h("tr", {},
        h("td", {}, entry.name),
        h("td", {}, h("span", { class: `badge ${entry.status.replace(/\s+/g, "-")}` }, entry.status)),
        h("td", {}, entry.summary),
        h("td", { class: "path small" }, entry.path),
        h("td", {}, actions(entry)))))));
  }
  replace(view, ...body);
}
