// The chat page: the conversation list, the composer with the model
// picker, and the streaming answer.
//
// A turn is POST /api/v1/sessions/{id}/turns, whose response is an event
// stream read with fetch. A turn that needs an account ends with
// stop_reason "interrupt" after one oauth_required event per tool call;
// ConsentCards shows them, and once the user has connected (or dismissed)
// every card, the same turn resumes with interrupt_responses and streams
// on into the same answer block.

import { request, send } from "./api.js";
import { ConsentCards, markHandled } from "./consent-cards.js";
import { readEvents } from "./sse.js";
import { Transcript } from "./transcript.js";
import { announce, byId, describeError, errorNotice, h, showError } from "./ui.js";

const MODEL_KEY = "toolgate.model";
// STOPPED_BY_USER is the abort reason of the Stop button.
const STOPPED_BY_USER = "stopped by the user";

const els = {
  sessionsPanel: byId("sessions-panel"),
  sessionList: byId("session-list"),
  sessionsStatus: byId("sessions-status"),
  newChat: byId("new-chat"),
  title: byId("chat-title"),
  notice: byId("chat-notice"),
  composer: byId("composer"),
  message: byId("message"),
  send: byId("send"),
  stop: byId("stop"),
  modelField: byId("model-field"),
  model: byId("model"),
  demoNote: byId("demo-note"),
};

const models = new Map();
const providers = new Map();
const transcript = new Transcript(byId("transcript"), byId("transcript-empty"), models);
const cards = new ConsentCards({
  providers: (id) => providers.get(id) || null,
  onReady: (responses, block) => resume(responses, block),
});

const state = {
  sessionId: "",
  // stream is the running turn's AbortController, or null.
  stream: null,
  // queuedResume contains the interrupt responses that became ready while
  // a stream was still running.
  queuedResume: null,
};

// --- Loading -------------------------------------------------------------

async function loadModels() {
  try {
    const body = await request("GET", "/api/v1/models");
    for (const m of body.models) {
      models.set(m.name, m);
    }
    renderModelPicker(body.models);
  } catch (err) {
    showError(els.notice, err, { title: "The models could not be loaded", retry: loadModels });
  }
}

function renderModelPicker(list) {
  if (list.length > 1) {
    const saved = localStorage.getItem(MODEL_KEY);
    const initial = list.find((m) => m.name === saved) || list.find((m) => m.default) || list[0];
    els.model.replaceChildren(...list.map((m) => h("option", {
      value: m.name, selected: m.name === initial.name, text: m.demo ? `${m.display_name} (demo)` : m.display_name,
    })));
    els.modelField.hidden = false;
  }
  updateDemoNote();
}

function selectedModel() {
  if (!els.modelField.hidden && els.model.value) {
    return els.model.value;
  }
  return "";
}

function updateDemoNote() {
  const name = selectedModel();
  const info = name ? models.get(name) : [...models.values()].find((m) => m.default) || [...models.values()][0];
  els.demoNote.hidden = !info?.demo;
}

async function loadProviders() {
  try {
    const body = await request("GET", "/api/v1/connectors");
    for (const c of body.connectors) {
      providers.set(c.provider_id, { display_name: c.display_name, icon: c.icon });
    }
  } catch (err) {
    // Cards then name the provider by its id. Log the error instead of
    // failing silently.
    console.error(err);
  }
}

async function loadSessions() {
  try {
    const body = await request("GET", "/api/v1/sessions?limit=50");
    renderSessions(body.sessions);
  } catch (err) {
    showError(els.sessionsStatus, err, { title: "Your conversations could not be loaded", retry: loadSessions });
  }
}

function renderSessions(sessions) {
  els.sessionsStatus.textContent = sessions.length ? "" : "No conversations yet.";
  const current = sessions.find((s) => s.id === state.sessionId);
  if (current?.title) {
    els.title.textContent = current.title;
  }
  els.sessionList.replaceChildren(...sessions.map((s) => h("li", {},
    h("a", {
      href: `/?session=${encodeURIComponent(s.id)}`,
      "aria-current": s.id === state.sessionId ? "page" : null,
      dataset: { sessionId: s.id },
      text: s.title || "Untitled conversation",
    }))));
}

