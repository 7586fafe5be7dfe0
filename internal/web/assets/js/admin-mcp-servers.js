// Admin → MCP servers: the list with each server's tool catalog, the form
// that adds or changes a server, testing the connection, fetching the
// tools again, and deleting a server.

import { request } from "./api.js";
import { clearErrors, parseKeyValueLines, showErrors, showLocalErrors } from "./forms.js";
import {
  announce, byId, confirmDialog, errorNotice, formatTime, h, notice, showError, words,
} from "./ui.js";

const list = byId("server-list");
const listStatus = byId("servers-status");
const pageNotice = byId("servers-notice");
const editor = byId("server-editor");
const form = byId("server-form");
const formErrors = byId("server-form-errors");

const f = {
  title: byId("server-editor-title"),
  displayName: byId("s-display-name"),
  id: byId("s-id"),
  url: byId("s-url"),
  transport: byId("s-transport"),
  provider: byId("s-provider"),
  headers: byId("s-headers"),
  headersKeepRow: byId("s-headers-keep-row"),
  headersKeep: byId("s-headers-keep"),
  headerNames: byId("s-header-names"),
  roles: byId("s-roles"),
  timeout: byId("s-timeout"),
  enabled: byId("s-enabled"),
  submit: byId("s-submit"),
  cancel: byId("s-cancel"),
};

let servers = [];
let providers = [];
let editing = null;
let idTouched = false;

async function load() {
  pageNotice.replaceChildren();
  try {
    const [serverBody, providerBody] = await Promise.all([
      request("GET", "/api/v1/admin/mcp-servers"),
      request("GET", "/api/v1/admin/providers"),
    ]);
    servers = serverBody.mcp_servers;
    providers = providerBody.providers;
    renderList();
  } catch (err) {
    listStatus.textContent = "";
    showError(pageNotice, err, { title: "The MCP servers could not be loaded", retry: load });
  }
}

function providerName(id) {
  return providers.find((p) => p.id === id)?.display_name || id;
}

function renderList() {
  listStatus.textContent = servers.length ? "" : "No MCP servers yet. Add one to give the agent tools.";
  list.replaceChildren(...servers.map(renderServer));
}

function renderServer(s) {
  const titleId = `server-${s.id}-name`;
  const result = h("div", { class: "test-result", "aria-live": "polite" });
  const meta = [
    `ID ${s.id}`,
    s.provider_id ? `User token from ${providerName(s.provider_id)}` : "No user token",
    s.allowed_roles.length ? `Roles: ${s.allowed_roles.join(", ")}` : "Every user",
    `Timeout ${s.timeout}`,
  ].join(" · ");
  const fetched = s.tools_fetched_at ? `${s.tools.length} tools, fetched ${formatTime(s.tools_fetched_at)}` : "Tools not fetched yet";

  return h("li", { class: "card", dataset: { serverId: s.id } },
    h("div", { class: "card-body" },
      h("h2", { class: "card-title", id: titleId }, s.display_name,
        s.enabled ? null : h("span", { class: "badge badge-off", text: "Disabled" })),
      h("p", { class: "card-meta mono", text: s.url }),
      h("p", { class: "card-meta", text: meta }),
      s.last_error ? h("p", { class: "card-meta" }, h("span", { class: "badge badge-error", text: "Last fetch failed" }),
        ` ${s.last_error} (${formatTime(s.last_error_at)})`) : null),
    h("details", { class: "card-detail tool-catalog-detail" },
      h("summary", { text: `Tool catalog: ${fetched}` }),
      s.tools.length
        ? h("ul", { class: "tool-catalog" }, s.tools.map((t) => h("li", { dataset: { toolName: t.model_name } },
          h("span", { class: "tool-name", text: t.title || t.name }), " ",
          h("code", { class: "muted", text: t.model_name }),
          t.description ? h("p", { class: "card-meta", text: t.description }) : null)))
        : h("p", { class: "muted", text: "The catalog is empty. Use Fetch tools to load it." })),
    h("div", { class: "card-actions" },
      h("button", { type: "button", class: "button button-secondary", "aria-describedby": titleId, text: "Test connection", on: { click: (e) => test(s, e.currentTarget, result) } }),
      h("button", { type: "button", class: "button button-secondary", "aria-describedby": titleId, text: "Fetch tools", on: { click: (e) => refreshTools(s, e.currentTarget, result) } }),
      h("button", { type: "button", class: "button button-secondary", "aria-describedby": titleId, text: "Edit", on: { click: () => openEditor(s) } }),
      h("button", { type: "button", class: "button button-danger-quiet", "aria-describedby": titleId, text: "Delete", on: { click: () => remove(s) } })),
    result);
}

