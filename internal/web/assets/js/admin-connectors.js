// Admin → Connectors: the list of OAuth providers, the form that adds or
// changes one, and deleting one.

import { request } from "./api.js";
import { clearErrors, keyValueLines, parseKeyValueLines, showErrors, showLocalErrors } from "./forms.js";
import {
  announce, byId, confirmDialog, copyText, errorNotice, h, notice, providerIcon, showError, words,
} from "./ui.js";

const MAX_ICON_BYTES = 100 * 1024;

const list = byId("provider-list");
const listStatus = byId("providers-status");
const pageNotice = byId("providers-notice");
const editor = byId("provider-editor");
const form = byId("provider-form");
const formErrors = byId("provider-form-errors");
const created = byId("provider-created");

const f = {
  type: byId("p-type"),
  presetInfo: byId("p-preset-info"),
  displayName: byId("p-display-name"),
  id: byId("p-id"),
  settings: byId("p-settings"),
  settingsFields: byId("p-settings-fields"),
  custom: byId("p-custom"),
  modeDiscovery: byId("p-mode-discovery"),
  modeMetadata: byId("p-mode-metadata"),
  discovery: byId("p-discovery"),
  discoveryURL: byId("p-discovery-url"),
  metadata: byId("p-metadata"),
  issuer: byId("p-issuer"),
  authorizationEndpoint: byId("p-authorization-endpoint"),
  tokenEndpoint: byId("p-token-endpoint"),
  revocationEndpoint: byId("p-revocation-endpoint"),
  authMethod: byId("p-auth-method"),
  credentialsLegend: byId("p-credentials-legend"),
  credentialsHint: byId("p-credentials-hint"),
  clientID: byId("p-client-id"),
  clientSecret: byId("p-client-secret"),
  scopes: byId("p-scopes"),
  scopeHints: byId("p-scope-hints"),
  scopeHintList: byId("p-scope-hint-list"),
  roles: byId("p-roles"),
  icon: byId("p-icon"),
  iconFile: byId("p-icon-file"),
  iconPreview: byId("p-icon-preview"),
  params: byId("p-params"),
  enabled: byId("p-enabled"),
  submit: byId("p-submit"),
  cancel: byId("p-cancel"),
  title: byId("provider-editor-title"),
};

let presets = [];
let providers = [];
// editing is the provider being changed, or null while adding one.
let editing = null;
// idTouched is true once the admin typed an id, which then no longer
// follows the display name.
let idTouched = false;

// --- List ----------------------------------------------------------------

async function load() {
  pageNotice.replaceChildren();
  try {
    const [presetBody, providerBody] = await Promise.all([
      request("GET", "/api/v1/admin/provider-presets"),
      request("GET", "/api/v1/admin/providers"),
    ]);
    presets = presetBody.presets;
    providers = providerBody.providers;
    f.type.replaceChildren(...presets.map((p) => h("option", { value: p.type, text: p.display_name })));
    renderList();
  } catch (err) {
    listStatus.textContent = "";
    showError(pageNotice, err, { title: "The providers could not be loaded", retry: load });
  }
}

function presetOf(type) {
  return presets.find((p) => p.type === type) || null;
}

function renderList() {
  listStatus.textContent = providers.length ? "" : "No providers yet. Add one so that users can connect accounts.";
  list.replaceChildren(...providers.map((p) => {
    const titleId = `provider-${p.id}-name`;
    const meta = [
      presetOf(p.type)?.display_name || p.type,
      `ID ${p.id}`,
      p.allowed_roles.length ? `Roles: ${p.allowed_roles.join(", ")}` : "Every user",
    ].join(" · ");
    return h("li", { class: "card", dataset: { providerId: p.id } },
      h("div", { class: "card-main" },
        providerIcon(p.icon, p.display_name),
        h("div", { class: "card-body" },
          h("h2", { class: "card-title", id: titleId }, p.display_name,
            p.enabled ? null : h("span", { class: "badge badge-off", text: "Disabled" })),
          h("p", { class: "card-meta", text: meta }),
          h("p", { class: "card-meta", text: p.scopes.length ? `Scopes: ${p.scopes.join(" ")}` : "No scopes configured" }))),
      h("details", { class: "card-detail" },
        h("summary", { text: "Redirect URI and endpoints" }),
        h("dl", { class: "preset-info" },
          h("dt", { text: "Redirect URI" }), h("dd", { text: p.redirect_uri }),
          h("dt", { text: "Authorization" }), h("dd", { text: p.endpoints.authorization_endpoint || "—" }),
          h("dt", { text: "Token" }), h("dd", { text: p.endpoints.token_endpoint || "—" }),
          h("dt", { text: "Revocation" }), h("dd", { text: p.endpoints.revocation_endpoint || "none" }))),
      h("div", { class: "card-actions" },
        h("button", { type: "button", class: "button button-secondary", "aria-describedby": titleId, text: "Edit", on: { click: () => openEditor(p) } }),
        h("button", { type: "button", class: "button button-danger-quiet", "aria-describedby": titleId, text: "Delete", on: { click: () => remove(p) } })));
  }));
}

