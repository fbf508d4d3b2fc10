// The review page: an extraction output beside its notes, least certain first, filtered by
// answer, status and confidence; a note with its evidence marked; accept or correct, and the
// answer becomes a gold label. Keys: ↑ ↓ (or j k) move, Enter open / save, a accept,
// e evidence.

import { get, post } from "./api.js";
import { answerForm, answerText } from "./answers.js";
import { h, labelled, percent, replace, select } from "./dom.js";
import { markedText } from "./marks.js";
import { entriesOf, guarded, hashParams, onKeys, recall, remember, typing, workspace } from "./ui.js";

let state = null;  // {session, form, columns, rows, selected, answer, opened, parts}

export function leave() {
  state = null;
}

export async function render(view) {
  const listing = await workspace();
  const params = hashParams();
  const outputs = entriesOf(listing, "output");
  const tasks = entriesOf(listing, "task").filter((t) => t.status === "ok");
  const notes = entriesOf(listing, "notes", "labels");
  const models = entriesOf(listing, "gguf");
  const outputSelect = select("output", [["", "— choose an extraction output —"], ...outputs.map((o) => [o.path, `${o.path} (${o.summary})`])], params.output || recall("review.output"));
  const taskSelect = select("task", [["", "— choose the task —"], ...tasks.map((t) => [t.path, `${t.name} (${t.path})`])], recall("review.task"));
  const notesSelect = select("notes", [["", "find by id"], ...notes.map((n) => [n.path, n.path])], recall("review.notes"));
  const modelSelect = select("model", [["", "none"], ...models.map((m) => [m.path, m.path])], recall("review.model"));
  const guess = () => {
    // the first task whose answer columns are the output's
    const output = outputs.find((o) => o.path === outputSelect.value);
    if (!output || taskSelect.value) return;
    const columns = JSON.stringify(output.details.answer_columns);
    const match = tasks.find((t) => JSON.stringify(t.details.answer_columns) === columns);
    if (match) taskSelect.value = match.path;
  };
  outputSelect.addEventListener("change", () => { taskSelect.value = ""; guess(); });
  guess();
  const work = h("section", { id: "review" });
  const open = () => guarded(async () => {
    for (const [key, el] of [["output", outputSelect], ["task", taskSelect], ["notes", notesSelect], ["model", modelSelect]]) remember(`review.${key}`, el.value);
    await openReview(work, { output: outputSelect.value, task: taskSelect.value, notes: notesSelect.value, model: modelSelect.value });
  });
  replace(view, h("h1", {}, "Review extracted answers"),
    h("form", { class: "setup", onsubmit: (e) => { e.preventDefault(); open(); } },
      labelled("Output", outputSelect), labelled("Task", taskSelect),
      labelled("Notes", notesSelect, "the file the output was extracted from"),
      labelled("Model (for evidence)", modelSelect, "the .gguf that made the output"),
      h("button", { type: "submit", class: "primary", id: "open-review" }, "Open")),
    work);
  if (params.output && taskSelect.value) await open();
}