async function test(s, button, result) {
  button.disabled = true;
  result.replaceChildren(h("p", { class: "muted", text: `Testing ${s.display_name}…` }));
  try {
    const r = await request("POST", `/api/v1/admin/mcp-servers/${encodeURIComponent(s.id)}/test`);
    if (r.ok) {
      const server = r.server?.name ? ` ${r.server.name}${r.server.version ? " " + r.server.version : ""}` : "";
      result.replaceChildren(notice("ok", "Connection works",
        `The server${server} answered in ${r.duration_ms} ms and lists ${r.tool_count} tools.`));
    } else {
      result.replaceChildren(notice("error", "Connection failed", r.error || "The server did not work, and gave no reason."));
    }
  } catch (err) {
    result.replaceChildren(errorNotice(err, { title: "The test could not run" }));
  } finally {
    button.disabled = false;
  }
}

async function refreshTools(s, button, result) {
  button.disabled = true;
  result.replaceChildren(h("p", { class: "muted", text: `Fetching the tools of ${s.display_name}…` }));
  try {
    const updated = await request("POST", `/api/v1/admin/mcp-servers/${encodeURIComponent(s.id)}/refresh-tools`);
    servers = servers.map((x) => (x.id === updated.id ? updated : x));
    const item = renderServer(updated);
    list.querySelector(`[data-server-id="${CSS.escape(s.id)}"]`)?.replaceWith(item);
    item.querySelector(".tool-catalog-detail").open = true;
    item.querySelector(".test-result").replaceChildren(notice("ok", "", `Fetched ${updated.tools.length} tools.`));
    announce(`Fetched ${updated.tools.length} tools from ${s.display_name}.`);
  } catch (err) {
    const hint = err.code === "connection_required"
      ? " This server sends each user's token, and tools are fetched with yours: connect your own account under My connectors first."
      : "";
    result.replaceChildren(errorNotice(err, { title: "The tools could not be fetched" }));
    if (hint) {
      result.append(h("p", { class: "field-hint", text: hint.trim() }));
    }
    button.disabled = false;
  }
}

async function remove(s) {
  const ok = await confirmDialog({
    title: `Delete ${s.display_name}?`,
    message: [`The agent can no longer use the tools of ${s.display_name}. Users' connections to providers are not changed.`],
    confirmLabel: "Delete MCP server",
    danger: true,
  });
  if (!ok) {
    return;
  }
  try {
    await request("DELETE", `/api/v1/admin/mcp-servers/${encodeURIComponent(s.id)}`);
    servers = servers.filter((x) => x.id !== s.id);
    renderList();
    pageNotice.replaceChildren(notice("ok", "", `${s.display_name} was deleted.`));
    announce(`${s.display_name} was deleted.`);
  } catch (err) {
    pageNotice.replaceChildren(errorNotice(err, { title: `${s.display_name} could not be deleted`, retry: () => remove(s) }));
  }
}

// --- Editor ----------------------------------------------------------------

