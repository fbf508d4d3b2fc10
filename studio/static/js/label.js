// The label page: pick a task and a notes file (and, optionally, a trained model whose
// answers are pre-filled), then label one note at a time with the keyboard:
// 1–9 pick a label, Enter save and go on, ← → move, u undo, s skip.

import { get, post } from "./api.js";
import { answerForm, answerText } from "./answers.js";
import { h, labelled, percent, replace, select } from "./dom.js";
import { entriesOf, guarded, hashParams, onKeys, recall, remember, typing, workspace } from "./ui.js";

let state = null;   // {session, form, view, answer, labelsFile, hasModel}
let pollTimer = null;

export function leave() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  state = null;
}

export async function render(view) {
  const listing = await workspace();
  const params = hashParams();
  const tasks = entriesOf(listing, "task");
  const notes = entriesOf(listing, "notes", "labels");
  const models = entriesOf(listing, "gguf");
  const chosenTask = params.task || recall("label.task");
  const chosenNotes = params.notes || recall("label.notes");
  const taskSelect = select("task", [["", "— choose a task file —"],
    ...tasks.map((t) => [t.path, t.status === "ok" ? `${t.name} (${t.path})` : `${t.path} — has an error`])], chosenTask);
  const notesSelect = select("notes", [["", "— choose the notes —"],
    ...notes.map((n) => [n.path, `${n.path} (${n.summary.split(";")[0]})`])], chosenNotes);
  const modelSelect = select("model", [["", "none"],
    ...models.map((m) => [m.path, m.path])], params.model ?? recall("label.model"));
  const orderSelect = select("order", [["input", "as in the file"], ["least_certain", "least certain first (needs a model)"]], params.order || recall("label.order") || "input");
  const work = h("section", { id: "labelling", "aria-live": "polite" });
  const start = () => guarded(async () => {
    remember("label.task", taskSelect.value);
    remember("label.notes", notesSelect.value);
    remember("label.model", modelSelect.value);
    remember("label.order", orderSelect.value);
    await open(work, taskSelect.value, notesSelect.value, modelSelect.value, orderSelect.value);
  });
  replace(view,
    h("h1", {}, "Label notes"),
    h("form", { class: "setup", onsubmit: (e) => { e.preventDefault(); start(); } },
      labelled("Task", taskSelect),
      labelled("Notes", notesSelect),
      labelled("Model for suggestions", modelSelect, "a .gguf from `mlxmed export`"),
      labelled("Order", orderSelect),
      h("button", { type: "submit", class: "primary", id: "start-labelling" }, "Start labelling")),
    work);
  if (params.autostart && taskSelect.value && notesSelect.value) await start();
}

async function open(work, task, notes, model, order) {
  if (!task || !notes) throw new Error("Choose a task file and a notes file first.");
  const opened = await post("/api/label/open", { task, notes, model });
  state = { session: opened.session, form: opened.form, labelsFile: opened.labels_file,
    hasModel: opened.has_model, modelNote: opened.model_note, view: null, answer: null, work };
  if (order === "least_certain") {
    await post("/api/label/order", { session: state.session, order });
    pollRanking();
  }
  show(opened);
  onKeys(keys, work);
}

function pollRanking() {
  if (!state) return;
  pollTimer = setTimeout(() => guarded(async () => {
    if (!state) return;
    const progress = await get("/api/label/progress", { session: state.session });
    if (progress.ranking.error) throw new Error(progress.ranking.error);
    if (progress.ranking.running) {
      renderRanking(progress.ranking);
      pollRanking();
    } else {
      await goto(null);  // the least certain unlabelled note
    }
  }), 500);
}

function renderRanking(ranking) {
  const line = state.work.querySelector(".ranking");
  if (line) line.textContent = `Ordering by the model's confidence: ${ranking.done} of ${ranking.total} notes scored…`;
}

async function goto(position) {
  // no position: the queue's next note that needs an answer
  show(await get("/api/label/note", { session: state.session, position }));
}

