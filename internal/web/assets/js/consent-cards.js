// Inline consent cards for a paused chat turn.
//
// An oauth_required event, or a pending interrupt of a reloaded session,
// becomes a card under the tool call that needs the account: the
// provider's icon and name, Connect and Dismiss. Interrupts of one
// provider share a card, because they share one consent.
//
// Each card moves through these states:
//
//   waiting ──Connect──► connecting ──consent completed──► consented
//      ▲                     │
//      └──failed, or popup closed without finishing
//   waiting ──Dismiss──► declined
//
// When every card of the paused turn is consented or declined, onReady
// gets the interrupt responses, and the chat resumes the turn with them.
// Interrupt ids that were answered are remembered in localStorage, so
// that a replayed event or a reload never shows them again.

import { request } from "./api.js";
import {
  closePopup, describeConsentFailure, isSafeConsentURL, navigatePopup, openConsentPopup, startConsent, watchConsent,
} from "./consent.js";
import { announce, describeError, h, providerIcon } from "./ui.js";

const HANDLED_KEY = "toolgate.handled-interrupts";
const MAX_HANDLED = 500;

// handledIds returns the interrupt ids answered in this browser.
function handledIds() {
  try {
    const ids = JSON.parse(localStorage.getItem(HANDLED_KEY) || "[]");
    return new Set(Array.isArray(ids) ? ids : []);
  } catch {
    return new Set();
  }
}

export function isHandled(interruptId) {
  return handledIds().has(interruptId);
}

export function markHandled(interruptIds) {
  const ids = [...handledIds(), ...interruptIds];
  try {
    localStorage.setItem(HANDLED_KEY, JSON.stringify([...new Set(ids)].slice(-MAX_HANDLED)));
  } catch {
    // Storage full or disabled: the session's pending list still hides
    // answered interrupts after a reload.
  }
}

export class ConsentCards {
  // providers returns { display_name, icon } for a provider id, or null.
  // onReady(responses, block) is called once every card of the paused
  // turn is answered.
  constructor({ providers, onReady }) {
    this.providers = providers;
    this.onReady = onReady;
    this.sessionId = "";
    // cards maps a provider id to its card state.
    this.cards = new Map();
  }

  // reset drops every card, as when another session opens.
  reset(sessionId) {
    for (const card of this.cards.values()) {
      card.abort?.abort();
      closePopup(card.popup);
    }
    this.cards.clear();
    this.sessionId = sessionId;
  }

  get size() {
    return this.cards.size;
  }

  // add shows interrupt, unless it was answered before. anchor is the
  // element the card goes after. authorizationURL, from a live event, is
  // used for the first Connect. A reloaded interrupt has none, so Connect
  // requests a fresh consent.
  add(interrupt, anchor) {
    const id = interrupt.interrupt_id;
    if (!id || isHandled(id)) {
      return;
    }
    const existing = this.cards.get(interrupt.provider_id);
    if (existing) {
      if (!existing.interruptIds.includes(id)) {
        existing.interruptIds.push(id);
      }
      return;
    }
    const card = {
      providerId: interrupt.provider_id,
      interruptIds: [id],
      authorizationURL: interrupt.authorization_url || "",
      consentId: interrupt.consent_id || "",
      toolName: interrupt.tool_name || "",
      state: "waiting",
      abort: null,
      popup: null,
      el: null,
    };
    card.el = this.build(card);
    anchor.after(card.el);
    card.el.scrollIntoView({ block: "nearest" });
    this.cards.set(card.providerId, card);
    announce(`${this.name(card)} needs to be connected before the answer can continue.`);
  }

  // supersede closes every card because the user sent a new message,
  // which cancels the paused turn on the server.
  supersede() {
    const ids = [];
    for (const card of this.cards.values()) {
      card.abort?.abort();
      closePopup(card.popup);
      if (card.state !== "consented" && card.state !== "declined") {
        this.finishCard(card, "You sent a new message, so this request to connect was dropped.");
      }
      ids.push(...card.interruptIds);
    }
    markHandled(ids);
    this.cards.clear();
  }

  name(card) {
    return this.providers(card.providerId)?.display_name || card.providerId;
  }

  build(card) {
    const name = this.name(card);
    const titleId = `consent-${card.providerId}-${card.interruptIds[0]}`;
    const tool = card.toolName ? `To run ${card.toolName}, the agent` : "The agent";
    card.connect = h("button", { type: "button", class: "button consent-connect", text: `Connect ${name}`, on: { click: () => this.connect(card) } });
    card.dismiss = h("button", {
      type: "button", class: "button button-secondary consent-dismiss", text: "Dismiss",
      "aria-label": `Dismiss: continue without ${name}`, on: { click: () => this.dismiss(card) },
    });
    card.status = h("div", { class: "consent-card-status", role: "status" });
    card.title = h("h3", { class: "consent-card-title", id: titleId, text: `Connect your ${name} account` });
    card.explanation = h("p", { text: `${tool} needs access to your ${name} account. Connect it and the answer continues here, or dismiss to let the agent go on without it.` });
    return h("section", {
      class: "consent-card", tabindex: "-1", "aria-labelledby": titleId,
      dataset: { providerId: card.providerId, interruptIds: card.interruptIds.join(" ") },
    },
    h("div", { class: "consent-card-head" },
      providerIcon(this.providers(card.providerId)?.icon, name, { small: true }),
      card.title),
    card.explanation,
    h("div", { class: "consent-card-actions" }, card.connect, card.dismiss),
    card.status);
  }