function openEditor(server) {
  editing = server;
  idTouched = Boolean(server);
  form.reset();
  clearErrors(form, formErrors);
  f.title.textContent = server ? `Edit ${server.display_name}` : "Add MCP server";
  f.submit.textContent = server ? "Save changes" : "Add MCP server";
  f.id.readOnly = Boolean(server);
  f.provider.replaceChildren(
    h("option", { value: "", text: "None: send no user token" }),
    ...providers.map((p) => h("option", { value: p.id, text: `${p.display_name} (${p.id})` })));

  if (server) {
    f.displayName.value = server.display_name;
    f.id.value = server.id;
    f.url.value = server.url;
    f.transport.value = server.transport;
    f.provider.value = server.provider_id;
    f.roles.value = server.allowed_roles.join(" ");
    f.timeout.value = server.timeout;
    f.enabled.checked = server.enabled;
  } else {
    f.enabled.checked = true;
  }
  const names = server?.header_names || [];
  f.headersKeepRow.hidden = names.length === 0;
  f.headersKeep.checked = names.length > 0;
  f.headerNames.textContent = names.join(", ");

  editor.hidden = false;
  editor.focus();
  editor.scrollIntoView({ block: "start" });
}

function closeEditor() {
  editor.hidden = true;
  editing = null;
  byId("add-server").focus();
}

function buildBody() {
  const problems = [];
  const body = {
    display_name: f.displayName.value.trim(),
    url: f.url.value.trim(),
    transport: f.transport.value,
    provider_id: f.provider.value,
    allowed_roles: words(f.roles.value),
    enabled: f.enabled.checked,
  };
  if (f.timeout.value.trim()) {
    body.timeout = f.timeout.value.trim();
  }
  if (!editing) {
    body.id = f.id.value.trim();
  }
  const keep = editing && !f.headersKeepRow.hidden && f.headersKeep.checked;
  if (!keep) {
    const [headers, problem] = parseKeyValueLines(f.headers.value, ":");
    if (problem) {
      problems.push([f.headers, problem]);
    }
    // An edit without "keep" replaces the headers, so an empty box
    // removes them all.
    if (editing || Object.keys(headers).length > 0) {
      body.headers = headers;
    }
  }
  return [body, problems];
}

function inputFor(field) {
  const top = field.split(/[.[]/)[0];
  return {
    id: f.id, display_name: f.displayName, url: f.url, transport: f.transport, provider_id: f.provider,
    headers: f.headers, allowed_roles: f.roles, enabled: f.enabled, timeout: f.timeout,
  }[top] || null;
}

async function submit(event) {
  event.preventDefault();
  clearErrors(form, formErrors);
  const [body, problems] = buildBody();
  if (problems.length) {
    showLocalErrors(formErrors, problems);
    return;
  }
  f.submit.disabled = true;
  try {
    const saved = editing
      ? await request("PATCH", `/api/v1/admin/mcp-servers/${encodeURIComponent(editing.id)}`, body)
      : await request("POST", "/api/v1/admin/mcp-servers", body);
    const known = servers.some((s) => s.id === saved.id);
    if (known) {
      servers = servers.map((s) => (s.id === saved.id ? saved : s));
    } else {
      servers.push(saved);
    }
    renderList();
    editor.hidden = true;
    editing = null;
    pageNotice.replaceChildren(notice("ok", "", known
      ? `${saved.display_name} was saved.`
      : `${saved.display_name} was added. Use Test connection to check it, and Fetch tools to load its catalog.`));
    announce(`${saved.display_name} was saved.`);
    list.querySelector(`[data-server-id="${CSS.escape(saved.id)}"] button`)?.focus();
  } catch (err) {
    showErrors(formErrors, err, inputFor, { title: "The MCP server was not saved" });
  } finally {
    f.submit.disabled = false;
  }
}

byId("add-server").addEventListener("click", () => openEditor(null));
f.cancel.addEventListener("click", closeEditor);
f.displayName.addEventListener("input", () => {
  if (!editing && !idTouched) {
    f.id.value = f.displayName.value.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
  }
});
f.id.addEventListener("input", () => {
  idTouched = true;
});
form.addEventListener("submit", submit);
editor.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closeEditor();
  }
});

load();
