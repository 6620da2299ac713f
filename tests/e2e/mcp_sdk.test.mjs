// claude-memory's MCP tools through the official TypeScript SDK client, over both transports
// Claude Code uses: Streamable HTTP (`claude-memory serve`, /mcp?project=<abs>, bearer token) and
// stdio (`claude-memory mcp` started in the project). Each transport gets the same script: list the
// tools, save → get → search → validate → update → list → delete → get (archived) → stats, then bad
// arguments, each of which must come back as a clean error (a JSON-RPC error, or a result with
// isError and a message) while the server keeps answering.
//
// Needs CLAUDE_MEMORY_BIN (default target/debug/claude-memory).

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";

import { claudeMemoryBin, makeSandbox, removeSandbox, runOk, sandboxEnv, startService } from "./lib.mjs";

const TOOLS = [
  "memory_search",
  "memory_save",
  "memory_validate",
  "memory_stats",
  "memory_get",
  "memory_update",
  "memory_delete",
  "memory_list",
];
const CALL_TIMEOUT = { timeout: 20_000 };

/** A tool result's data: structuredContent, else the JSON of its first text block. */
function data(res) {
  assert.notEqual(res.isError, true, `tool error: ${JSON.stringify(res.content)}`);
  if (res.structuredContent) return res.structuredContent;
  const text = res.content?.find((c) => c.type === "text")?.text;
  assert.ok(text, `result has structuredContent or text: ${JSON.stringify(res)}`);
  return JSON.parse(text);
}

async function call(client, name, args = {}) {
  return data(await client.callTool({ name, arguments: args }, undefined, CALL_TIMEOUT));
}

/** The memory object of a memory_get result ({memory: {...}} or the memory itself). */
const memoryOf = (d) => d.memory ?? d;

/** The list in a memory_list result (an array, or the first array-valued field). */
function listOf(d) {
  if (Array.isArray(d)) return d;
  const arr = Object.values(d).find(Array.isArray);
  assert.ok(arr, `memory_list returns a list: ${JSON.stringify(d)}`);
  return arr;
}

const isArchived = (m) => m.archived === true || m.status === "archived" || (m.archived_at ?? null) !== null;

// Messages the SDK client makes up itself when a *successful* result breaks the tool's output
// schema: not a server's clean error.
const CLIENT_SIDE = /output schema|Structured content does not match|Failed to validate structured content/;

/** Calls a tool with bad arguments; returns the error message, failing unless it is a clean error. */
async function expectCleanError(client, name, args) {
  let res;
  try {
    res = await client.callTool({ name, arguments: args }, undefined, CALL_TIMEOUT);
  } catch (err) {
    assert.ok(err instanceof McpError, `${name}(${JSON.stringify(args)}) failed with a JSON-RPC error, not ${err}`);
    assert.doesNotMatch(err.message, CLIENT_SIDE, `${name}: the server's answer broke its output schema`);
    assert.ok(err.message.trim().length > 0, "the error has a message");
    return err.message;
  }
  assert.equal(res.isError, true, `${name}(${JSON.stringify(args)}) must fail, got ${JSON.stringify(res)}`);
  const text = (res.content ?? []).map((c) => c.text ?? "").join(" ");
  assert.ok(text.trim().length > 0, `${name}: the error result has a message`);
  return text;
}

