// The answer to one note, as the task describes it (its answer_form): a choice of labels, or
// a form with one widget per field. Shared by the label and the review pages.

import { h } from "./dom.js";

const NOT_STATED = "not stated";

function shown(value) {
  if (value === true) return "yes";
  if (value === false) return "no";
  return String(value);
}

export function fieldClass(index) {
  return `f${index % 10}`;
}

export function answerForm(form, initial, { probabilities = null, found = null, onChoose = null } = {}) {
  return form.type === "choice"
    ? choiceForm(form, initial, probabilities, onChoose)
    : fieldsForm(form, initial, found);
}

function choiceForm(form, initial, probabilities, onChoose) {
  let chosen = initial ?? null;
  const buttons = form.choices.map((choice, index) => {
    const share = probabilities ? probabilities[choice.value] : null;
    const button = h("button", {
      type: "button", class: "choice", "aria-pressed": String(choice.value === chosen),
      dataset: { value: choice.value },
      onclick: () => pick(index),
    },
    h("kbd", {}, index < 9 ? String(index + 1) : ""),
    h("span", {}, choice.value, share !== null && share !== undefined
      ? h("span", { class: "muted small" }, `  ${Math.round(share * 100)}%`) : null),
    choice.description ? h("small", {}, choice.description) : null);
    if (share !== null && share !== undefined) {
      const bar = h("span", { class: "prob" });
      bar.style.setProperty("width", `${Math.max(2, Math.round(share * 100))}%`);
      button.append(bar);
    }
    return button;
  });

  function pick(index) {
    if (index < 0 || index >= form.choices.length) return;
    chosen = form.choices[index].value;
    buttons.forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
    if (onChoose) onChoose(chosen);
  }

  return {
    element: h("div", { class: "choices", role: "group", "aria-label": "Answer" }, buttons),
    value: () => (chosen === null ? undefined : chosen),
    choose: pick,
    focus: () => (buttons.find((b) => b.getAttribute("aria-pressed") === "true") || buttons[0]).focus(),
  };
}

function fieldsForm(form, initial, found) {
  const start = initial || {};
  const readers = [];
  const rows = form.fields.map((field, index) => {
    const id = `field-${field.name}`;
    const current = start[field.name];
    const hints = [];
    if (field.unit) hints.push(`unit: ${field.unit}`);
    if (field.minimum !== undefined && field.minimum !== null) hints.push(`from ${field.minimum}`);
    if (field.maximum !== undefined && field.maximum !== null) hints.push(`to ${field.maximum}`);
    if (field.nullable) hints.push(`empty = ${NOT_STATED}`);
    let control;
    let read;
    if (field.widget === "choice") {
      const options = [h("option", { value: "" }, field.nullable ? `— ${NOT_STATED} —` : "— choose —")];
      for (const choice of field.choices) {
        options.push(h("option", { value: JSON.stringify(choice), selected: current === choice }, shown(choice)));
      }
      control = h("select", { id, name: field.name }, options);
      read = () => (control.value === "" ? null : JSON.parse(control.value));
    } else if (field.widget === "multi") {
      const boxes = field.choices.map((choice) => h("input", {
        type: "checkbox", value: JSON.stringify(choice),
        checked: Array.isArray(current) && current.includes(choice),
      }));
      control = h("div", { class: "checks", id, role: "group", "aria-label": field.name },
        boxes.map((box, i) => h("label", {}, box, shown(field.choices[i]))));
      read = () => boxes.filter((b) => b.checked).map((b) => JSON.parse(b.value));
    } else if (field.widget === "list") {
      control = h("textarea", { id, name: field.name, placeholder: "one item per line" });
      control.value = Array.isArray(current) ? current.map(shown).join("\n") : "";
      read = () => control.value;
    } else {
      control = h("input", {
        id, name: field.name, type: "text", autocomplete: "off",
        inputmode: field.widget === "number" ? "decimal" : null,
        placeholder: field.nullable ? NOT_STATED : "",
      });
      control.value = current === null || current === undefined ? "" : shown(current);
      read = () => control.value;
    }
    readers.push([field.name, read]);
    const where = found ? h("span", { class: "hint" },
      found.includes(field.name) ? "· marked in the note" : "· not found in the note text") : null;
    return h("div", { class: `field ${fieldClass(index)}` },
      h("label", { class: "name", for: id },
        h("span", {}, found ? h("span", { class: "swatch" }) : null, " ", field.name, " ",
          field.unit ? h("span", { class: "muted" }, `(${field.unit})`) : null, where)),
      field.description ? h("div", { class: "hint" }, field.description) : null,
      h("div", { class: "row" }, control, hints.length ? h("span", { class: "hint" }, hints.join(", ")) : null));
  });
  return {
    element: h("div", { class: "fields" }, rows),
    value: () => Object.fromEntries(readers.map(([name, read]) => [name, read()])),
    choose: () => {},
    focus: () => { const first = rows[0] && rows[0].querySelector("input, select, textarea"); if (first) first.focus(); },
  };
}

export function answerText(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
