// Reads a text/event-stream response body (the WHATWG server-sent events
// format) from fetch. EventSource cannot send a POST body, so the chat
// posts a turn with fetch and reads the stream here.

// readEvents calls onEvent(name, data) for each event of body, with data
// parsed as JSON, until the stream ends. Comment lines, such as the
// server's heartbeats, are skipped. It returns when the stream ends and
// throws when reading fails or is aborted.
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      dispatch(block, onEvent);
    }
  }
  if (buffer.trim()) {
    dispatch(buffer, onEvent);
  }
}

function dispatch(block, onEvent) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) {
      continue;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) {
      value = value.slice(1);
    }
    if (field === "event") {
      name = value;
    } else if (field === "data") {
      data.push(value);
    }
  }
  if (data.length === 0) {
    return;
  }
  let parsed;
  try {
    parsed = JSON.parse(data.join("\n"));
  } catch {
    throw new Error(`the server sent a ${name} event whose data is not JSON`);
  }
  onEvent(name, parsed);
}