async function remove(p) {
  const ok = await confirmDialog({
    title: `Delete ${p.display_name}?`,
    message: [
      `Every user's connection to ${p.display_name} ends: Toolgate revokes their tokens at the provider and deletes them.`,
      `MCP servers that use ${p.display_name} stop working until they name another provider. This cannot be undone.`,
    ],
    confirmLabel: "Delete provider and revoke tokens",
    danger: true,
  });
  if (!ok) {
    return;
  }
  try {
    await request("DELETE", `/api/v1/admin/providers/${encodeURIComponent(p.id)}`);
    providers = providers.filter((x) => x.id !== p.id);
    renderList();
    pageNotice.replaceChildren(notice("ok", "", `${p.display_name} was deleted and its users' tokens revoked.`));
    announce(`${p.display_name} was deleted.`);
  } catch (err) {
    pageNotice.replaceChildren(errorNotice(err, { title: `${p.display_name} could not be deleted`, retry: () => remove(p) }));
  }
}

// --- Editor ----------------------------------------------------------------

function openEditor(provider) {
  editing = provider;
  idTouched = Boolean(provider);
  created.hidden = true;
  form.reset();
  clearErrors(form, formErrors);
  const adding = !provider;
  f.title.textContent = adding ? "Add provider" : `Edit ${provider.display_name}`;
  f.submit.textContent = adding ? "Add provider" : "Save changes";
  f.type.disabled = !adding;
  f.id.readOnly = !adding;
  f.credentialsLegend.textContent = adding ? "Client credentials" : "Rotate client credentials";
  f.credentialsHint.hidden = adding;
  f.clientSecret.placeholder = adding ? "" : "Leave empty to keep the current secret";

  if (provider) {
    f.type.value = provider.type;
    f.displayName.value = provider.display_name;
    f.id.value = provider.id;
    f.clientID.value = provider.client_id;
    f.scopes.value = provider.scopes.join(" ");
    f.roles.value = provider.allowed_roles.join(" ");
    f.icon.value = provider.icon;
    f.params.value = keyValueLines(provider.custom_parameters);
    f.enabled.checked = provider.enabled;
    const md = provider.authorization_server_metadata;
    if (provider.discovery_url || !md) {
      f.modeDiscovery.checked = true;
      f.discoveryURL.value = provider.discovery_url || "";
    } else {
      f.modeMetadata.checked = true;
    }
    if (md) {
      f.issuer.value = md.issuer || "";
      f.authorizationEndpoint.value = md.authorization_endpoint || "";
      f.tokenEndpoint.value = md.token_endpoint || "";
      f.revocationEndpoint.value = md.revocation_endpoint || "";
      const methods = md.token_endpoint_auth_methods_supported || [];
      f.authMethod.value = methods.length === 1 ? methods[0] : "";
    }
  } else {
    f.type.value = presets[0]?.type || "custom";
    f.enabled.checked = true;
  }
  applyPreset();
  updateIconPreview();
  editor.hidden = false;
  editor.focus();
  editor.scrollIntoView({ block: "start" });
}

function closeEditor() {
  editor.hidden = true;
  editing = null;
  byId("add-provider").focus();
}

// applyPreset shows what the chosen preset brings: its endpoints, its
// vendor settings, its scope hints, or the custom server fields.
function applyPreset() {
  const preset = presetOf(f.type.value);
  const isCustom = f.type.value === "custom";
  f.custom.hidden = !isCustom;
  toggleMetadataMode();

  f.presetInfo.replaceChildren();
  if (preset && !isCustom) {
    const rows = [
      ["Authorization", preset.authorization_endpoint],
      ["Token", preset.token_endpoint],
      ["Revocation", preset.revocation_endpoint || "none: users remove access in their account settings there"],
    ];
    if (preset.required_scopes?.length) {
      rows.push(["Always requested", preset.required_scopes.join(" ")]);
    }
    f.presetInfo.append(h("dl", {}, rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })])));
  }
  if (preset?.documentation_url) {
    const text = isCustom
      ? "RFC 8414, the metadata that discovery reads (opens in a new tab)"
      : `${preset.display_name}'s OAuth documentation (opens in a new tab)`;
    f.presetInfo.append(h("p", {}, h("a", { href: preset.documentation_url, target: "_blank", rel: "noopener noreferrer", text })));
  }

  const settings = preset?.settings || [];
  f.settings.hidden = settings.length === 0;
  f.settingsFields.replaceChildren(...settings.map((s) => {
    const id = `p-setting-${s.name}`;
    const current = editing?.settings?.[s.name] ?? "";
    return h("div", { class: "field" },
      h("label", { for: id, text: s.name }),
      h("input", {
        id, dataset: { setting: s.name }, value: current, placeholder: s.default || "", spellcheck: "false",
        autocomplete: "off", "aria-describedby": `${id}-hint`,
      }),
      h("p", { class: "field-hint", id: `${id}-hint`, text: s.default ? `${s.description}. Empty means ${s.default}.` : s.description }));
  }));

  renderScopeHints(preset);
  if (!editing && !f.displayName.value && preset && !isCustom) {
    f.displayName.value = preset.display_name;
    suggestID();
  }
}

