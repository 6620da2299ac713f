// The contract claude-memory relies on, checked against the real Claude Code CLI with throwaway
// hooks and MCP servers (no claude-memory binary needed):
//   - command hooks get a JSON payload on stdin (the fields of each event are compared with
//     fixtures/hook-payloads/<Event>.json; E2E_UPDATE_FIXTURES=1 rewrites those files);
//   - hookSpecificOutput.additionalContext of SessionStart and UserPromptSubmit reaches the first
//     request to the API, that of PreToolUse/PostToolUse the request after the tool result;
//   - the transcript is written to ~/.claude/projects/<cwd with non-alphanumerics as "-">/<session>.jsonl;
//   - a `.mcp.json` server starts only in a trusted folder (hasTrustDialogAccepted in ~/.claude.json)
//     when approved in enabledMcpjsonServers; an HTTP server added with a bearer header connects.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { countOccurrences, messagesText, requestText, startFakeAnthropic } from "./fake-anthropic.mjs";
import { startHttpMcpServer } from "./helpers/http-mcp-server.mjs";
import {
  E2E_DIR,
  FIXTURES_DIR,
  assertClaudeInstalled,
  claude,
  makeSandbox,
  removeSandbox,
  sandboxEnv,
  transcriptDir,
  trustProject,
} from "./lib.mjs";

const CAPTURE_HOOK = path.join(E2E_DIR, "helpers", "capture-hook.mjs");
const STDIO_MCP_SERVER = path.join(E2E_DIR, "helpers", "stdio-mcp-server.mjs");
const TOOL_MATCHER = "Edit|Write|MultiEdit|Bash";
// Every event whose payload is kept as a fixture, with the matcher of its hook group.
const EVENTS = {
  SessionStart: null,
  UserPromptSubmit: null,
  PreToolUse: TOOL_MATCHER,
  PostToolUse: TOOL_MATCHER,
  PostToolUseFailure: TOOL_MATCHER,
  PreCompact: null,
  PostCompact: null,
  Stop: null,
  SubagentStop: null,
  SessionEnd: null,
};
const PAYLOAD_DIR = path.join(FIXTURES_DIR, "hook-payloads");

const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function writeCaptureHooks(project) {
  const hooks = {};
  for (const [event, matcher] of Object.entries(EVENTS)) {
    const group = { hooks: [{ type: "command", command: `node ${quote(CAPTURE_HOOK)} ${event}`, timeout: 10 }] };
    hooks[event] = [matcher ? { matcher, ...group } : group];
  }
  fs.mkdirSync(path.join(project, ".claude"), { recursive: true });
  fs.writeFileSync(path.join(project, ".claude", "settings.local.json"), JSON.stringify({ hooks }, null, 2));
}

