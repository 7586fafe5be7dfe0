// Settings → Connectors: the providers the user may connect, with each
// connection's status, and the Connect and Disconnect actions.

import { request } from "./api.js";
import {
  closePopup, describeConsentFailure, isSafeConsentURL, navigatePopup, openConsentPopup, startConsent, watchConsent,
} from "./consent.js";
import { reasonText, statusLabel } from "./connector-status.js";
import {
  announce, byId, confirmDialog, errorNotice, formatTime, h, notice, providerIcon, showError,
} from "./ui.js";

const list = byId("connector-list");
const status = byId("connectors-status");
const pageNotice = byId("connectors-notice");

// rows maps a provider id to its row: { connector, el, attempt }. While a
// consent runs, attempt contains its AbortController.
const rows = new Map();

async function load() {
  pageNotice.replaceChildren();
  try {
    const body = await request("GET", "/api/v1/connectors");
    render(body.connectors);
  } catch (err) {
    status.textContent = "";
    showError(pageNotice, err, { retry: load, title: "Your connectors could not be loaded" });
  }
}

function render(connectors) {
  const seen = new Set();
  for (const connector of connectors) {
    seen.add(connector.provider_id);
    let row = rows.get(connector.provider_id);
    if (!row) {
      row = { connector, el: h("li", { class: "card", dataset: { providerId: connector.provider_id } }), attempt: null };
      rows.set(connector.provider_id, row);
    }
    row.connector = connector;
    list.append(row.el);
    if (!row.attempt) {
      renderRow(row);
    }
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.attempt?.abort.abort();
      row.el.remove();
      rows.delete(id);
    }
  }
  status.textContent = connectors.length
    ? ""
    : "No connectors are available to you yet. An administrator adds them under Admin → Connectors.";
}

// renderRow draws a row from its connector. message, if given, is a
// notice node shown under the actions.
function renderRow(row, message = null) {
  const c = row.connector;
  const busy = Boolean(row.attempt && !row.attempt.popupClosed);
  const connected = c.status === "connected";
  const canDisconnect = c.status === "connected" || c.status === "needs_reauth";
  const since = connected && c.connected_at ? ` since ${formatTime(c.connected_at)}` : "";
  const reason = reasonText(c.status, c.reason, c.missing_scopes);
  const titleId = `connector-${c.provider_id}-name`;

  const actions = [];
  if (!connected) {
    actions.push(h("button", {
      type: "button", class: "button", "aria-describedby": titleId, disabled: busy,
      text: c.status === "not_connected" ? "Connect" : "Connect again",
      on: { click: () => connect(row) },
    }));
  }
  if (canDisconnect) {
    actions.push(h("button", {
      type: "button", class: "button button-danger-quiet", "aria-describedby": titleId, disabled: busy,
      text: "Disconnect", on: { click: () => disconnect(row) },
    }));
  }

  row.el.replaceChildren(
    h("div", { class: "card-main" },
      providerIcon(c.icon, c.display_name),
      h("div", { class: "card-body" },
        h("h2", { class: "card-title", id: titleId, text: c.display_name }),
        h("p", { class: `status-line status-${c.status}` },
          h("span", { class: "status-dot", "aria-hidden": "true" }),
          h("span", { class: "status-text", text: statusLabel(c.status) }),
          since ? h("span", { class: "muted", text: since }) : null),
        reason ? h("p", { class: "card-meta", text: reason }) : null,
        connected && c.scopes.length ? h("p", { class: "card-meta", text: "Permissions: " + c.scopes.join(", ") }) : null)),
    actions.length ? h("div", { class: "card-actions" }, actions) : null,
    h("div", { class: "row-notice" }, message));
}

// refreshRow reads one connection's status, which changes nothing on the
// server, and redraws the row.
async function refreshRow(row, message = null) {
  const id = encodeURIComponent(row.connector.provider_id);
  try {
    const st = await request("GET", `/api/v1/connectors/${id}/status`);
    Object.assign(row.connector, {
      status: st.status, reason: st.reason || "", scopes: st.scopes || [],
      missing_scopes: st.missing_scopes || [], connected_at: st.connected_at || "", expires_at: st.expires_at || "",
    });
    renderRow(row, message);
  } catch (err) {
    renderRow(row, errorNotice(err, { title: "The status could not be updated", retry: () => refreshRow(row) }));
  }
}

