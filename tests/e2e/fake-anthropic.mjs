// A scripted fake of the Anthropic Messages API, for driving the real Claude Code CLI offline.
//
// Point Claude Code at it with ANTHROPIC_BASE_URL=<fake.url> (and any ANTHROPIC_API_KEY). It
//   - answers POST /v1/messages, streaming (SSE, the event sequence Anthropic sends: message_start,
//     content_block_start, content_block_delta (text_delta / input_json_delta), content_block_stop,
//     message_delta with stop_reason and usage, message_stop) or not (one JSON message);
//   - answers POST /v1/messages/count_tokens and any other endpoint with something harmless;
//   - records every request (method, path, headers, parsed body) in `fake.requests`.
//
// Scripting: `fake.script(turn, ...)` queues turns for the *main conversation* requests, the ones
// that offer tools (Claude Code's side requests — titles, topic checks, Bash prefix checks — carry
// no tools and always get `fake.defaultText`). A turn is
//   { text: "..." }                                   an assistant text answer (stop_reason end_turn)
//   { toolUse: { name: "Bash", input: {...}, id? } }  a tool call (stop_reason tool_use)
//   { text: "...", toolUse: {...} }                    text block, then the tool call
// When the queue is empty, main requests get `{ text: fake.defaultText }`.
//
//   const fake = await startFakeAnthropic();
//   fake.script({ toolUse: { name: "Bash", input: { command: "ls" } } }, { text: "done" });
//   ... run claude with ANTHROPIC_BASE_URL=fake.url ...
//   fake.mainRequests()  // the recorded main-conversation requests, oldest first
//   await fake.close();

import http from "node:http";

let idCounter = 0;
const nextId = (prefix) => `${prefix}_fake${Date.now().toString(36)}${(idCounter++).toString(36)}`;

/** True when a recorded /v1/messages request belongs to the main conversation (it offers tools). */
export function isMainRequest(req) {
  return (
    req.method === "POST" &&
    req.path === "/v1/messages" &&
    Array.isArray(req.body?.tools) &&
    req.body.tools.length > 0
  );
}

/** All text of a request body (system, messages, tool results), flattened, for substring checks. */
export function requestText(body) {
  const out = [];
  const walk = (v) => {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        // Tool definitions are huge and never carry injected context.
        if (k === "tools" || k === "input_schema") continue;
        walk(x);
      }
    }
  };
  walk({ system: body?.system, messages: body?.messages });
  return out.join("\n");
}

/** Text of the messages only (not the system prompt). */
export function messagesText(body) {
  return requestText({ messages: body?.messages });
}

/** Counts non-overlapping occurrences of `needle` in `haystack`. */
export function countOccurrences(haystack, needle) {
  if (!needle) return 0;
  let n = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

function contentBlocks(turn) {
  const blocks = [];
  if (turn.text !== undefined && turn.text !== null) blocks.push({ type: "text", text: String(turn.text) });
  if (turn.toolUse) {
    blocks.push({
      type: "tool_use",
      id: turn.toolUse.id ?? nextId("toolu"),
      name: turn.toolUse.name,
      input: turn.toolUse.input ?? {},
    });
  }
  if (blocks.length === 0) blocks.push({ type: "text", text: "" });
  return blocks;
}

function usage(outputTokens = 1) {
  return {
    input_tokens: 10,
    output_tokens: outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
}

function sendSse(res, model, blocks, stopReason) {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "request-id": nextId("req"),
  });
  const event = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  event("message_start", {
    message: {
      id: nextId("msg"),
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: usage(1),
    },
  });
  blocks.forEach((block, index) => {
    if (block.type === "text") {
      event("content_block_start", { index, content_block: { type: "text", text: "" } });
      // Two deltas, as a real stream would split the text.
      const mid = Math.floor(block.text.length / 2);
      for (const part of [block.text.slice(0, mid), block.text.slice(mid)]) {
        if (part) event("content_block_delta", { index, delta: { type: "text_delta", text: part } });
      }
    } else {
      event("content_block_start", {
        index,
        content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
      });
      const json = JSON.stringify(block.input);
      const mid = Math.floor(json.length / 2);
      for (const part of [json.slice(0, mid), json.slice(mid)]) {
        event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } });
      }
    }
    event("content_block_stop", { index });
  });
  event("message_delta", {
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: 5 },
  });
  event("message_stop", {});
  res.end();
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "request-id": nextId("req") });
  res.end(body);
}

/**
 * Starts the fake on 127.0.0.1 (a free port unless `port` is given).
 * @returns {Promise<{url: string, port: number, requests: object[], script: Function,
 *   mainRequests: Function, reset: Function, close: Function, defaultText: string}>}
 */
export async function startFakeAnthropic({ port = 0, defaultText = "OK (fake)", log = false } = {}) {
  const queue = [];
  const requests = [];
  const fake = {
    url: "",
    port: 0,
    requests,
    defaultText,
    script(...turns) {
      queue.push(...turns);
      return fake;
    },
    pending() {
      return queue.length;
    },
    mainRequests() {
      return requests.filter(isMainRequest);
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      const url = new URL(req.url, "http://localhost");
      const record = { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body, at: Date.now() };
      requests.push(record);
      if (log) console.error(`[fake-anthropic] ${req.method} ${req.url}`);
      try {
        route(record, res);
      } catch (err) {
        sendJson(res, 500, { type: "error", error: { type: "api_error", message: String(err) } });
      }
    });
  });

  function route(record, res) {
    const { method, path, body } = record;
    if (method === "POST" && path === "/v1/messages") {
      const main = isMainRequest(record);
      const turn = main && queue.length > 0 ? queue.shift() : { text: fake.defaultText };
      record.main = main;
      record.turn = turn;
      const blocks = contentBlocks(turn);
      const stopReason = blocks.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn";
      const model = body?.model ?? "claude-fake";
      if (body?.stream) return sendSse(res, model, blocks, stopReason);
      return sendJson(res, 200, {
        id: nextId("msg"),
        type: "message",
        role: "assistant",
        model,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: usage(5),
      });
    }
    if (method === "POST" && path === "/v1/messages/count_tokens") {
      return sendJson(res, 200, { input_tokens: 100 });
    }
    if (method === "GET" && path.startsWith("/v1/models")) {
      return sendJson(res, 200, { data: [], has_more: false, first_id: null, last_id: null });
    }
    // Anything else (telemetry, feature flags, metrics, HEAD probes): harmless and empty.
    if (method === "HEAD") {
      res.writeHead(200);
      return res.end();
    }
    return sendJson(res, 200, {});
  }

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  fake.port = server.address().port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  return fake;
}

// `node fake-anthropic.mjs [port]`: run standalone, logging each request (handy when exploring).
if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeAnthropic({ port: Number(process.argv[2] ?? 0), log: true });
  console.log(fake.url);
}
