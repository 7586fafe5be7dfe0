// DOM helpers shared by the pages: element building, error notices, the
// confirmation dialog, announcements for screen readers and icons.
// Text always goes in through textContent, never innerHTML.

import { signInURL } from "./api.js";

// h builds an element. props may contain class, text, hidden, dataset, on
// (event listeners) and any other attribute; children are nodes or
// strings, and null children are skipped.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    switch (key) {
      case "class":
        el.className = value;
        break;
      case "text":
        el.textContent = value;
        break;
      case "dataset":
        Object.assign(el.dataset, value);
        break;
      case "on":
        for (const [event, listener] of Object.entries(value)) {
          el.addEventListener(event, listener);
        }
        break;
      default:
        el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child);
    }
  }
  return el;
}

export function byId(id) {
  return document.getElementById(id);
}

// announce reports a change to screen reader users, who cannot see it.
export function announce(message) {
  const region = byId("announcer");
  if (!region) {
    return;
  }
  region.textContent = "";
  // A new text node in a second task makes screen readers repeat a
  // message that equals the previous one.
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

// sentence makes an API detail read as a sentence: capital first letter
// and a final full stop.
export function sentence(text) {
  const trimmed = String(text || "").trim();
  if (!trimmed) {
    return "";
  }
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : first + ".";
}

// describeError turns an error into a title, a sentence and what the user
// can do next, in plain words.
export function describeError(err) {
  if (err && err.name === "ApiError") {
    switch (true) {
      case err.status === 0:
        return { title: "No connection", message: sentence(err.detail) };
      case err.status === 401:
        return {
          title: "You are signed out",
          message: "Your session ended. Sign in again, then repeat what you were doing.",
          link: { href: signInURL(), text: "Sign in again" },
        };
      case err.code === "csrf_failed":
        return { title: "Request rejected", message: "Toolgate rejected the request because it could not confirm that it came from this page. Reload the page and try again." };
      case err.status === 403:
        return { title: "Not allowed", message: sentence(err.detail) };
      case err.status >= 500:
        return { title: "Server error", message: sentence(err.detail) + " Try again in a moment; if it keeps happening, tell your administrator." };
      default:
        return { title: "That did not work", message: sentence(err.detail) };
    }
  }
  return {
    title: "Something went wrong",
    message: "The page hit an unexpected error: " + sentence(err && err.message ? err.message : String(err)) + " Reload the page and try again.",
  };
}

// errorNotice builds a notice for err. retry, if given, adds a button that
// calls it.
export function errorNotice(err, { retry, title } = {}) {
  const described = describeError(err);
  const actions = [];
  if (described.link) {
    actions.push(h("a", { class: "button button-secondary button-small", href: described.link.href, text: described.link.text }));
  }
  if (retry) {
    actions.push(h("button", { type: "button", class: "button button-secondary button-small", text: "Try again", on: { click: retry } }));
  }
  return h("div", { class: "notice notice-error", role: "alert" },
    h("p", { class: "notice-title", text: title || described.title }),
    h("p", { text: described.message }),
    actions.length ? h("div", { class: "notice-actions" }, actions) : null);
}

// showError replaces the content of container with a notice for err, and
// logs the error to the browser console.
export function showError(container, err, options) {
  console.error(err);
  container.replaceChildren(errorNotice(err, options));
}

export function notice(kind, title, message) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
    title ? h("p", { class: "notice-title", text: title }) : null,
    message ? h("p", { text: message }) : null);
}

// confirmDialog asks a yes-or-no question in a modal dialog and resolves
// to true when the user confirms. Escape and Cancel resolve to false.
export function confirmDialog({ title, message, confirmLabel, danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const cancel = h("button", { type: "button", class: "button button-secondary", text: "Cancel", value: "cancel" });
    const confirm = h("button", { type: "button", class: danger ? "button button-danger" : "button", text: confirmLabel, value: "confirm" });
    const titleId = "dialog-title-" + Math.random().toString(36).slice(2);
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": titleId },
      h("h2", { id: titleId, text: title }),
      [].concat(message).map((text) => h("p", { text })),
      h("div", { class: "form-actions" }, cancel, confirm));
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) {
        opener.focus();
      }
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// providerIcon returns an image for an https or data:image icon URL, or a
// badge with the name's first letter.
export function providerIcon(icon, name, { small = false } = {}) {
  const size = small ? " provider-icon-small" : "";
  if (typeof icon === "string" && (icon.startsWith("https://") || icon.startsWith("data:image/"))) {
    const img = h("img", { class: "provider-icon" + size, src: icon, alt: "", width: small ? 28 : 40, height: small ? 28 : 40 });
    img.addEventListener("error", () => img.replaceWith(letterIcon(name, size)), { once: true });
    return img;
  }
  return letterIcon(name, size);
}

function letterIcon(name, size) {
  const letter = (String(name || "?").trim()[0] || "?").toUpperCase();
  return h("span", { class: "provider-icon provider-icon-letter" + size, "aria-hidden": "true", text: letter });
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(iso) {
  if (!iso) {
    return "";
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTime.format(date);
}

// words splits a list typed with spaces, commas or new lines.
export function words(text) {
  return String(text || "").split(/[\s,]+/).filter(Boolean);
}

// copyText copies text to the clipboard and reports on button whether it
// worked, falling back to selecting input for a manual copy.
export async function copyText(text, button, input) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
    announce("Copied to the clipboard.");
  } catch {
    if (input) {
      input.focus();
      input.select();
    }
    button.textContent = "Press Ctrl+C to copy";
    announce("Copying failed. The text is selected; press Control and C to copy it.");
  }
  setTimeout(() => {
    button.textContent = label;
  }, 2500);
}
