// Plain-words labels for connection statuses and their reasons, shared by
// the connector settings page and the chat.

// statusLabel names a connection status.
export function statusLabel(status) {
  switch (status) {
    case "connected":
      return "Connected";
    case "needs_reauth":
      return "Needs to be connected again";
    case "revoked":
      return "Disconnected";
    default:
      return "Not connected";
  }
}

// reasonText explains why a connection needs to be connected again or
// was revoked, and what to do.
export function reasonText(status, reason, missingScopes = []) {
  if (status !== "needs_reauth" && status !== "revoked") {
    return "";
  }
  switch (reason) {
    case "":
    case undefined:
      return "Connect again to keep using it.";
    case "scopes_changed": {
      const missing = missingScopes.length ? ` (${missingScopes.join(", ")})` : "";
      return `An administrator added permissions${missing} that your earlier consent did not cover. Connect again to grant them.`;
    }
    case "expired":
      return "The access expired and the provider gave no way to renew it. Connect again to continue.";
    case "token_rejected":
      return "The provider no longer accepts the saved access. Connect again to continue.";
    case "invalid_grant":
      return "The provider withdrew the access, for example because it was removed in your account settings there. Connect again to continue.";
    case "disconnected":
      return "You disconnected this account.";
    default:
      return `The provider reported "${reason}". Connect again to continue.`;
  }
}