async function openSession(id, { push = true } = {}) {
  stopStream();
  cards.reset(id);
  state.sessionId = id;
  els.notice.replaceChildren();
  if (push) {
    history.pushState({ session: id }, "", id ? `/?session=${encodeURIComponent(id)}` : "/");
  }
  markCurrentSession();
  if (!id) {
    transcript.clear();
    els.title.textContent = "New conversation";
    els.message.focus();
    return;
  }

  els.title.textContent = "Loading…";
  try {
    const detail = await request("GET", `/api/v1/sessions/${encodeURIComponent(id)}`);
    if (state.sessionId !== id) {
      return;
    }
    els.title.textContent = detail.title || "Untitled conversation";
    transcript.render(detail.messages);
    await showPendingInterrupts(detail);
  } catch (err) {
    els.title.textContent = "Conversation not available";
    transcript.clear();
    if (err.status === 404) {
      els.notice.replaceChildren(errorNotice(err, { title: "This conversation was not found" }));
      return;
    }
    showError(els.notice, err, { title: "The conversation could not be loaded", retry: () => openSession(id, { push: false }) });
  }
}

// showPendingInterrupts brings back the consent cards of a paused turn
// after a reload. Their Connect requests a fresh consent URL.
async function showPendingInterrupts(detail) {
  if (!detail.paused || detail.pending_interrupts.length === 0) {
    return;
  }
  if (detail.pending_interrupts.some((i) => !providers.has(i.provider_id))) {
    await loadProviders();
  }
  for (const interrupt of detail.pending_interrupts) {
    const block = transcript.anchor(interrupt.message_id, interrupt.tool_use_id).closest(".msg-assistant");
    transcript.useBlock(block);
    cards.add({ ...interrupt, authorization_url: "", tool_name: toolNameOf(interrupt.tool_use_id) },
      transcript.anchor(interrupt.message_id, interrupt.tool_use_id));
  }
}

function toolNameOf(toolUseId) {
  const item = document.querySelector(`.tool-call[data-tool-use-id="${CSS.escape(toolUseId || "")}"]`);
  return item?.dataset.toolName || "";
}

function markCurrentSession() {
  for (const a of els.sessionList.querySelectorAll("a[data-session-id]")) {
    if (a.dataset.sessionId === state.sessionId) {
      a.setAttribute("aria-current", "page");
    } else {
      a.removeAttribute("aria-current");
    }
  }
}

// --- Sending ---------------------------------------------------------------

// maxMessageBytes is the server's limit on one message, in UTF-8 bytes.
const maxMessageBytes = 64 * 1024;

async function sendMessage(text) {
  if (state.stream) {
    return;
  }
  els.notice.replaceChildren();
  if (!text.trim()) {
    els.notice.replaceChildren(h("p", { class: "notice notice-info", role: "status", text: "Type a message first." }));
    return;
  }
  const size = new TextEncoder().encode(text).length;
  if (size > maxMessageBytes) {
    els.notice.replaceChildren(h("p", { class: "notice notice-error", role: "alert",
      text: `The message is ${Math.ceil(size / 1024)} KB; the limit is 64 KB. Shorten it, then send it again.` }));
    return;
  }
  if (!state.sessionId) {
    try {
      const session = await request("POST", "/api/v1/sessions", {});
      state.sessionId = session.id;
      cards.reset(session.id);
      history.pushState({ session: session.id }, "", `/?session=${encodeURIComponent(session.id)}`);
    } catch (err) {
      showError(els.notice, err, { title: "The conversation could not be started", retry: () => sendMessage(text) });
      return;
    }
  }
  cards.supersede();
  transcript.addUser(text);
  els.message.value = "";
  const body = { message: text };
  const model = selectedModel();
  if (model) {
    body.model = model;
  }
  await runTurn(body, { userText: text });
}