/** The whole script against one connected client; `tag` keeps the two transports' memories apart. */
async function exerciseTools(t, client, tag, { alive = () => true } = {}) {
  let id;
  const content = `E2E-${tag}: the deploy script lives in scripts/deploy-${tag}.sh and needs VPN access.`;

  await t.test("lists the eight memory tools", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((x) => x.name);
    for (const name of TOOLS) assert.ok(names.includes(name), `${name} listed (got ${names.join(", ")})`);
    for (const tool of tools.filter((x) => TOOLS.includes(x.name))) {
      assert.equal(tool.inputSchema?.type, "object", `${tool.name} has an object input schema`);
      assert.ok(tool.description?.length > 10, `${tool.name} is described`);
    }
    const search = tools.find((x) => x.name === "memory_search");
    assert.ok(search.inputSchema.required?.includes("query"), "memory_search requires query");
  });

  await t.test("memory_save returns the new id", async () => {
    const saved = await call(client, "memory_save", {
      content,
      type: "fact",
      domain: "devops",
      confidence: 0.8,
      tags: ["e2e", tag],
    });
    assert.ok(Number.isInteger(saved.id) && saved.id > 0, `an integer id: ${JSON.stringify(saved)}`);
    assert.equal(typeof saved.action, "string");
    id = saved.id;
    const again = await call(client, "memory_save", { content, type: "fact", domain: "devops" });
    assert.equal(again.id, id, "saving the same note again finds the first one");
    assert.notEqual(again.action, saved.action, "…and says it did not create another");
  });

  await t.test("memory_get shows it", async () => {
    const m = memoryOf(await call(client, "memory_get", { id }));
    assert.equal(m.id, id);
    assert.equal(m.content, content);
    assert.equal(m.type, "fact");
    assert.equal(m.domain, "devops");
    assert.ok(!isArchived(m));
  });

  await t.test("memory_search finds it, with its fields and a score", async () => {
    const { results } = await call(client, "memory_search", { query: `deploy script ${tag}`, limit: 5, full: true });
    assert.ok(Array.isArray(results));
    const hit = results.find((r) => r.id === id);
    assert.ok(hit, `found: ${JSON.stringify(results)}`);
    assert.equal(hit.content, content);
    assert.equal(hit.type, "fact");
    assert.equal(hit.domain, "devops");
    assert.equal(typeof hit.confidence, "number");
    assert.equal(typeof hit.score, "number");
    const filtered = await call(client, "memory_search", { query: `deploy script ${tag}`, type: "bug", domain: "devops", full: true });
    assert.ok(!filtered.results.some((r) => r.id === id), "the type filter applies");
    const confident = await call(client, "memory_search", { query: `deploy script ${tag}`, min_confidence: 0.95, full: true });
    assert.ok(!confident.results.some((r) => r.id === id), "min_confidence applies");
  });

  await t.test("memory_search answers Claude with a compact list unless asked for every field", async () => {
    const r = await client.callTool({ name: "memory_search", arguments: { query: `deploy script ${tag}` } }, undefined, CALL_TIMEOUT);
    assert.equal(r.structuredContent, undefined, "no JSON by default");
    const text = r.content.map((c) => c.text).join("");
    assert.match(text, new RegExp(`^- #${id} \\[fact · devops · confidence 0\\.\\d\\d\\] `, "m"));
    assert.match(text, /not instructions/);
    assert.ok(!/access_count|created_at|bm25/.test(text), text);
  });

  await t.test("memory_validate raises its confidence", async () => {
    const before = memoryOf(await call(client, "memory_get", { id })).confidence;
    await call(client, "memory_validate", { memory_id: id, is_valid: true });
    const afterValidate = memoryOf(await call(client, "memory_get", { id })).confidence;
    assert.ok(afterValidate > before, `confidence ${before} → ${afterValidate}`);
  });

  await t.test("memory_update changes the content", async () => {
    const updated = `${content} Updated: it also needs the ops role.`;
    await call(client, "memory_update", { id, content: updated, domain: "devops", tags: ["e2e", "updated"] });
    const m = memoryOf(await call(client, "memory_get", { id }));
    assert.equal(m.content, updated);
    const { results } = await call(client, "memory_search", { query: "ops role", limit: 10, full: true });
    assert.ok(results.some((r) => r.id === id), "search sees the new text");
  });

  await t.test("memory_list includes it", async () => {
    const items = listOf(await call(client, "memory_list", { domain: "devops", limit: 50, offset: 0 }));
    assert.ok(items.some((m) => m.id === id), "listed");
    const other = listOf(await call(client, "memory_list", { type: "bug" }));
    assert.ok(!other.some((m) => m.id === id), "the type filter applies");
  });

  await t.test("memory_delete archives it", async () => {
    await call(client, "memory_delete", { id });
    const m = memoryOf(await call(client, "memory_get", { id }));
    assert.ok(isArchived(m), `archived: ${JSON.stringify(m)}`);
    const { results } = await call(client, "memory_search", { query: `deploy script ${tag}`, limit: 10, full: true });
    assert.ok(!results.some((r) => r.id === id), "search no longer returns it");
  });

  await t.test("memory_stats counts", async () => {
    const stats = await call(client, "memory_stats");
    assert.equal(typeof stats, "object");
    assert.match(JSON.stringify(stats), /\d/, "has counts");
  });

  await t.test("bad arguments are clean errors and the server keeps answering", async () => {
    const cases = [
      ["memory_search", {}, "missing required query"],
      ["memory_validate", { memory_id: "not-a-number", is_valid: true }, "wrong type of memory_id"],
      ["memory_get", { id: 987654321 }, "unknown id"],
      ["memory_update", { id: 987654321, content: "x" }, "update of an unknown id"],
      ["memory_save", { content: "" }, "empty content"],
      ["memory_no_such_tool", {}, "unknown tool"],
    ];
    for (const [name, args, what] of cases) {
      const message = await expectCleanError(client, name, args);
      assert.ok(message.length < 2000, `${what}: a short message, not a dump`);
      assert.ok(alive(), `${what}: the server is still running`);
      await call(client, "memory_stats");
    }
  });
}