function toggleMetadataMode() {
  const explicit = f.modeMetadata.checked;
  f.discovery.hidden = explicit;
  f.metadata.hidden = !explicit;
}

// renderScopeHints lists the preset's common scopes as checkboxes that
// add to or remove from the scopes field.
function renderScopeHints(preset) {
  const hints = preset?.scope_hints || [];
  f.scopeHints.hidden = hints.length === 0;
  const current = new Set(words(f.scopes.value));
  f.scopeHintList.replaceChildren(...hints.map((hint, i) => {
    const id = `p-scope-hint-${i}`;
    const box = h("input", { type: "checkbox", id, checked: current.has(hint.scope), value: hint.scope });
    box.addEventListener("change", () => {
      const scopes = words(f.scopes.value).filter((s) => s !== hint.scope);
      if (box.checked) {
        scopes.push(hint.scope);
      }
      f.scopes.value = scopes.join(" ");
    });
    return h("li", {}, h("label", { for: id }, box, h("span", {}, h("code", { text: hint.scope }), ` ${hint.description}`)));
  }));
}

function syncScopeHints() {
  const current = new Set(words(f.scopes.value));
  for (const box of f.scopeHintList.querySelectorAll("input[type=checkbox]")) {
    box.checked = current.has(box.value);
  }
}

function suggestID() {
  if (editing || idTouched) {
    return;
  }
  f.id.value = f.displayName.value.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
}

function updateIconPreview() {
  f.iconPreview.replaceChildren(providerIcon(f.icon.value.trim(), f.displayName.value || "?"));
}

function readIconFile() {
  const file = f.iconFile.files[0];
  if (!file) {
    return;
  }
  const reader = new FileReader();
  reader.addEventListener("load", () => {
    const url = String(reader.result);
    if (url.length > MAX_ICON_BYTES) {
      showLocalErrors(formErrors, [[f.iconFile, `the image is too large as a data URL (${Math.ceil(url.length / 1024)} KB); pick one under 70 KB`]]);
      return;
    }
    f.icon.value = url;
    updateIconPreview();
  });
  reader.addEventListener("error", () => {
    showLocalErrors(formErrors, [[f.iconFile, "the file could not be read; pick it again"]]);
  });
  reader.readAsDataURL(file);
}

// buildBody turns the form into a create or patch body, or returns the
// problems found before sending.
function buildBody() {
  const problems = [];
  const isCustom = f.type.value === "custom";
  const body = {
    display_name: f.displayName.value.trim(),
    scopes: words(f.scopes.value),
    allowed_roles: words(f.roles.value),
    icon: f.icon.value.trim(),
    enabled: f.enabled.checked,
  };
  const [params, paramsProblem] = parseKeyValueLines(f.params.value, "=");
  if (paramsProblem) {
    problems.push([f.params, paramsProblem]);
  }
  body.custom_parameters = params;

  const settings = {};
  for (const input of f.settingsFields.querySelectorAll("input[data-setting]")) {
    if (input.value.trim()) {
      settings[input.dataset.setting] = input.value.trim();
    }
  }
  if (!f.settings.hidden) {
    body.settings = settings;
  }

  const clientID = f.clientID.value.trim();
  const secret = f.clientSecret.value;
  if (!editing) {
    body.id = f.id.value.trim();
    body.type = f.type.value;
    body.client_id = clientID;
    if (secret) {
      body.client_secret = secret;
    }
  } else if (secret || clientID !== editing.client_id) {
    // The API changes credentials only when both are sent.
    if (!secret) {
      problems.push([f.clientSecret, "to change the client ID, also enter the client secret that belongs to it"]);
    }
    if (!clientID) {
      problems.push([f.clientID, "enter the client ID that belongs to the new secret"]);
    }
    body.client_id = clientID;
    body.client_secret = secret;
  }

  if (isCustom) {
    if (f.modeMetadata.checked) {
      const md = {
        issuer: f.issuer.value.trim(),
        authorization_endpoint: f.authorizationEndpoint.value.trim(),
        token_endpoint: f.tokenEndpoint.value.trim(),
        code_challenge_methods_supported: ["S256"],
      };
      if (f.revocationEndpoint.value.trim()) {
        md.revocation_endpoint = f.revocationEndpoint.value.trim();
      }
      if (f.authMethod.value) {
        md.token_endpoint_auth_methods_supported = [f.authMethod.value];
      }
      body.authorization_server_metadata = md;
    } else {
      const url = f.discoveryURL.value.trim();
      // Sending discovery_url fetches the document again, so a change that
      // leaves it alone does not send it.
      if (!editing || url !== (editing.discovery_url || "")) {
        body.discovery_url = url;
      }
      if (!url) {
        problems.push([f.discoveryURL, "enter the discovery URL, or choose to enter the endpoints"]);
      }
    }
  }
  return [body, problems];
}