function captured(dir, event) {
  const file = path.join(dir, `${event}.jsonl`);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

describe("Claude Code contract (throwaway hooks, fake API)", { timeout: 240_000 }, () => {
  let sb;
  let fake;
  let env;
  let captureDir;
  const marker = `m${process.pid}`;

  // A failed set-up fails every test (with its message) instead of only the suite.
  let setupError;
  before(async () => {
    try {
      assertClaudeInstalled();
      sb = makeSandbox("cm-e2e-contract-");
      captureDir = path.join(sb.root, "capture");
      fake = await startFakeAnthropic();
      env = sandboxEnv(sb, { fakeUrl: fake.url, extra: { E2E_CAPTURE_DIR: captureDir, E2E_MARKER: marker } });
      writeCaptureHooks(sb.project);
    } catch (err) {
      setupError = err;
    }
  });
  beforeEach(() => {
    if (setupError) throw setupError;
  });

  after(async () => {
    await fake?.close();
    removeSandbox(sb);
  });

  let sessionId;

  test("SessionStart and UserPromptSubmit context reach the first request, once each", async () => {
    fake.reset();
    fake.script({ text: "The answer is 42." });
    const r = await claude(["-p", "what is the answer?"], { cwd: sb.project, env });
    assert.equal(r.timedOut, false, "claude -p timed out");
    assert.equal(r.code, 0, `claude -p failed: ${r.stderr}`);
    assert.match(r.stdout, /The answer is 42\./);

    const main = fake.mainRequests();
    assert.equal(main.length, 1, "one main-conversation request");
    const req = main[0];
    assert.equal(req.body.stream, true, "Claude Code streams");
    assert.equal(req.headers["x-api-key"], "sk-ant-fake-e2e");
    const text = requestText(req.body);
    assert.equal(countOccurrences(text, `MARKER-UserPromptSubmit-${marker}`), 1, "UserPromptSubmit context once");
    assert.equal(countOccurrences(text, `MARKER-SessionStart-${marker}`), 1, "SessionStart context once");
    assert.match(text, new RegExp(`UserPromptSubmit hook additional context: MARKER-UserPromptSubmit-${marker}`));
    assert.match(messagesText(req.body), /what is the answer\?/);

    const [start] = captured(captureDir, "SessionStart");
    assert.ok(start, "SessionStart hook ran");
    sessionId = start.payload.session_id;
    const transcript = path.join(transcriptDir(sb.home, sb.project), `${sessionId}.jsonl`);
    assert.equal(start.payload.transcript_path, transcript, "transcript path as documented");
    assert.ok(fs.existsSync(transcript), `transcript written at ${transcript}`);
    assert.equal(start.payload.cwd, sb.project);
    assert.equal(start.env.CLAUDE_PROJECT_DIR, sb.project, "hooks see CLAUDE_PROJECT_DIR");
    assert.equal(start.env.CLAUDE_MEMORY_HOME, sb.cmHome, "hooks inherit the environment claude runs in");
    for (const event of ["UserPromptSubmit", "Stop", "SessionEnd"]) {
      assert.equal(captured(captureDir, event).length, 1, `${event} hook ran once`);
    }
    assert.equal(captured(captureDir, "PreToolUse").length, 0, "no tool, no tool hook");
  });

  test("a scripted Bash tool call runs; tool hooks' context follows the tool result", async () => {
    fake.reset();
    const ranFile = path.join(sb.project, "ran.txt");
    const written = path.join(sb.project, "notes.md");
    fake.script(
      { text: "Let me check.", toolUse: { name: "Bash", input: { command: "echo e2e-ran > ran.txt && ls", description: "Run it" } } },
      { toolUse: { name: "Write", input: { file_path: written, content: "hello\n" } } },
      { toolUse: { name: "Edit", input: { file_path: written, old_string: "hello", new_string: "bye" } } },
      { toolUse: { name: "Bash", input: { command: "exit 3", description: "Fail on purpose" } } },
      { text: "All done." },
    );
    const r = await claude(["-p", "run the checks", "--allowedTools", "Bash,Write,Edit,Read"], { cwd: sb.project, env });
    assert.equal(r.timedOut, false, "claude -p timed out");
    assert.equal(r.code, 0, `claude -p failed: ${r.stderr}`);
    assert.match(r.stdout, /All done\./);
    assert.equal(fake.pending(), 0, "every scripted turn was used");
    assert.equal(fs.readFileSync(ranFile, "utf8").trim(), "e2e-ran", "the Bash tool really ran");
    assert.equal(fs.readFileSync(written, "utf8"), "bye\n", "Write then Edit really ran");

    const main = fake.mainRequests();
    assert.equal(main.length, 5);
    // The request after the first tool call: [..., assistant tool_use, user tool_result, system context].
    const msgs = main[1].body.messages;
    const resultAt = msgs.findIndex((m) => Array.isArray(m.content) && m.content.some((b) => b.type === "tool_result"));
    assert.ok(resultAt > 0, "the follow-up carries the tool_result");
    assert.match(JSON.stringify(msgs[resultAt].content), /e2e-ran|ran\.txt/);
    const afterResult = messagesText({ messages: msgs.slice(resultAt) });
    assert.match(afterResult, new RegExp(`PreToolUse:Bash hook additional context: MARKER-PreToolUse-${marker}`));
    assert.match(afterResult, new RegExp(`PostToolUse:Bash hook additional context: MARKER-PostToolUse-${marker}`));
    // Before the tool ran, no tool-hook context existed.
    assert.doesNotMatch(messagesText({ messages: msgs.slice(0, resultAt) }), /MARKER-PreToolUse/);

    const failing = captured(captureDir, "PostToolUseFailure");
    assert.equal(failing.length, 1, "a failing Bash command fires PostToolUseFailure, not PostToolUse");
    assert.equal(failing[0].payload.tool_input.command, "exit 3");
    const post = captured(captureDir, "PostToolUse").map((c) => c.payload.tool_name);
    assert.deepEqual(post, ["Bash", "Write", "Edit"]);
  });

  test("an Agent call fires SubagentStop with the subagent's own transcript", async () => {
    assert.ok(sessionId, "needs the first test's session");
    fake.reset();
    fake.script(
      {
        text: "Delegating.",
        toolUse: { name: "Agent", input: { description: "Find the config", prompt: "Find where the config lives.", subagent_type: "general-purpose" } },
      },
      { text: "The config lives in config/app.toml." },
      { text: "Done." },
    );
    const r = await claude(["-p", "where is the config?", "--allowedTools", "Agent"], { cwd: sb.project, env });
    assert.equal(r.code, 0, `claude -p failed: ${r.stderr}`);
    const stops = captured(captureDir, "SubagentStop").filter((c) => c.payload.agent_type);
    assert.equal(stops.length, 1, "one SubagentStop for the one agent");
    const stop = stops[0].payload;
    const session = stop.session_id;
    assert.match(stop.agent_id, /^[0-9a-z]+$/);
    assert.equal(stop.agent_type, "general-purpose");
    assert.equal(typeof stop.last_assistant_message, "string");
    assert.equal(stop.transcript_path, path.join(transcriptDir(sb.home, sb.project), `${session}.jsonl`), "the session's own transcript");
    assert.equal(
      stop.agent_transcript_path,
      path.join(transcriptDir(sb.home, sb.project), session, "subagents", `agent-${stop.agent_id}.jsonl`),
      "the subagent's transcript beside the session's",
    );
    const lines = fs.readFileSync(stop.agent_transcript_path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const turns = lines.filter((l) => l.type === "user" || l.type === "assistant");
    assert.ok(turns.length >= 2, "the subagent's prompt and answer");
    assert.ok(turns.every((l) => l.isSidechain === true && l.agentId === stop.agent_id), "all sidechain lines of this agent");
    assert.ok(!fs.readFileSync(stop.transcript_path, "utf8").includes('"isSidechain":true'), "none in the session's transcript");
    const last = captured(captureDir, "Stop").at(-1).payload;
    assert.equal(typeof last.last_assistant_message, "string", "Stop carries the final answer");
  });

  test("a fork: SessionStart `fork` names only the new session; its transcript comes after the first prompt and names the parent", async () => {
    assert.ok(sessionId, "needs the first test's session");
    fake.reset();
    fake.script({ text: "Forked." });
    const r = await claude(["-p", "and in a fork?", "--resume", sessionId, "--fork-session"], { cwd: sb.project, env });
    assert.equal(r.code, 0, `claude -p --fork-session failed: ${r.stderr}`);
    const start = captured(captureDir, "SessionStart").at(-1);
    assert.equal(start.payload.source, "fork");
    const fork = start.payload.session_id;
    assert.notEqual(fork, sessionId);
    assert.ok(!JSON.stringify(start.payload).includes(sessionId), "the payload does not name the parent");
    assert.equal(typeof start.payload.seconds_since_last_response, "number", "how long ago the parent last answered");
    assert.equal(start.transcriptExists, false, "no transcript yet at SessionStart");
    const prompt = captured(captureDir, "UserPromptSubmit").at(-1);
    assert.equal(prompt.payload.session_id, fork);
    assert.equal(prompt.transcriptExists, false, "nor at the first UserPromptSubmit");
    assert.equal(captured(captureDir, "Stop").at(-1).transcriptExists, true, "but at Stop");
    const named = fs
      .readFileSync(start.payload.transcript_path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === "assistant" && l.requestSessionId);
    assert.ok(named.length > 0, "copied assistant lines keep requestSessionId");
    assert.equal(named.at(-1).requestSessionId, sessionId, "the last one names the parent");
  });

  test("/compact fires PreCompact and PostCompact", async () => {
    assert.ok(sessionId, "needs the first test's session");
    fake.reset();
    const r = await claude(["-p", "/compact keep the plan", "--resume", sessionId], { cwd: sb.project, env });
    assert.equal(r.code, 0, `claude -p /compact failed: ${r.stderr}`);
    const pre = captured(captureDir, "PreCompact");
    const postc = captured(captureDir, "PostCompact");
    assert.equal(pre.length, 1);
    assert.equal(postc.length, 1);
    assert.equal(pre[0].payload.trigger, "manual");
    assert.equal(pre[0].payload.custom_instructions, "keep the plan", "what the person asked the compaction to keep");
    assert.equal(pre[0].payload.session_id, sessionId);
    const starts = captured(captureDir, "SessionStart").map((c) => c.payload.source);
    assert.deepEqual(starts.slice(-2), ["resume", "compact"], "resume, then compact, as SessionStart sources");
  });

  test("every event's payload has the fields of its fixture", () => {
    const update = process.env.E2E_UPDATE_FIXTURES === "1";
    if (update) fs.mkdirSync(PAYLOAD_DIR, { recursive: true });
    // <Event>.json is the event's first call; the tool events also keep <Event>.<Tool>.json for
    // the file tools (their tool_input / tool_response differ from Bash's).
    let fixtures = Object.keys(EVENTS).map((event) => [`${event}.json`, event, () => true]);
    for (const event of ["PreToolUse", "PostToolUse"]) {
      for (const tool of ["Write", "Edit"]) fixtures.push([`${event}.${tool}.json`, event, (p) => p.tool_name === tool]);
    }
    // SessionStart of a fork; SubagentStop of a real subagent (not a compaction's helper).
    fixtures.push(["SessionStart.fork.json", "SessionStart", (p) => p.source === "fork"]);
    fixtures = fixtures.map(([name, event, pick]) =>
      event === "SubagentStop" ? [name, event, (p) => pick(p) && p.agent_type !== ""] : [name, event, pick],
    );
    for (const [name, event, pick] of fixtures) {
      const live = captured(captureDir, event)
        .map((c) => c.payload)
        .find(pick);
      assert.ok(live, `${name}: the ${event} hook was called`);
      assert.equal(live.hook_event_name, event);
      for (const key of ["session_id", "transcript_path", "cwd", "hook_event_name"]) {
        assert.ok(key in live, `${name}: payload has ${key}`);
      }
      const file = path.join(PAYLOAD_DIR, name);
      if (update) {
        fs.writeFileSync(file, JSON.stringify(live, null, 2) + "\n");
        continue;
      }
      assert.ok(fs.existsSync(file), `fixture ${file} exists (E2E_UPDATE_FIXTURES=1 writes it)`);
      const fixture = JSON.parse(fs.readFileSync(file, "utf8"));
      const missing = Object.keys(fixture).filter((k) => !(k in live));
      assert.deepEqual(missing, [], `${name}: fields of the fixture missing from the live payload`);
      if (fixture.tool_input) {
        const missingInput = Object.keys(fixture.tool_input).filter((k) => !(k in live.tool_input));
        assert.deepEqual(missingInput, [], `${name}: tool_input fields missing from the live payload`);
      }
    }
  });

  describe("MCP servers", () => {
    let httpServer;
    after(async () => httpServer?.close());

    test(".mcp.json server: pending until the folder is trusted, then connected", async () => {
      fs.writeFileSync(
        path.join(sb.project, ".mcp.json"),
        JSON.stringify({ mcpServers: { "e2e-stdio": { type: "stdio", command: "node", args: [STDIO_MCP_SERVER] } } }),
      );
      const settingsFile = path.join(sb.project, ".claude", "settings.local.json");
      const settings = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
      settings.enabledMcpjsonServers = ["e2e-stdio"];
      fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
      const mcpEnv = env;

      // -p runs never mark the folder trusted, so it is still untrusted here.
      const untrusted = await claude(["mcp", "list"], { cwd: sb.project, env: mcpEnv });
      assert.equal(untrusted.code, 0, untrusted.stderr);
      assert.match(untrusted.stdout, /^e2e-stdio: .*Pending approval/m);

      trustProject(sb.home, sb.project);
      const trusted = await claude(["mcp", "list"], { cwd: sb.project, env: mcpEnv });
      assert.equal(trusted.code, 0, trusted.stderr);
      assert.match(trusted.stdout, /^e2e-stdio: .*✔ Connected/m);
    });

    test("HTTP server added with a bearer header: connected; a wrong token fails", async () => {
      const token = "e2e-token-123";
      httpServer = await startHttpMcpServer({ token });
      const url = `${httpServer.url}/mcp?project=${encodeURIComponent(sb.project)}`;
      const add = await claude(
        ["mcp", "add", "--transport", "http", "e2e-http", url, "--header", `Authorization: Bearer ${token}`],
        { cwd: sb.project, env },
      );
      assert.equal(add.code, 0, add.stderr);
      const bad = await claude(
        ["mcp", "add", "--transport", "http", "e2e-bad", url, "--header", "Authorization: Bearer nope"],
        { cwd: sb.project, env },
      );
      assert.equal(bad.code, 0, bad.stderr);
      const config = JSON.parse(fs.readFileSync(path.join(sb.home, ".claude.json"), "utf8"));
      assert.equal(config.projects[sb.project].mcpServers["e2e-http"].url, url, "local scope: ~/.claude.json projects[<dir>]");

      const list = await claude(["mcp", "list"], { cwd: sb.project, env });
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /^e2e-http: .*\(HTTP\) - ✔ Connected/m);
      assert.match(list.stdout, /^e2e-bad: .*Failed to connect.*401/m);
      assert.ok(
        httpServer.requests.some((r) => r.url === `/mcp?project=${encodeURIComponent(sb.project)}` && r.authorization === `Bearer ${token}`),
        "the query string and header reach the server",
      );
    });
  });
});

// Hooks marked `"async": true` run in the background instead of holding up Claude Code. Which of
// them still run under `claude -p`, and what they cost, decides which of claude-memory's queue-only
// hooks are async (cm_claude_code::HOOKS; ARCHITECTURE.md says why).
describe("async hooks under claude -p (throwaway hooks, fake API)", { timeout: 300_000 }, () => {
  const SLEEP_HOOK = path.join(E2E_DIR, "helpers", "sleep-hook.mjs");
  const HOOK_MS = 2000;
  const QUEUE_ONLY = ["PreCompact", "PostCompact", "Stop", "SubagentStop", "SessionEnd"];

  /** One session (an Agent call, then `/compact`) with sleeping hooks: its wall time and what they did. */
  async function session(mode) {
    const sb = makeSandbox(`cm-e2e-async-${mode}-`);
    const fake = await startFakeAnthropic();
    try {
      const captureDir = path.join(sb.root, "capture");
      const env = sandboxEnv(sb, { fakeUrl: fake.url, extra: { E2E_CAPTURE_DIR: captureDir } });
      const hooks = {};
      if (mode !== "none") {
        for (const event of QUEUE_ONLY) {
          const hook = { type: "command", command: `node ${quote(SLEEP_HOOK)} ${event} ${HOOK_MS}`, timeout: 10 };
          hooks[event] = [{ hooks: [mode === "async" ? { ...hook, async: true } : hook] }];
        }
      }
      fs.mkdirSync(path.join(sb.project, ".claude"), { recursive: true });
      fs.writeFileSync(path.join(sb.project, ".claude", "settings.local.json"), JSON.stringify({ hooks }));
      fake.script(
        {
          text: "Delegating.",
          toolUse: { name: "Agent", input: { description: "Survey", prompt: "List the files.", subagent_type: "general-purpose" } },
        },
        { text: "There are no files yet." },
        { text: "Done." },
      );
      const started = Date.now();
      const first = await claude(["-p", "survey the project", "--allowedTools", "Agent"], { cwd: sb.project, env });
      assert.equal(first.code, 0, `claude -p failed: ${first.stderr}`);
      // The turn's latency: until the final answer was asked for, after every hook of the turn
      // (Stop after the first answer, SubagentStop before the agent's result comes back).
      const turnMs = Math.max(...fake.requests.filter((r) => r.path === "/v1/messages").map((r) => r.at)) - started;
      const session = fs.readdirSync(transcriptDir(sb.home, sb.project)).find((f) => f.endsWith(".jsonl"));
      const compact = await claude(["-p", "/compact", "--resume", path.basename(session, ".jsonl")], { cwd: sb.project, env });
      assert.equal(compact.code, 0, `claude -p /compact failed: ${compact.stderr}`);
      const ms = Date.now() - started;
      // Whatever runs in the background has time to finish.
      await new Promise((r) => setTimeout(r, HOOK_MS + 3000));
      const log = path.join(captureDir, "events.log");
      const lines = fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
      const did = (what) => new Set(lines.filter((l) => l.endsWith(what)).map((l) => l.split(" ")[0]));
      return { turnMs, ms, started: did(" started"), finished: did(" finished") };
    } finally {
      await fake.close();
      removeSandbox(sb);
    }
  }

  test("async hooks add no turn latency; only SessionEnd still runs whole under claude -p", async (t) => {
    assertClaudeInstalled();
    const none = await session("none");
    const sync = await session("sync");
    const background = await session("async");
    t.diagnostic(
      `an Agent call, then /compact, with ${QUEUE_ONLY.length} hooks sleeping ${HOOK_MS} ms — turn until the final ` +
        `answer is asked for: ${none.turnMs} ms without them, ${sync.turnMs} ms synchronous, ${background.turnMs} ms async; ` +
        `both claude -p runs to exit: ${none.ms} / ${sync.ms} / ${background.ms} ms; async hooks started: ` +
        `${[...background.started].sort()}, ran whole: ${[...background.finished].sort()}`,
    );
    assert.deepEqual([...sync.finished].sort(), [...QUEUE_ONLY].sort(), "synchronous: every hook ran whole");
    // A turn cannot end before a synchronous hook's sleep does. (Measured against the run without
    // hooks, the difference of two separate runs once fell 10 ms short of the sleep.)
    assert.ok(sync.turnMs >= HOOK_MS, `synchronous hooks hold the turn up (${sync.turnMs} ms)`);
    assert.ok(background.turnMs - none.turnMs < HOOK_MS / 2, `async hooks add no turn latency (${background.turnMs - none.turnMs} ms)`);
    // At exit claude -p waits a little for background hooks still running, never their whole length.
    assert.ok(background.ms - none.ms < sync.ms - none.ms - 2 * HOOK_MS, "async hooks hold the exit up far less");
    // SessionEnd runs whole after claude -p exits. An async Stop or PostCompact hook is killed with
    // the process, or never even started; PreCompact and SubagentStop hooks still running at the exit
    // are killed too (the diagnostic shows which ran whole): claude-memory keeps them synchronous.
    assert.ok(background.finished.has("SessionEnd"), "async SessionEnd ran whole");
    for (const event of ["Stop", "PostCompact"]) {
      assert.ok(!background.finished.has(event), `async ${event} does not run whole under claude -p`);
    }
  });
});