describe("MCP tools through the official TypeScript SDK", { timeout: 180_000 }, () => {
  let bin;
  let sb;
  let env;
  let service;

  // A failed set-up fails every test (with its message) instead of only the suite.
  let setupError;
  before(async () => {
    try {
      bin = claudeMemoryBin();
      sb = makeSandbox("cm-e2e-mcp-");
      env = sandboxEnv(sb, { binDir: path.dirname(bin) });
      await runOk(bin, ["setup", sb.project], { cwd: sb.project, env, timeoutMs: 30_000 });
      service = await startService(bin, sb, env);
    } catch (err) {
      setupError = err;
    }
  });
  beforeEach(() => {
    if (setupError) throw setupError;
  });

  after(async () => {
    await service?.stop();
    removeSandbox(sb);
  });

  test("Streamable HTTP: /mcp?project=<abs> with the bearer token", async (t) => {
    const url = new URL(`${service.url}/mcp`);
    url.searchParams.set("project", sb.project);

    const unauthorized = new Client({ name: "e2e-noauth", version: "1.0.0" });
    await assert.rejects(unauthorized.connect(new StreamableHTTPClientTransport(url)), "no token, no session");

    const client = new Client({ name: "e2e-http", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { Authorization: `Bearer ${service.token}` } },
    });
    await client.connect(transport);
    try {
      assert.ok(client.getServerCapabilities()?.tools, "the server offers tools");
      assert.ok(client.getServerVersion()?.name, "the server names itself");
      await exerciseTools(t, client, "http", { alive: () => service.child.exitCode === null });
    } finally {
      await client.close();
    }
  });

  test("stdio: `claude-memory mcp` in the project", async (t) => {
    const transport = new StdioClientTransport({ command: bin, args: ["mcp"], cwd: sb.project, env, stderr: "pipe" });
    let stderr = "";
    transport.stderr?.on("data", (d) => (stderr += d));
    const client = new Client({ name: "e2e-stdio", version: "1.0.0" });
    await client.connect(transport);
    const pid = transport.pid;
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      assert.ok(client.getServerCapabilities()?.tools, "the server offers tools");
      await exerciseTools(t, client, "stdio", { alive });
    } catch (err) {
      err.message += `\n--- claude-memory mcp stderr\n${stderr.slice(-4000)}`;
      throw err;
    } finally {
      await client.close();
    }
  });
});
