// The consent popup: opening it, and learning how the consent ended.
//
// Three sources report the end of a consent, and the first one wins:
//
//   - a BroadcastChannel message from Toolgate's /oauth-complete page,
//     which reaches every Toolgate page of this origin even when the
//     provider's pages cut the popup's link to its opener;
//   - a postMessage from that page to its opener, accepted only from this
//     page's origin;
//   - polling GET /api/v1/consents/{id}, which works when neither message
//     arrives, for example for a consent finished in another tab.
//
// A message only triggers a status read from the API, which is the source
// of truth. The message's own status counts only when that read fails.

import { request } from "./api.js";

const CHANNEL = "toolgate-oauth";
const MESSAGE_TYPE = "toolgate:oauth-complete";
const POPUP_FEATURES = "popup,width=520,height=720";
const POLL_FIRST_MS = 1500;
const POLL_MAX_MS = 5000;
const CLOSED_CHECK_MS = 500;

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]"]);

// isSafeConsentURL reports whether raw may be opened as a consent URL: an
// https URL, or an http URL on a loopback host (for development).
export function isSafeConsentURL(raw) {
  let url;
  try {
    url = new URL(raw, location.href);
  } catch {
    return false;
  }
  if (url.username || url.password) {
    return false;
  }
  if (url.protocol === "https:") {
    return true;
  }
  if (url.protocol !== "http:") {
    return false;
  }
  const host = url.hostname.toLowerCase();
  return LOOPBACK_HOSTS.has(host) || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

// openConsentPopup opens an empty popup window. It must run synchronously
// inside a click handler, before any await, or browsers block it. It
// returns null when the browser blocked the popup. The caller navigates
// the popup with navigatePopup once the consent URL is known.
export function openConsentPopup() {
  let popup = null;
  try {
    popup = window.open("", "_blank", POPUP_FEATURES);
  } catch {
    popup = null;
  }
  if (popup) {
    try {
      popup.document.title = "Connecting…";
      popup.document.body.textContent = "Opening the sign-in page…";
    } catch {
      // The window is not ours to write to; it still navigates.
    }
  }
  return popup;
}

// navigatePopup sends popup to url after checking it. It returns false,
// leaving the popup alone, when the URL may not be opened.
export function navigatePopup(popup, url) {
  if (!popup || popup.closed || !isSafeConsentURL(url)) {
    return false;
  }
  popup.location.href = new URL(url, location.href).href;
  return true;
}

// closePopup closes a popup that is no longer needed.
export function closePopup(popup) {
  try {
    if (popup && !popup.closed) {
      popup.close();
    }
  } catch {
    // Closing a window whose page cut the link to us can throw.
  }
}

// startConsent requests a fresh consent URL for providerId from the API.
// The result has connected: true when no consent is needed.
export function startConsent(providerId, { signal } = {}) {
  return request("POST", `/api/v1/connectors/${encodeURIComponent(providerId)}/consent`, {}, { signal });
}

// watchConsent resolves when the consent consentId ends, with
// { status: "completed" | "failed" | "expired", error, errorDescription }.
// It keeps watching after the popup closes, because a provider's
// Cross-Origin-Opener-Policy makes an open popup look closed, and the
// user may finish in another tab. onPopupClosed is called once when the
// popup looks closed, so that the page can offer to start again. Abort
// signal to stop watching, and the promise rejects with an AbortError.
export function watchConsent({ consentId, providerId, popup, signal, onPopupClosed }) {
  return new Promise((resolve, reject) => {
    let finished = false;
    let pollTimer = 0;
    let pollDelay = POLL_FIRST_MS;
    let closedTimer = 0;
    let channel = null;

    const cleanup = () => {
      finished = true;
      clearTimeout(pollTimer);
      clearInterval(closedTimer);
      window.removeEventListener("message", onWindowMessage);
      if (channel) {
        channel.close();
      }
      signal?.removeEventListener("abort", onAbort);
    };
    const finish = (outcome) => {
      if (!finished) {
        cleanup();
        resolve(outcome);
      }
    };
    const onAbort = () => {
      if (!finished) {
        cleanup();
        reject(new DOMException("watching the consent was cancelled", "AbortError"));
      }
    };

    // check reads the consent's status and finishes unless it is still
    // pending. fallback is a status from a message, used when the read
    // fails.
    const check = async (fallback) => {
      if (finished) {
        return;
      }
      try {
        const status = await request("GET", `/api/v1/consents/${encodeURIComponent(consentId)}`, undefined, { signal });
        if (status.status !== "pending") {
          finish({ status: status.status, error: status.error || "", errorDescription: status.error_description || "" });
        }
      } catch (err) {
        if (err.name === "AbortError") {
          return;
        }
        if (fallback) {
          finish(fallback);
          return;
        }
        if (err.status === 404 || err.status === 401) {
          finish({ status: "failed", error: err.status === 401 ? "signed_out" : "not_found", errorDescription: err.detail });
        }
        // Other failures are retried by the next poll.
      }
    };

    const poll = async () => {
      await check(null);
      if (!finished) {
        pollDelay = Math.min(pollDelay * 1.5, POLL_MAX_MS);
        pollTimer = setTimeout(poll, pollDelay);
      }
    };

    const matches = (data) =>
      data && data.type === MESSAGE_TYPE &&
      (data.consent_id ? data.consent_id === consentId : data.provider_id === providerId);
    const fromMessage = (data) => {
      if (!matches(data)) {
        return;
      }
      const fallback = data.status === "success"
        ? { status: "completed", error: "", errorDescription: "" }
        : { status: "failed", error: data.error || "", errorDescription: "" };
      check(fallback);
    };
    const onWindowMessage = (event) => {
      if (event.origin !== location.origin) {
        return;
      }
      fromMessage(event.data);
    };

    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort);
    window.addEventListener("message", onWindowMessage);
    if ("BroadcastChannel" in window) {
      channel = new BroadcastChannel(CHANNEL);
      channel.addEventListener("message", (event) => fromMessage(event.data));
    }
    pollTimer = setTimeout(poll, POLL_FIRST_MS);

    if (popup) {
      closedTimer = setInterval(() => {
        let closed = true;
        try {
          closed = popup.closed;
        } catch {
          closed = true;
        }
        if (closed) {
          clearInterval(closedTimer);
          check(null);
          onPopupClosed?.();
        }
      }, CLOSED_CHECK_MS);
    }
  });
}

// describeConsentFailure explains in plain words why a consent did not
// complete and what to do.
export function describeConsentFailure(outcome, providerName) {
  const name = providerName || "the provider";
  if (outcome.status === "expired") {
    return `The request to connect ${name} expired before it was finished. Connect again to start over.`;
  }
  switch (outcome.error) {
    case "access_denied":
      return `Access was declined on ${name}'s page, so nothing was connected. Connect again if you want to allow it.`;
    case "cancelled":
      return `A newer request to connect ${name} replaced this one. Use the newest Connect button.`;
    case "signed_out":
      return "Your Toolgate session ended. Sign in again, then connect.";
    case "not_found":
      return `Toolgate no longer knows this request to connect ${name}. Connect again to start over.`;
    default: {
      const why = outcome.errorDescription || outcome.error || "no reason was given";
      return `Connecting ${name} failed (${why}). Try again; if it keeps failing, tell your administrator.`;
    }
  }
}