// inputFor maps an API field name to its input.
function inputFor(field) {
  const top = field.split(/[.[]/)[0];
  const member = field.split(".")[1];
  switch (top) {
    case "id": return f.id;
    case "type": return f.type;
    case "display_name": return f.displayName;
    case "client_id": return f.clientID;
    case "client_secret": return f.clientSecret;
    case "scopes": return f.scopes;
    case "allowed_roles": return f.roles;
    case "icon": return f.icon;
    case "enabled": return f.enabled;
    case "custom_parameters": return f.params;
    case "discovery_url": return f.modeMetadata.checked ? f.issuer : f.discoveryURL;
    case "settings": return byId(`p-setting-${member}`) || f.settingsFields.querySelector("input");
    case "authorization_server_metadata":
      return {
        issuer: f.issuer, authorization_endpoint: f.authorizationEndpoint, token_endpoint: f.tokenEndpoint,
        revocation_endpoint: f.revocationEndpoint, token_endpoint_auth_methods_supported: f.authMethod,
      }[member] || f.issuer;
    default: return null;
  }
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
    if (editing) {
      const saved = await request("PATCH", `/api/v1/admin/providers/${encodeURIComponent(editing.id)}`, body);
      providers = providers.map((p) => (p.id === saved.id ? saved : p));
      renderList();
      editor.hidden = true;
      editing = null;
      pageNotice.replaceChildren(notice("ok", "", `${saved.display_name} was saved.`));
      announce(`${saved.display_name} was saved.`);
      list.querySelector(`[data-provider-id="${CSS.escape(saved.id)}"] button`)?.focus();
    } else {
      const saved = await request("POST", "/api/v1/admin/providers", body);
      providers = [...providers, saved];
      renderList();
      showCreated(saved);
    }
  } catch (err) {
    showErrors(formErrors, err, inputFor, { title: "The provider was not saved" });
  } finally {
    f.submit.disabled = false;
  }
}

// showCreated shows the new provider's redirect URI, which the admin must
// register at the provider.
function showCreated(saved) {
  editor.hidden = true;
  editing = null;
  byId("provider-created-name").textContent = saved.display_name;
  byId("provider-created-uri").value = saved.redirect_uri;
  created.hidden = false;
  created.focus();
  created.scrollIntoView({ block: "start" });
  announce(`${saved.display_name} was added. Register the redirect URI shown at the provider.`);
}

byId("add-provider").addEventListener("click", () => openEditor(null));
f.cancel.addEventListener("click", closeEditor);
f.type.addEventListener("change", () => {
  if (!editing) {
    f.displayName.value = "";
    idTouched = false;
  }
  applyPreset();
});
f.modeDiscovery.addEventListener("change", toggleMetadataMode);
f.modeMetadata.addEventListener("change", toggleMetadataMode);
f.displayName.addEventListener("input", () => {
  suggestID();
  updateIconPreview();
});
f.id.addEventListener("input", () => {
  idTouched = true;
});
f.scopes.addEventListener("input", syncScopeHints);
f.icon.addEventListener("input", updateIconPreview);
f.iconFile.addEventListener("change", readIconFile);
form.addEventListener("submit", submit);
editor.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closeEditor();
  }
});
byId("copy-redirect-uri").addEventListener("click", (event) => {
  copyText(byId("provider-created-uri").value, event.currentTarget, byId("provider-created-uri"));
});
byId("provider-created-done").addEventListener("click", () => {
  created.hidden = true;
  list.querySelector("li:last-child button")?.focus();
});

load();
