// The page router: #/workspace, #/label, #/train, #/review, #/reports.

import * as workspace from "./workspace.js";
import * as label from "./label.js";
import * as train from "./train.js";
import * as review from "./review.js";
import * as reports from "./reports.js";
import { clearError, guarded, onKeys } from "./ui.js";
import { h, replace } from "./dom.js";

const pages = { workspace, label, train, review, reports };
let current = null;

async function route() {
  const name = (window.location.hash.replace(/^#\//, "").split("?")[0]) || "workspace";
  const page = pages[name] || workspace;
  for (const link of document.querySelectorAll(".top nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (current && current.leave) current.leave();
  current = page;
  onKeys(null);
  clearError();
  // each visit renders into a fresh container: a slow earlier page that finishes late
  // writes into its own, detached one, never over this page
  const view = h("div", { class: "page" }, h("p", { class: "muted" }, "Loading…"));
  replace(document.getElementById("view"), view);
  await guarded(() => page.render(view));
}

window.addEventListener("hashchange", route);
route();
