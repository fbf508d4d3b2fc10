// What every page shares: the error line, the current page's keyboard shortcuts, the
// workspace listing, and the choices a person made (kept for this browser tab only).

import { get } from "./api.js";

const errorBox = () => document.getElementById("error");

export function showError(error) {
  const box = errorBox();
  box.textContent = error && error.message ? error.message : String(error);
  box.hidden = false;
}

export function clearError() {
  const box = errorBox();
  box.textContent = "";
  box.hidden = true;
}

// run an async action; its failure is shown as the one-line error
export async function guarded(action) {
  try {
    clearError();
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

let keyHandler = null;
let keyOwner = null;
// the page whose element ``owner`` is shown gets the keys (none once it is gone)
export function onKeys(handler, owner = null) {
  keyHandler = handler;
  keyOwner = owner;
}
document.addEventListener("keydown", (event) => {
  if (!keyHandler || event.defaultPrevented) return;
  if (keyOwner && !keyOwner.isConnected) return;
  keyHandler(event);
});

export function typing(event) {
  const el = event.target;
  return el instanceof HTMLElement && (el.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

export async function workspace() {
  return get("/api/workspace");
}

export function entriesOf(listing, ...kinds) {
  return listing.entries.filter((entry) => kinds.includes(entry.kind));
}

export function remember(key, value) {
  try { sessionStorage.setItem(`mlxmed.${key}`, value ?? ""); } catch { /* private mode */ }
}

export function recall(key) {
  try { return sessionStorage.getItem(`mlxmed.${key}`) || ""; } catch { return ""; }
}

export function hashParams() {
  const query = window.location.hash.split("?")[1] || "";
  return Object.fromEntries(new URLSearchParams(query));
}
