// Reports how a consent flow ended to the page that started it, and
// closes a popup after a success.
//
// The outcome comes from data attributes of #oauth-outcome, because the
// page's Content-Security-Policy allows no inline script. Two channels
// carry it, since either may be missing: a BroadcastChannel reaches
// Toolgate pages of this origin even when the provider's
// Cross-Origin-Opener-Policy cut window.opener, and postMessage reaches an
// opener on Toolgate's origin or an allowed origin. A client that needs
// the recorded outcome calls GET /api/v1/consents/{consent_id}.

const CHANNEL = "toolgate-oauth";
const CLOSE_DELAY_MS = 1500;

const element = document.getElementById("oauth-outcome");
if (element) {
  const data = element.dataset;
  const message = {
    type: "toolgate:oauth-complete",
    provider_id: data.providerId || null,
    status: data.status,
    error: data.error || null,
    consent_id: data.consentId || null,
  };

  if ("BroadcastChannel" in window) {
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage(message);
    channel.close();
  }

  const opener = window.opener;
  if (opener && !opener.closed) {
    // postMessage delivers only when the opener's origin equals the
    // target origin, so an opener on any other origin learns nothing.
    for (const origin of (data.origins || "").split(" ").filter(Boolean)) {
      try {
        opener.postMessage(message, origin);
      } catch {
        // The opener navigated away or was closed meanwhile.
      }
    }
  }

  if (message.status === "success" && opener) {
    // A popup closes after a moment, so that the user sees the result.
    // A normal tab stays open and offers the link back to Toolgate.
    setTimeout(() => window.close(), CLOSE_DELAY_MS);
  }
}