function show(view) {
  state.view = view;
  const suggestion = view.suggestion && view.suggestion.value !== null ? view.suggestion : null;
  const initial = view.saved ?? (suggestion ? suggestion.value : null);
  state.answer = answerForm(state.form, initial, {
    probabilities: view.suggestion ? view.suggestion.probabilities : null,
  });
  const done = view.labelled;
  const progressBar = h("progress", { max: String(view.total), value: String(done), "aria-label": "labelled" });
  const saved = view.labelled_now
    ? h("span", { class: "saved", id: "saved" }, `saved: ${answerText(view.saved)}`)
    : h("span", { class: "muted", id: "saved" }, "not labelled yet");
  const model = view.suggestion
    ? h("p", { class: "suggestion notice" },
      view.suggestion.value === null
        ? `The model gave no valid answer (${view.suggestion.error || "invalid"}).`
        : ["Model: ", h("strong", {}, answerText(view.suggestion.value)),
          view.suggestion.confidence !== null ? ` (confidence ${percent(view.suggestion.confidence)})` : "",
          " — pre-filled; press Enter to accept."])
    : null;
  replace(state.work,
    state.modelNote ? h("p", { class: "notice" }, state.modelNote) : null,
    h("div", { class: "status-line" },
      h("strong", { id: "position" }, `Note ${view.position + 1} of ${view.total}`),
      h("span", { class: "path" }, `id ${view.note.id}`),
      progressBar,
      h("span", { id: "progress" }, `${done} of ${view.total} labelled`),
      saved),
    h("p", { class: "ranking muted small" }, view.ranking && view.ranking.running ? "Ordering by the model's confidence…" : ""),
    h("div", { class: "label-layout" },
      h("article", { class: "note", id: "note-text", tabindex: "0", "aria-label": "Note text" }, view.note.text),
      h("div", {},
        model,
        h("form", { id: "answer-form", onsubmit: (e) => { e.preventDefault(); guarded(confirm); } },
          state.answer.element,
          h("div", { class: "actions" },
            h("button", { type: "submit", class: "primary", id: "save" }, "Save and next (Enter)"),
            h("button", { type: "button", onclick: () => guarded(skip) }, "Skip (s)"),
            h("button", { type: "button", onclick: () => guarded(undo), disabled: !view.can_undo }, "Undo (u)"),
            h("button", { type: "button", onclick: () => guarded(() => move(-1)) }, "← Previous"),
            h("button", { type: "button", onclick: () => guarded(() => move(1)) }, "Next →"))),
        h("p", { class: "keys" },
          state.form.type === "choice"
            ? ["Keys: ", h("kbd", {}, "1"), "–", h("kbd", {}, "9"), " pick a label · "] : ["Keys: ", h("kbd", {}, "Tab"), " next field · "],
          h("kbd", {}, "Enter"), " save and next · ", h("kbd", {}, "←"), " ", h("kbd", {}, "→"), " move · ",
          h("kbd", {}, "u"), " undo · ", h("kbd", {}, "s"), " skip"),
        h("p", { class: "muted small" }, "Every answer is saved at once to ",
          h("span", { class: "path", id: "labels-file" }, state.labelsFile),
          ", which `mlxmed data` reads as it is."))));
  state.answer.focus();  // keys act on this note, not on the set-up form above
}

function finished(result) {
  state.view = null;
  replace(state.work,
    h("div", { class: "notice ok", id: "all-done" },
      `All ${result.total} notes are labelled. `, "They are in ", h("span", { class: "path" }, state.labelsFile),
      ". ", h("a", { href: `#/train?labels=${encodeURIComponent(state.labelsFile)}` }, "Train on them"), "."),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => guarded(undo) }, "Undo the last answer (u)"),
      h("button", { type: "button", onclick: () => guarded(() => goto(0)) }, "Look through the notes again")));
}

async function confirm() {
  const value = state.answer.value();
  if (value === undefined) throw new Error("Pick an answer first (keys 1–9), then press Enter.");
  const result = await post("/api/label/answer", { session: state.session, id: state.view.note.id, value });
  if (result.next === null) finished(result);
  else await goto(result.next);
}

async function skip() {
  const result = await post("/api/label/skip", { session: state.session, position: state.view.position });
  if (result.next === null) finished(result);
  else await goto(result.next);
}

async function undo() {
  const result = await post("/api/label/undo", { session: state.session });
  await goto(result.position);
}

async function move(step) {
  if (!state.view) return;
  const position = state.view.position + step;
  if (position < 0 || position >= state.view.total) return;
  await goto(position);
}

function keys(event) {
  if (!state || event.ctrlKey || event.metaKey || event.altKey) return;
  const inField = typing(event);
  if (event.key === "Enter") {
    if (inField && event.target.tagName === "TEXTAREA") return;
    const button = event.target.closest && event.target.closest("button");
    if (button && !button.classList.contains("choice")) return;  // Enter presses that button
    event.preventDefault();
    if (!state.view) return;
    guarded(confirm);
    return;
  }
  if (inField) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  if (!state.view) {
    if (event.key === "u") { event.preventDefault(); guarded(undo); }
    return;
  }
  if (/^[1-9]$/.test(event.key) && state.form.type === "choice") {
    event.preventDefault();
    state.answer.choose(Number(event.key) - 1);
  } else if (event.key === "ArrowRight") {
    event.preventDefault();
    guarded(() => move(1));
  } else if (event.key === "ArrowLeft") {
    event.preventDefault();
    guarded(() => move(-1));
  } else if (event.key === "u") {
    event.preventDefault();
    guarded(undo);
  } else if (event.key === "s") {
    event.preventDefault();
    guarded(skip);
  }
}