// resume continues the paused turn once every consent card is answered.
async function resume(responses, block) {
  if (state.stream) {
    state.queuedResume = { responses, block };
    return;
  }
  transcript.useBlock(block);
  await runTurn({ interrupt_responses: responses }, { responses, userText: block?.dataset.userText || "" });
}

// runTurn posts a turn and reads its event stream into the transcript.
async function runTurn(body, { responses = null, userText = "" }) {
  const abort = new AbortController();
  state.stream = abort;
  setStreaming(true);
  const sessionId = state.sessionId;
  let stopReason = "";

  try {
    let res;
    try {
      res = await send("POST", `/api/v1/sessions/${encodeURIComponent(sessionId)}/turns`, body,
        { signal: abort.signal, accept: "text/event-stream" });
    } catch (err) {
      if (abort.signal.aborted) {
        throw err;
      }
      turnRejected(err, { responses, body, userText });
      return;
    }
    if (responses) {
      markHandled(responses.map((r) => r.interrupt_id));
    }
    await readEvents(res.body, (name, data) => {
      if (name === "done") {
        stopReason = data.stop_reason;
      }
      onEvent(name, data);
    });
    afterTurn(stopReason);
  } catch (err) {
    if (abort.signal.aborted) {
      // A stream stopped because another conversation opened leaves no
      // note, because the transcript shows that conversation now.
      if (abort.signal.reason === STOPPED_BY_USER && state.sessionId === sessionId) {
        transcript.note("info", h("p", { text: "You stopped the answer. What was written so far is kept." }));
      }
      return;
    }
    const lost = transcript.note("error",
      h("p", { class: "notice-title", text: "The connection was lost" }),
      h("p", { text: "The answer stopped arriving before it was finished. Reload the conversation to see what was saved." }),
      h("div", { class: "notice-actions" }, h("button", {
        type: "button", class: "button button-secondary button-small", text: "Reload the conversation",
        on: { click: () => openSession(sessionId, { push: false }) },
      })));
    lost.dataset.cause = String(err.message || err);
    console.error(err);
  } finally {
    if (state.stream === abort) {
      state.stream = null;
      setStreaming(false);
    }
    loadSessions();
    const queued = state.queuedResume;
    state.queuedResume = null;
    if (queued && state.sessionId === sessionId) {
      resume(queued.responses, queued.block);
    }
  }
}

function onEvent(name, data) {
  switch (name) {
    case "turn_start":
      if (data.resumed) {
        transcript.currentBlock();
        transcript.setModel(data.model, data.model_display_name, data.demo);
      } else {
        transcript.startBlock(data.model, data.model_display_name, data.demo);
      }
      break;
    case "text_delta":
      transcript.appendText(data.message_id, data.text);
      break;
    case "tool_use":
      transcript.toolCall(data, "running");
      break;
    case "tool_result":
      transcript.toolResult(data);
      break;
    case "warning":
      transcript.note("warn", h("p", { text: data.message }));
      break;
    case "oauth_required":
      transcript.setToolStatus(data.tool_use_id, "awaiting_authorization");
      addCard(data);
      break;
    case "error":
      transcript.note("error", h("p", { class: "notice-title", text: "The answer failed" }), h("p", { text: data.message }));
      break;
    default:
      break;
  }
}

async function addCard(data) {
  if (!providers.has(data.provider_id)) {
    await loadProviders();
  }
  cards.add({ ...data, tool_name: toolNameOf(data.tool_use_id) }, transcript.anchor(data.message_id, data.tool_use_id));
}

function afterTurn(stopReason) {
  switch (stopReason) {
    case "end_turn":
      announce("The answer is complete.");
      break;
    case "interrupt":
      break;
    case "max_iterations":
      transcript.note("warn", h("p", { text: "The agent stopped after its limit of steps. Ask again, more precisely, to continue." }));
      break;
    case "cancelled":
      transcript.note("info", h("p", { text: "The answer was cancelled." }));
      break;
    case "error":
      break;
    default:
      transcript.note("error",
        h("p", { class: "notice-title", text: "The answer ended early" }),
        h("p", { text: "The stream closed without saying the answer was finished. Reload the conversation to see what was saved." }));
  }
}