  setStatus(card, ...children) {
    card.status.replaceChildren(...children);
  }

  setBusy(card, busy) {
    card.connect.disabled = busy;
    card.dismiss.disabled = busy;
    card.el.classList.remove("consent-card-error");
  }

  // connect opens the popup synchronously, inside the click, then finds
  // the consent URL: the event's URL the first time, a fresh one after.
  connect(card) {
    const popup = openConsentPopup();
    card.abort?.abort();
    closePopup(card.popup);
    const abort = new AbortController();
    Object.assign(card, { abort, popup, state: "connecting", popupClosed: false });
    this.setBusy(card, true);
    this.setStatus(card, `Opening ${this.name(card)}'s sign-in page…`);

    this.runConsent(card, abort, popup).catch((err) => {
      if (err.name === "AbortError" || card.abort !== abort) {
        return;
      }
      closePopup(popup);
      const described = describeError(err);
      this.fail(card, `${described.title}: ${described.message}`);
    });
  }

  async runConsent(card, abort, popup) {
    const name = this.name(card);
    let url = card.authorizationURL;
    let consentId = card.consentId;
    card.authorizationURL = "";
    if (!url) {
      const started = await startConsent(card.providerId, { signal: abort.signal });
      if (started.connected) {
        closePopup(popup);
        this.consented(card);
        return;
      }
      url = started.authorization_url;
      consentId = started.consent_id;
      card.consentId = consentId;
    }
    if (!isSafeConsentURL(url)) {
      closePopup(popup);
      this.fail(card, "Toolgate sent a sign-in link that is not https, so this page does not open it. Ask your administrator to serve Toolgate over https.");
      return;
    }

    if (navigatePopup(popup, url)) {
      this.setStatus(card, `Finish connecting in the ${name} window.`);
    } else {
      closePopup(popup);
      card.popupClosed = true;
      card.connect.disabled = false;
      card.dismiss.disabled = false;
      this.setStatus(card,
        h("span", { text: "Your browser blocked the popup window. " }),
        h("a", { class: "consent-new-tab", href: new URL(url, location.href).href, target: "_blank", rel: "noopener", text: "Open in a new tab" }),
        h("span", { text: "; this answer continues when you finish there." }));
    }

    const outcome = await watchConsent({
      consentId,
      providerId: card.providerId,
      popup: card.popupClosed ? null : popup,
      signal: abort.signal,
      onPopupClosed: () => {
        if (card.abort !== abort || card.state !== "connecting") {
          return;
        }
        card.popupClosed = true;
        card.connect.disabled = false;
        card.dismiss.disabled = false;
        this.setStatus(card, `The ${name} window was closed. If you finished there, the answer continues in a moment; otherwise connect again.`);
      },
    });
    if (card.abort !== abort) {
      return;
    }
    closePopup(popup);
    if (outcome.status === "completed") {
      this.consented(card);
      return;
    }
    this.fail(card, describeConsentFailure(outcome, name));
  }

  fail(card, message) {
    card.state = "waiting";
    this.setBusy(card, false);
    card.connect.textContent = `Connect ${this.name(card)}`;
    card.el.classList.add("consent-card-error");
    this.setStatus(card, message);
  }

  consented(card) {
    card.state = "consented";
    card.title.textContent = `${this.name(card)} connected`;
    this.finishCard(card, "The agent can now use your account.");
    card.el.classList.add("consent-card-done");
    announce(`${this.name(card)} is connected. The answer continues.`);
    this.checkReady(card.el.closest(".msg-assistant"));
  }

  async dismiss(card) {
    this.setBusy(card, true);
    card.abort?.abort();
    closePopup(card.popup);
    try {
      for (const id of card.interruptIds) {
        await request("DELETE",
          `/api/v1/sessions/${encodeURIComponent(this.sessionId)}/pending-interrupts/${encodeURIComponent(id)}`);
      }
    } catch (err) {
      const described = describeError(err);
      this.fail(card, `Dismissing failed. ${described.message}`);
      return;
    }
    card.state = "declined";
    card.title.textContent = `${this.name(card)} not connected`;
    this.finishCard(card, `You dismissed the request to connect ${this.name(card)}. The agent continues without it.`);
    this.checkReady(card.el.closest(".msg-assistant"));
  }

  // finishCard replaces the card's explanation and buttons with a final
  // message.
  finishCard(card, message) {
    card.explanation.remove();
    card.connect.remove();
    card.dismiss.remove();
    this.setStatus(card, message);
  }

  // checkReady calls onReady when every card is answered.
  checkReady(block) {
    const cards = [...this.cards.values()];
    if (cards.length === 0 || cards.some((c) => c.state !== "consented" && c.state !== "declined")) {
      return;
    }
    const responses = cards.flatMap((c) => c.interruptIds.map((id) => ({
      interrupt_id: id,
      response: c.state === "consented" ? "consented" : "declined",
    })));
    this.cards.clear();
    this.onReady(responses, block);
  }
}