async function openReview(work, choice) {
  if (!choice.output || !choice.task) throw new Error("Choose an output and its task first.");
  const opened = await post("/api/review/open", choice);
  state = { session: opened.session, form: opened.form, columns: opened.columns, canExplain: opened.can_explain,
    rows: [], selected: 0, answer: null, opened: null, work };
  const columnSelect = select("filter-column", opened.columns.map((c) => [c, c]), opened.columns[0]);
  const valueSelect = h("select", { id: "filter-value", name: "filter-value" });
  const fillValues = (facets) => {
    const counts = facets.columns[columnSelect.value] || {};
    const keep = valueSelect.value;
    replace(valueSelect, h("option", { value: "" }, "any"),
      Object.entries(counts).map(([value, count]) => h("option", { value, selected: value === keep }, `${value} (${count})`)));
  };
  const statusSelect = select("filter-status", [["", "any"], ...Object.keys(opened.facets.status).map((s) => [s, `${s} (${opened.facets.status[s]})`])], "");
  const reviewedSelect = select("filter-reviewed", [["", "all"], ["false", "not reviewed yet"], ["true", "reviewed"]], "");
  const maxConfidence = h("input", { type: "text", id: "filter-confidence", inputmode: "decimal", size: "5", placeholder: "1.0" });
  const summary = h("p", { id: "review-summary", class: "muted" });
  const table = h("div", { class: "rows-wrap" });
  const detail = h("div", { id: "note-panel" }, h("p", { class: "muted" }, "Choose a row to see its note."));
  state.parts = { summary, table, detail, fillValues, opened };
  state.filters = () => ({ session: state.session, column: columnSelect.value, value: valueSelect.value,
    status: statusSelect.value, reviewed: reviewedSelect.value, max_confidence: maxConfidence.value });
  for (const el of [valueSelect, statusSelect, reviewedSelect]) el.addEventListener("change", () => guarded(refresh));
  columnSelect.addEventListener("change", () => { valueSelect.value = ""; fillValues(opened.facets); guarded(refresh); });
  maxConfidence.addEventListener("change", () => guarded(refresh));
  fillValues(opened.facets);
  replace(work,
    h("p", { class: "small" }, "Notes: ", h("span", { class: "path" }, opened.notes_file || "not found (choose the notes file)"),
      " · your answers are saved to ", h("span", { class: "path", id: "corrections-file" }, opened.corrections_file),
      " (gold labels for `mlxmed data` and `mlxmed evaluate`)"),
    h("div", { class: "setup" },
      labelled("Answer column", columnSelect), labelled("Value", valueSelect), labelled("Status", statusSelect),
      labelled("Confidence at most", maxConfidence), labelled("Reviewed", reviewedSelect),
      h("button", { type: "button", id: "evaluate", onclick: () => guarded(evaluateReviewed) }, "Evaluate against the reviewed answers")),
    summary,
    h("div", { class: "review-layout" }, table, detail));
  onKeys(keys, work);
  await refresh();
}

async function refresh() {
  const result = await get("/api/review/rows", state.filters());
  state.rows = result.rows;
  state.selected = Math.min(state.selected, Math.max(0, result.rows.length - 1));
  state.parts.fillValues(result.facets);
  const f = result.facets;
  state.parts.summary.textContent = `${result.matching} of ${f.total} rows match (least certain first) · ${f.reviewed} reviewed · ${f.with_text} with note text`;
  drawRows();
}

function drawRows() {
  const rows = state.rows.map((row, index) => h("tr", {
    class: "clickable", tabindex: "0", "aria-selected": String(index === state.selected), dataset: { id: row.id },
    onclick: () => { state.selected = index; guarded(openNote); },
  },
  h("td", { class: "path" }, row.id),
  state.columns.map((c) => h("td", { class: "cell", title: answerText(row.cells[c]) }, answerText(row.cells[c]))),
  h("td", {}, percent(row.confidence)),
  h("td", {}, h("span", { class: `badge ${row.status}` }, row.status)),
  h("td", {}, row.reviewed ? h("span", { class: "saved", title: answerText(row.correction) }, "✓") : "")));
  replace(state.parts.table, h("table", { id: "rows" },
    h("thead", {}, h("tr", {}, h("th", {}, "id"), state.columns.map((c) => h("th", {}, c)), h("th", {}, "confidence"), h("th", {}, "status"), h("th", {}, "reviewed"))),
    h("tbody", {}, rows)));
}