// turnRejected explains a turn the server refused before it started.
function turnRejected(err, { responses, body, userText }) {
  if (responses && err.code === "pause_expired") {
    markHandled(responses.map((r) => r.interrupt_id));
    transcript.note("warn",
      h("p", { class: "notice-title", text: "This answer waited too long" }),
      h("p", { text: "The agent stopped waiting for you to connect, so it cannot continue this answer. Your account stays connected: send the message again and the agent starts over." }),
      userText ? h("div", { class: "notice-actions" }, h("button", {
        type: "button", class: "button button-small resend-message", text: "Send the message again",
        on: { click: (event) => { event.currentTarget.disabled = true; sendMessage(userText); } },
      })) : null).classList.add("pause-expired");
    return;
  }
  if (responses && (err.code === "nothing_to_resume" || err.problem?.unknown_interrupt_ids)) {
    markHandled(responses.map((r) => r.interrupt_id));
    transcript.note("info",
      h("p", { text: "This answer is no longer waiting: it was continued in another window, or a newer message replaced it." }),
      h("div", { class: "notice-actions" }, h("button", {
        type: "button", class: "button button-secondary button-small", text: "Show the latest",
        on: { click: () => openSession(state.sessionId, { push: false }) },
      })));
    return;
  }
  if (err.code === "turn_running") {
    transcript.note("warn",
      h("p", { text: "The agent is still writing another answer in this conversation, perhaps in another window. Wait until it finishes, then try again." }),
      h("div", { class: "notice-actions" }, h("button", {
        type: "button", class: "button button-secondary button-small", text: "Try again",
        on: { click: () => runTurn(body, { responses, userText }) },
      })));
    return;
  }
  const described = describeError(err);
  // A request the server found invalid fails the same way again, so it
  // gets the text back to fix instead of a retry.
  const invalid = err.status === 400 || err.status === 413 || err.status === 422;
  if (invalid && !responses && userText && !els.message.value) {
    els.message.value = userText;
  }
  transcript.note("error",
    h("p", { class: "notice-title", text: responses ? "The answer could not continue" : "The message was not sent" }),
    h("p", { text: described.message }),
    invalid ? h("p", { text: "Your message is back in the box: change it, then send it again." }) :
      h("div", { class: "notice-actions" }, h("button", {
        type: "button", class: "button button-secondary button-small", text: "Try again",
        on: { click: () => runTurn(body, { responses, userText }) },
      })));
}

function setStreaming(on) {
  els.send.disabled = on;
  els.stop.hidden = !on;
  byId("transcript").setAttribute("aria-busy", on ? "true" : "false");
}

function stopStream() {
  state.stream?.abort();
  state.stream = null;
  state.queuedResume = null;
  setStreaming(false);
}

// --- Wiring ----------------------------------------------------------------

els.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendMessage(els.message.value);
});
els.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    els.composer.requestSubmit();
  }
});
els.stop.addEventListener("click", () => {
  state.stream?.abort(STOPPED_BY_USER);
});
els.model.addEventListener("change", () => {
  localStorage.setItem(MODEL_KEY, els.model.value);
  updateDemoNote();
});
els.newChat.addEventListener("click", () => openSession(""));
els.sessionList.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-session-id]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
    return;
  }
  event.preventDefault();
  openSession(link.dataset.sessionId);
  if (!matchMedia("(min-width: 56rem)").matches) {
    els.sessionsPanel.open = false;
  }
});
window.addEventListener("popstate", () => {
  openSession(new URLSearchParams(location.search).get("session") || "", { push: false });
});

if (matchMedia("(min-width: 56rem)").matches) {
  els.sessionsPanel.open = true;
}

async function init() {
  await Promise.all([loadModels(), loadProviders(), loadSessions()]);
  const id = new URLSearchParams(location.search).get("session") || "";
  await openSession(id, { push: false });
  // Marks the page as loaded, for people reading the DOM and for tests.
  document.querySelector(".chat").dataset.ready = "true";
}

init();
