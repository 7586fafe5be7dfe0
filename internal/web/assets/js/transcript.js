// Draws a chat conversation. A user message is a bubble. Everything the
// agent does for it, one or more assistant messages with their tool calls
// and the tool results, forms one assistant block, so that a turn that
// pauses for consent and resumes reads as one answer.

import { h } from "./ui.js";

const STATUS_LABELS = {
  running: "Running",
  done: "Done",
  failed: "Failed",
  awaiting_authorization: "Awaiting authorization",
  not_authorized: "Not authorized",
  cancelled: "Cancelled",
};

export function toolStatusLabel(status) {
  return STATUS_LABELS[status] || status;
}

export class Transcript {
  // root is the transcript element; empty is the placeholder shown while
  // the conversation has no messages; models maps a model name to
  // { display_name, demo }.
  constructor(root, empty, models) {
    this.root = root;
    this.empty = empty;
    this.models = models;
    this.block = null;
    this.lastUserText = "";
  }

  clear() {
    this.root.replaceChildren(this.empty);
    this.empty.hidden = false;
    this.block = null;
    this.lastUserText = "";
  }

  addUser(text) {
    this.empty.hidden = true;
    this.block = null;
    this.lastUserText = text;
    const el = h("div", { class: "msg-user" }, h("span", { class: "visually-hidden", text: "You: " }), text);
    this.root.append(el);
    el.scrollIntoView({ block: "nearest" });
    return el;
  }

  // startBlock opens the assistant block of a new turn.
  startBlock(modelName, displayName, demo) {
    this.empty.hidden = true;
    const head = h("div", { class: "msg-head" });
    const block = h("article", { class: "msg-assistant", "aria-label": "Agent's answer" }, head);
    block.dataset.userText = this.lastUserText;
    this.root.append(block);
    block.scrollIntoView({ block: "nearest" });
    this.block = block;
    this.setModel(modelName, displayName, demo);
    return block;
  }

  // useBlock makes block the one that events go to, as when a paused turn
  // resumes in the block that holds its consent card.
  useBlock(block) {
    if (block && block.isConnected) {
      this.block = block;
    }
  }

  // currentBlock returns the block events go to, opening one if needed.
  currentBlock() {
    if (!this.block || !this.block.isConnected) {
      this.startBlock("", "", false);
    }
    return this.block;
  }

  setModel(modelName, displayName, demo) {
    const head = this.currentBlock().querySelector(".msg-head");
    const info = this.models.get(modelName);
    const name = displayName || info?.display_name || modelName || "Agent";
    const isDemo = demo || Boolean(info?.demo);
    // replaceChildren, unlike h, would render a null child as "null".
    head.replaceChildren(...[h("span", { text: name }), isDemo ? h("span", { class: "badge badge-demo", text: "Demo" }) : null].filter(Boolean));
  }

  // segment returns the part of the current block for one assistant
  // message, creating it at the end.
  segment(messageId) {
    const existing = this.root.querySelector(`.msg-segment[data-message-id="${CSS.escape(messageId)}"]`);
    if (existing) {
      return existing;
    }
    const seg = h("div", { class: "msg-segment", dataset: { messageId } },
      h("div", { class: "msg-text" }),
      h("ul", { class: "tool-calls", "aria-label": "Tool calls" }));
    this.currentBlock().append(seg);
    return seg;
  }

  appendText(messageId, text) {
    const seg = this.segment(messageId);
    seg.querySelector(".msg-text").append(text);
  }

  setText(messageId, text) {
    this.segment(messageId).querySelector(".msg-text").textContent = text;
  }

  // toolCall shows a tool call, or updates it when it is already shown.
  toolCall({ tool_use_id: id, message_id: messageId, name, server_id: serverId, tool }, status) {
    let item = this.root.querySelector(`.tool-call[data-tool-use-id="${CSS.escape(id)}"]`);
    if (!item) {
      const label = tool && serverId ? [h("span", { class: "tool-call-name", text: tool }), h("span", { class: "muted", text: ` on ${serverId}` })]
        : [h("span", { class: "tool-call-name", text: name })];
      item = h("li", { class: "tool-call", dataset: { toolUseId: id, toolName: name } },
        h("div", { class: "tool-call-head" }, label, h("span", { class: "tool-status" })),
        h("details", { class: "tool-output", hidden: true }, h("summary", { text: "Tool output" }), h("pre")));
      this.segment(messageId).querySelector(".tool-calls").append(item);
    }
    this.setToolStatus(id, status);
    return item;
  }

  setToolStatus(id, status) {
    const item = this.root.querySelector(`.tool-call[data-tool-use-id="${CSS.escape(id)}"]`);
    if (!item || !status) {
      return;
    }
    item.dataset.status = status;
    const badge = item.querySelector(".tool-status");
    badge.className = `tool-status tool-status-${status}`;
    badge.textContent = toolStatusLabel(status);
  }

  toolResult({ tool_use_id: id, status, content, is_error: isError }) {
    const item = this.root.querySelector(`.tool-call[data-tool-use-id="${CSS.escape(id)}"]`);
    if (!item) {
      return;
    }
    this.setToolStatus(id, status || (isError ? "failed" : "done"));
    const output = item.querySelector(".tool-output");
    output.querySelector("pre").textContent = content || "(no output)";
    output.hidden = false;
  }

  // anchor returns the element after which a consent card for the tool
  // call goes: the tool call itself, else the message, else the block.
  anchor(messageId, toolUseId) {
    return this.root.querySelector(`.tool-call[data-tool-use-id="${CSS.escape(toolUseId || "")}"]`) ||
      this.root.querySelector(`.msg-segment[data-message-id="${CSS.escape(messageId || "")}"]`) ||
      this.currentBlock();
  }

  // note adds a notice to the current block and returns it.
  note(kind, ...children) {
    const el = h("div", { class: `notice notice-${kind} turn-note`, role: kind === "error" ? "alert" : "status" }, children);
    this.currentBlock().append(el);
    return el;
  }

  // render draws a stored session: its messages, each tool call with its
  // status, and the tool results.
  render(messages) {
    this.clear();
    for (const m of messages) {
      if (m.role === "user") {
        if (m.text) {
          this.addUser(m.text);
        }
        for (const result of m.tool_results || []) {
          this.toolResult(result);
        }
        continue;
      }
      if (!this.block) {
        this.startBlock(m.model || "", "", false);
      }
      this.segment(m.id);
      if (m.text) {
        this.setText(m.id, m.text);
      }
      for (const call of m.tool_calls || []) {
        this.toolCall({ ...call, tool_use_id: call.id, message_id: m.id }, call.status);
      }
    }
  }
}
