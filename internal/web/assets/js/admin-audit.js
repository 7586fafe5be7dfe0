// Admin → Audit: the audit trail with filters and paging. The filters and
// the page cursor live in the URL's query, so that a reload or a shared
// link shows the same page.

import { request } from "./api.js";
import { clearErrors, showErrors } from "./forms.js";
import { byId, h } from "./ui.js";

const PAGE_SIZE = 50;
const FILTERS = ["action", "user_id", "provider_id", "actor_id", "outcome", "since", "until"];

const form = byId("audit-filters");
const rows = byId("audit-rows");
const status = byId("audit-status");
const pageNotice = byId("audit-notice");
const newer = byId("page-newer");
const older = byId("page-older");
const pageLabel = byId("page-label");

const inputs = {
  action: byId("f-action"),
  user_id: byId("f-user"),
  provider_id: byId("f-provider"),
  actor_id: byId("f-actor"),
  outcome: byId("f-outcome"),
  since: byId("f-since"),
  until: byId("f-until"),
};

// cursors contains the cursor of each page shown so far, and "" for the
// first page. It lets "Newer" go back, because the API pages only forwards.
let cursors = [""];

// toLocalInput converts an RFC 3339 time to a datetime-local value.
function toLocalInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return "";
  }
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

// fromLocalInput converts a datetime-local value, in the browser's time
// zone, to RFC 3339 in UTC.
function fromLocalInput(value) {
  if (!value) {
    return "";
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function filtersFromURL() {
  const q = new URLSearchParams(location.search);
  for (const name of FILTERS) {
    const value = q.get(name) || "";
    inputs[name].value = name === "since" || name === "until" ? toLocalInput(value) : value;
  }
  return q.get("cursor") || "";
}

function filterQuery() {
  const q = new URLSearchParams();
  for (const name of FILTERS) {
    const raw = inputs[name].value.trim();
    const value = name === "since" || name === "until" ? fromLocalInput(raw) : raw;
    if (value) {
      q.set(name, value);
    }
  }
  return q;
}

async function load(cursor, { push = true } = {}) {
  clearErrors(form, pageNotice);
  const q = filterQuery();
  const pageURL = new URLSearchParams(q);
  if (cursor) {
    pageURL.set("cursor", cursor);
  }
  if (push) {
    history.pushState(null, "", "?" + pageURL.toString());
  }
  q.set("limit", String(PAGE_SIZE));
  if (cursor) {
    q.set("cursor", cursor);
  }

  status.textContent = "Loading events…";
  newer.disabled = true;
  older.disabled = true;
  try {
    const page = await request("GET", "/api/v1/admin/audit?" + q.toString());
    render(page.events);
    const index = cursors.indexOf(cursor);
    if (index < 0) {
      cursors.push(cursor);
    }
    const current = cursors.indexOf(cursor);
    newer.disabled = current <= 0;
    older.disabled = !page.next_cursor;
    older.dataset.cursor = page.next_cursor || "";
    pageLabel.textContent = `Page ${current + 1}`;
    status.textContent = page.events.length ? `${page.events.length} events on this page.` : "No events match these filters.";
  } catch (err) {
    rows.replaceChildren();
    status.textContent = "";
    pageLabel.textContent = "";
    showErrors(pageNotice, err, (field) => inputs[field] || null, { title: "The audit trail could not be loaded" });
  }
}

function render(events) {
  rows.replaceChildren(...events.map((e) => {
    // Detail is a small flat object: show it as "key: value" lines.
    const detail = e.detail ? Object.entries(e.detail)
      .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join("\n") : "";
    // Seconds matter here: many events share a minute.
    const at = new Date(e.at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    return h("tr", {},
      h("td", {}, h("time", { datetime: e.at, text: at })),
      h("td", { class: "audit-action", text: e.action }),
      h("td", {}, h("span", { class: e.outcome === "ok" ? "badge badge-ok" : "badge badge-error", text: e.outcome })),
      h("td", { text: e.user_id || "—" }),
      h("td", { text: e.provider_id || "—" }),
      h("td", { text: e.actor_id || "—" }),
      h("td", { class: "audit-detail", text: detail }));
  }));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  cursors = [""];
  load("");
});
byId("f-clear").addEventListener("click", () => {
  form.reset();
  cursors = [""];
  load("");
});
older.addEventListener("click", () => load(older.dataset.cursor || ""));
newer.addEventListener("click", () => {
  const current = cursors.indexOf(new URLSearchParams(location.search).get("cursor") || "");
  load(cursors[Math.max(0, current - 1)] || "");
});
window.addEventListener("popstate", () => {
  const cursor = filtersFromURL();
  load(cursor, { push: false });
});

const initial = filtersFromURL();
if (initial) {
  // A reloaded later page cannot go back without the earlier cursors, so
  // "Newer" starts over from the newest events.
  cursors = ["", initial];
}
load(initial, { push: false });