// connect opens the consent popup at once, inside the click, and then
// requests the consent URL from the API.
function connect(row) {
  const popup = openConsentPopup();
  row.attempt?.abort.abort();
  const attempt = { abort: new AbortController(), popupClosed: false };
  row.attempt = attempt;
  const name = row.connector.display_name;
  renderRow(row, notice("info", "", `Opening ${name}'s sign-in page…`));

  runConsent(row, attempt, popup).catch((err) => {
    if (err.name === "AbortError") {
      return;
    }
    closePopup(popup);
    if (row.attempt === attempt) {
      row.attempt = null;
    }
    renderRow(row, errorNotice(err, { title: `Connecting ${name} failed`, retry: () => connect(row) }));
  });
}

async function runConsent(row, attempt, popup) {
  const c = row.connector;
  const name = c.display_name;
  const started = await startConsent(c.provider_id, { signal: attempt.abort.signal });
  if (started.connected) {
    closePopup(popup);
    row.attempt = null;
    await refreshRow(row, notice("ok", "", `${name} is already connected.`));
    return;
  }
  if (!isSafeConsentURL(started.authorization_url)) {
    closePopup(popup);
    row.attempt = null;
    renderRow(row, notice("error", "Connecting is not possible",
      "Toolgate sent a sign-in link that is not https, so this page does not open it. Ask your administrator to serve Toolgate over https."));
    return;
  }

  if (navigatePopup(popup, started.authorization_url)) {
    renderRow(row, waitingNotice(row, `Finish connecting ${name} in the popup window.`));
  } else {
    closePopup(popup);
    attempt.popupClosed = true;
    renderRow(row, blockedNotice(name, started.authorization_url));
  }

  const outcome = await watchConsent({
    consentId: started.consent_id,
    providerId: c.provider_id,
    popup: attempt.popupClosed ? null : popup,
    signal: attempt.abort.signal,
    onPopupClosed: () => {
      attempt.popupClosed = true;
      if (row.attempt === attempt) {
        renderRow(row, notice("info", "",
          `The ${name} window was closed. If you finished there, this page updates in a moment; otherwise connect again.`));
      }
    },
  });
  if (row.attempt !== attempt) {
    return;
  }
  row.attempt = null;
  closePopup(popup);
  if (outcome.status === "completed") {
    announce(`${name} is connected.`);
    await refreshRow(row);
    return;
  }
  await refreshRow(row, notice("error", `${name} was not connected`, describeConsentFailure(outcome, name)));
}

function waitingNotice(row, text) {
  return h("div", { class: "notice", role: "status" },
    h("p", { text }),
    h("div", { class: "notice-actions" },
      h("button", {
        type: "button", class: "button button-secondary button-small", text: "Cancel",
        on: { click: () => cancel(row) },
      })));
}

// blockedNotice offers the consent URL as a link when the browser blocked
// the popup. The new tab has no link back to this page, so the BroadcastChannel
// message and polling report the outcome.
function blockedNotice(name, url) {
  return h("div", { class: "notice notice-warn", role: "alert" },
    h("p", { class: "notice-title", text: "The popup was blocked" }),
    h("p", { text: `Your browser blocked the window for ${name}'s sign-in page. Open it in a new tab instead; this page updates when you finish there.` }),
    h("div", { class: "notice-actions" },
      h("a", { class: "button button-small", href: new URL(url, location.href).href, target: "_blank", rel: "noopener", text: "Open in a new tab" })));
}

function cancel(row) {
  row.attempt?.abort.abort();
  row.attempt = null;
  renderRow(row);
}

async function disconnect(row) {
  const name = row.connector.display_name;
  const ok = await confirmDialog({
    title: `Disconnect ${name}?`,
    message: [
      `Toolgate deletes the saved access to your ${name} account and asks ${name} to revoke it.`,
      `The agent asks you to connect again before it next uses ${name}.`,
    ],
    confirmLabel: "Disconnect",
    danger: true,
  });
  if (!ok) {
    return;
  }
  try {
    await request("DELETE", `/api/v1/connectors/${encodeURIComponent(row.connector.provider_id)}/connection`);
    announce(`${name} is disconnected.`);
    await refreshRow(row, notice("ok", "", `${name} is disconnected.`));
  } catch (err) {
    renderRow(row, errorNotice(err, { title: `Disconnecting ${name} failed`, retry: () => disconnect(row) }));
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    load();
  }
});

load();