async function openNote() {
  const row = state.rows[state.selected];
  if (!row) return;
  for (const tr of state.parts.table.querySelectorAll("tbody tr")) tr.setAttribute("aria-selected", String(tr.dataset.id === row.id));
  const note = await get("/api/review/note", { session: state.session, id: row.id });
  state.opened = note;
  const initial = note.row.correction ?? note.row.value;
  state.answer = answerForm(state.form, initial, { found: state.form.type === "fields" ? note.found : null });
  const fieldNames = state.form.type === "fields" ? state.form.fields.map((f) => f.name) : [];
  const text = h("article", { class: "note", id: "review-note", tabindex: "0" },
    note.text === null ? h("span", { class: "muted" }, "The note text is not in the chosen notes file.") : markedText(note.segments, fieldNames));
  const explanation = h("p", { class: "muted small", id: "evidence-line" },
    state.form.type === "fields" ? "Marked: where the note states each extracted value." : "");
  replace(state.parts.detail,
    h("div", { class: "status-line" }, h("strong", {}, `Note ${row.id}`),
      h("span", {}, "model: ", h("strong", {}, answerText(note.row.value))),
      h("span", {}, `confidence ${percent(note.row.confidence)}`),
      h("span", { class: `badge ${note.row.status}` }, note.row.status),
      note.row.error ? h("span", { class: "muted small" }, note.row.error) : null,
      note.row.reviewed ? h("span", { class: "saved", id: "review-saved" }, `reviewed: ${answerText(note.row.correction)}`) : null),
    explanation, text,
    h("form", { id: "correct-form", onsubmit: (e) => { e.preventDefault(); guarded(() => save(state.answer.value())); } },
      state.answer.element,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "save-correction" }, "Save as gold (Enter)"),
        h("button", { type: "button", id: "accept", onclick: () => guarded(() => save(note.row.value)), disabled: note.row.value === null }, "Accept the model's answer (a)"),
        state.canExplain ? h("button", { type: "button", id: "show-evidence", onclick: () => guarded(evidence) }, "Show evidence (e)") : null)),
    h("p", { class: "keys" }, h("kbd", {}, "↑"), " ", h("kbd", {}, "↓"), " move · ", h("kbd", {}, "Enter"), " open / save · ",
      h("kbd", {}, "a"), " accept · ", state.canExplain ? [h("kbd", {}, "e"), " evidence · "] : "",
      state.form.type === "choice" ? [h("kbd", {}, "1"), "–", h("kbd", {}, "9"), " pick a label"] : ""));
}

async function evidence() {
  const line = state.parts.detail.querySelector("#evidence-line");
  line.textContent = "Leaving each sentence out in turn and scoring the note again…";
  const found = await post("/api/review/evidence", { session: state.session, id: state.opened.row.id });
  const marked = found.sentences.filter((s) => s.evidence).length;
  line.textContent = `Evidence for ${answerText(found.answer)} (probability ${percent(found.probability)}): ${marked} sentence(s) marked; the darker, the larger the drop when left out.`;
  replace(state.parts.detail.querySelector("#review-note"), markedText(found.segments));
}

async function save(value) {
  if (value === undefined || value === null) throw new Error("Pick an answer first.");
  const id = state.opened.row.id;
  await post("/api/review/correct", { session: state.session, id, value });
  await refresh();
  const index = state.rows.findIndex((r) => r.id === id);
  if (index >= 0) {
    state.selected = Math.min(index + 1, state.rows.length - 1);
  }
  drawRows();
  await openNote();
}

async function evaluateReviewed() {
  const result = await post("/api/review/evaluate", { session: state.session });
  window.location.hash = `#/reports?path=${encodeURIComponent(result.report)}`;
}

function keys(event) {
  if (!state || event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const move = (step) => {
    event.preventDefault();
    state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + step));
    drawRows();
    const tr = state.parts.table.querySelectorAll("tbody tr")[state.selected];
    if (tr) tr.focus();
  };
  if (event.key === "ArrowDown" || event.key === "j") move(1);
  else if (event.key === "ArrowUp" || event.key === "k") move(-1);
  else if (event.key === "Enter") {
    const button = event.target.closest && event.target.closest("button");
    if (button && !button.classList.contains("choice")) return;
    event.preventDefault();
    const inTable = event.target.closest && event.target.closest("#rows");
    if (inTable || !state.opened) guarded(openNote);
    else guarded(() => save(state.answer.value()));
  } else if (event.key === "a" && state.opened) {
    event.preventDefault();
    guarded(() => save(state.opened.row.value));
  } else if (event.key === "e" && state.opened && state.canExplain) {
    event.preventDefault();
    guarded(evidence);
  } else if (/^[1-9]$/.test(event.key) && state.answer && state.form.type === "choice") {
    event.preventDefault();
    state.answer.choose(Number(event.key) - 1);
  }
}
