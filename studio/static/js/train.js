// The train page: fine-tune on the labelled notes (or compute the learning curve) with the
// model's recommended settings, shown and editable; follow the job as it runs (server-sent
// events: step, loss, metric, time left); stop it safely; resume an interrupted one.

import { get, post } from "./api.js";
import { curveChart, lineChart } from "./chart.js";
import { duration, h, labelled, number, replace, select } from "./dom.js";
import { entriesOf, guarded, hashParams, recall, remember, workspace } from "./ui.js";

let source = null;  // the EventSource of the job being followed

export function leave() {
  if (source) source.close();
  source = null;
}

const SETTINGS = [
  ["epochs", "Epochs", "passes over the training notes"],
  ["iters", "Steps", "instead of epochs"],
  ["min_steps", "Minimum steps", "never fewer, and no early stop before"],
  ["learning_rate", "Learning rate", ""],
  ["rank", "LoRA rank", ""],
  ["layers", "Layers", "the last N layers get adapters"],
];

export async function render(view) {
  const listing = await workspace();
  const params = hashParams();
  const tasks = entriesOf(listing, "task").filter((t) => t.status === "ok");
  const labels = entriesOf(listing, "labels", "notes");
  const models = entriesOf(listing, "model");
  const taskSelect = select("task", [["", "— choose a task file —"], ...tasks.map((t) => [t.path, `${t.name} (${t.path})`])], recall("train.task"));
  const labelsSelect = select("labels", [["", "— choose labelled notes —"], ...labels.map((l) => [l.path, `${l.path} (${l.summary.split(";")[0]})`])], params.labels || recall("train.labels"));
  const modelSelect = select("model", [["", "— choose a base model —"], ...models.map((m) => [m.path, `${m.name} (${m.summary})`])], recall("train.model"));
  const kindSelect = select("kind", [["train", "train one model"], ["curve", "learning curve"]], recall("train.kind") || "train");
  const sizes = h("input", { type: "text", name: "sizes", id: "sizes", value: recall("train.sizes") || "0,25,50,100" });
  const inputs = Object.fromEntries(SETTINGS.map(([key]) => [key, h("input", { type: "text", name: key, id: `setting-${key}`, inputmode: "decimal", size: "8" })]));
  // a budget typed in is the person's own: the default minimum no longer applies to it
  inputs.iters.addEventListener("input", () => { if (inputs.iters.value) inputs.epochs.value = inputs.min_steps.value = ""; });
  inputs.epochs.addEventListener("input", () => { if (inputs.epochs.value) inputs.iters.value = inputs.min_steps.value = ""; });
  const defaultsNote = h("p", { class: "muted small" }, "Choose a base model to see its recommended settings.");
  const loadDefaults = () => guarded(async () => {
    if (!modelSelect.value) return;
    const found = await get("/api/train/defaults", { model: modelSelect.value });
    for (const [key] of SETTINGS) inputs[key].value = found.settings[key] ?? "";
    defaultsNote.textContent = "The model's recommended settings (from the catalogue); change any of them.";
  });
  modelSelect.addEventListener("change", loadDefaults);
  const panel = h("section", { id: "job", "aria-live": "polite" });
  const runs = entriesOf(listing, "run", "curve").filter((r) => r.details.resumable || r.status === "interrupted");
  const start = () => guarded(async () => {
    for (const [key, el] of [["task", taskSelect], ["labels", labelsSelect], ["model", modelSelect], ["kind", kindSelect], ["sizes", sizes]]) remember(`train.${key}`, el.value);
    const settings = Object.fromEntries(SETTINGS.map(([key]) => [key, inputs[key].value]));
    const job = await post("/api/jobs/start", { kind: kindSelect.value, task: taskSelect.value, labels: labelsSelect.value, model: modelSelect.value, settings, sizes: sizes.value });
    follow(panel, job);
  });
  replace(view,
    h("h1", {}, "Train"),
    h("p", { class: "muted" }, "First the labelled notes are checked and split (as `mlxmed data` does), then the model is fine-tuned in a separate process. Stopping keeps the last checkpoint; the run can be resumed."),
    h("form", { onsubmit: (e) => { e.preventDefault(); start(); } },
      h("div", { class: "setup" },
        labelled("Task", taskSelect), labelled("Labelled notes", labelsSelect),
        labelled("Base model", modelSelect), labelled("What", kindSelect),
        labelled("Curve sizes", sizes, "training notes per point; 0 = zero-shot")),
      h("fieldset", {}, h("legend", {}, "Settings"), defaultsNote,
        h("div", { class: "setup" }, SETTINGS.map(([key, text, hint]) => labelled(text, inputs[key], hint)))),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "start-training" }, "Start"))),
    panel,
    runs.length ? h("section", {}, h("h2", {}, "Interrupted runs"),
      h("table", {}, h("tbody", {}, runs.map((run) => h("tr", {},
        h("td", { class: "path" }, run.path), h("td", {}, run.summary),
        h("td", {}, h("button", { type: "button", onclick: () => guarded(async () => follow(panel, await post("/api/jobs/resume", { path: run.path }))) }, "Resume"))))))) : null);
  if (modelSelect.value) await loadDefaults();
  const running = (await get("/api/jobs")).jobs.find((job) => job.running);
  if (params.resume) follow(panel, await post("/api/jobs/resume", { path: params.resume }));
  else if (running) follow(panel, running);
}

