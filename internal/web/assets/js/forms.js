// Form helpers for the admin pages: showing the API's field errors next
// to their inputs, with a summary that links to each one.

import { describeError, h, sentence } from "./ui.js";

// clearErrors removes the error messages and marks that showErrors added.
export function clearErrors(form, summary) {
  for (const el of form.querySelectorAll(".field-error")) {
    el.remove();
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.endsWith("-error"));
    if (described.length) {
      input.setAttribute("aria-describedby", described.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }
  summary.replaceChildren();
}

// markInvalid shows message under input and links them for screen
// readers.
export function markInvalid(input, message) {
  const id = `${input.id}-error`;
  let el = document.getElementById(id);
  if (!el) {
    el = h("p", { class: "field-error", id });
    (input.closest(".field") || input.parentElement).append(el);
  }
  el.textContent = sentence(message);
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(id)) {
    input.setAttribute("aria-describedby", [...described, id].join(" "));
  }
}

// showErrors shows err in summary and, for each field error the API
// named, under the input that inputFor(field) returns. The summary gets
// focus, so that keyboard and screen reader users land on it.
export function showErrors(summary, err, inputFor, { title = "The form has problems" } = {}) {
  const items = [];
  for (const fieldError of err.fields || []) {
    const input = inputFor(fieldError.field);
    const label = input ? labelOf(input) : fieldError.field;
    if (input) {
      markInvalid(input, fieldError.detail);
      items.push(h("li", {}, h("a", {
        href: `#${input.id}`, text: `${label}: ${sentence(fieldError.detail)}`,
        on: { click: (event) => { event.preventDefault(); input.focus(); } },
      })));
    } else {
      items.push(h("li", { text: `${fieldError.field}: ${sentence(fieldError.detail)}` }));
    }
  }
  const described = describeError(err);
  const box = h("div", { class: "notice notice-error error-summary", role: "alert", tabindex: "-1" },
    h("p", { class: "notice-title", text: items.length ? title : described.title }),
    items.length ? h("ul", {}, items) : h("p", { text: described.message }),
    described.link ? h("p", {}, h("a", { href: described.link.href, text: described.link.text })) : null);
  summary.replaceChildren(box);
  box.focus();
}

// showLocalErrors shows problems found before sending, in the same form
// as the API's.
export function showLocalErrors(summary, problems) {
  const fields = problems.map(([input, detail]) => ({ field: input.id, detail, input }));
  const byId = new Map(fields.map((f) => [f.field, f.input]));
  showErrors(summary, { fields, status: 400, name: "ApiError", detail: "" }, (field) => byId.get(field));
}

function labelOf(input) {
  const label = document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
  return label ? label.textContent.trim() : input.id;
}

// parseKeyValueLines reads "key=value" lines (or "Name: value" with
// separator ":"), skipping empty ones. It returns [map, problem], where
// problem names the first line without the separator.
export function parseKeyValueLines(text, separator = "=") {
  const map = {};
  const lines = String(text || "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) {
      continue;
    }
    const at = line.indexOf(separator);
    if (at <= 0) {
      const example = separator === "=" ? "key=value" : "Name: value";
      return [map, `line ${i + 1} ("${line}") has no ${separator === "=" ? "'='" : "':'"}; write ${example}`];
    }
    map[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return [map, ""];
}

export function keyValueLines(map, separator = "=") {
  return Object.entries(map || {}).map(([k, v]) => (separator === "=" ? `${k}=${v}` : `${k}: ${v}`)).join("\n");
}