function follow(panel, job) {
  leave();
  const status = h("span", { class: "badge", id: "job-status" }, job.state.status);
  const phase = h("span", { id: "job-phase" }, job.state.phase);
  const bar = h("progress", { max: "1", value: "0", id: "job-progress" });
  const numbers = h("div", { class: "numbers" });
  const charts = h("div", { class: "charts" });
  const log = h("div", { class: "event-log", id: "event-log" });
  const stop = h("button", { type: "button", class: "danger", id: "stop-job", onclick: () => guarded(() => post("/api/jobs/cancel", { id: job.id })) }, "Stop (keeps the last checkpoint)");
  const message = h("p", { id: "job-message" });
  replace(panel, h("h2", {}, job.kind === "curve" ? "Learning curve" : "Training"),
    h("div", { class: "progress-panel" },
      h("div", { class: "status-line" }, status, phase, bar, stop),
      h("p", { class: "muted small" }, "Output: ", h("span", { class: "path" }, job.out_dir)),
      numbers, message, charts, h("details", {}, h("summary", {}, "Events"), log)));
  let received = 0;
  source = new EventSource(`/api/jobs/${encodeURIComponent(job.id)}/events`);
  source.onmessage = (event) => {
    const data = JSON.parse(event.data);
    received += data.events.length;
    draw(data.state, { status, phase, bar, numbers, charts, stop, message });
    log.prepend(h("div", {}, `${data.events.length} event(s): ${data.events.slice(-3).join(", ")} — ${received} so far`));
  };
  source.addEventListener("end", () => { if (source) source.close(); source = null; });
  source.onerror = () => { /* the browser reconnects by itself and resumes from the last id */ };
}

function draw(state, parts) {
  parts.status.textContent = state.status;
  parts.status.className = `badge ${state.status}`;
  parts.phase.textContent = state.phase;
  const total = state.total || 0;
  parts.bar.max = total || 1;
  parts.bar.value = total ? state.step : 0;
  parts.stop.disabled = !["starting", "running"].includes(state.status);
  const eta = state.eta_seconds !== null && state.status === "running" ? duration(state.eta_seconds) : "–";
  const metric = state.metric_name || "metric";
  const shown = [
    ["step", total ? `${state.step} of ${total}` : String(state.step), "job-step"],
    ["training loss", number(state.loss), "job-loss"],
    [`validation ${metric}`, number(state.metric), "job-metric"],
    [`best ${metric}`, number(state.best), "job-best"],
    ["time left", eta, "job-eta"],
  ];
  if (state.progress) shown.push(["scoring", `${state.progress.done} of ${state.progress.total}`, "job-scoring"]);
  replace(parts.numbers, shown.map(([what, value, id]) => h("div", {}, h("span", { class: "value", id }, value), h("span", { class: "what" }, what))));
  parts.message.textContent = state.message || "";
  parts.message.className = state.status === "failed" ? "error" : "muted";
  const charts = [];
  if (state.losses.length) {
    charts.push(lineChart({ title: "Training loss", series: [{ label: "loss", points: state.losses }], xLabel: "step", yLabel: "loss" }));
  }
  if (state.evals.length) {
    const zero = state.evals.find((e) => e.zero_shot);
    charts.push(lineChart({ title: `Validation ${metric}`, series: [{ label: metric, points: state.evals.filter((e) => !e.zero_shot).map((e) => [e.step, e.value]) }],
      xLabel: "step", yLabel: metric, yMin: 0, yMax: 1, baseline: zero ? zero.value : null }));
  }
  if (state.kind === "curve" && state.points.length) {
    charts.push(curveChart(state.points.map((p) => ({ n: p.n, mean: p.value })), metric));
  }
  replace(parts.charts, charts);
}
