// claude-memory end to end with the real Claude Code CLI and a fake Anthropic API:
// setup → serve → save → `claude -p` (the hooks inject memories into the request) → a scripted Bash
// tool call (the tool hooks inject memories after the tool result) → the session's end queues a
// transcript job → `claude mcp list` connects to the stdio and the HTTP MCP servers.
//
// Needs CLAUDE_MEMORY_BIN (default target/debug/claude-memory); its directory goes first on PATH,
// since the hooks `setup` writes run `claude-memory hook <Event>`.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { countOccurrences, messagesText, requestText, startFakeAnthropic } from "./fake-anthropic.mjs";
import {
  assertClaudeInstalled,
  claude,
  claudeMemoryBin,
  makeSandbox,
  removeSandbox,
  runOk,
  sandboxEnv,
  startService,
  transcriptDir,
  trustProject,
  waitFor,
} from "./lib.mjs";

const STAGING_MEMORY =
  "The staging database is db-staging-7 on port 6543; never run migrations against it on Fridays.";
const MAKE_MEMORY = "The build uses make: `make check` runs the lint-quokka suite and must pass before committing.";

/** Hook outcomes Claude Code records in the transcript for a claude-memory hook that failed. */
function failedHooks(transcriptFile) {
  const failures = [];
  for (const line of fs.readFileSync(transcriptFile, "utf8").split("\n")) {
    if (!line.includes("claude-memory hook")) continue;
    const entry = JSON.parse(line);
    const a = entry.attachment;
    if (a && /^hook_/.test(a.type) && a.type !== "hook_success" && a.type !== "hook_additional_context") {
      if (String(a.command ?? "").startsWith("claude-memory hook")) failures.push(a);
    }
  }
  return failures;
}

describe("claude-memory with the real Claude Code", { timeout: 300_000 }, () => {
  let bin;
  let sb;
  let fake;
  let env;
  let service;
  const sessions = [];

  // A failed set-up fails every test (with its message) instead of only the suite.
  let setupError;
  before(async () => {
    try {
      assertClaudeInstalled();
      bin = claudeMemoryBin();
      sb = makeSandbox("cm-e2e-claude-");
      fake = await startFakeAnthropic();
      env = sandboxEnv(sb, { fakeUrl: fake.url, binDir: path.dirname(bin) });
    } catch (err) {
      setupError = err;
    }
  });
  beforeEach(() => {
    if (setupError) throw setupError;
  });

  after(async () => {
    await service?.stop();
    await fake?.close();
    removeSandbox(sb);
  });

  const cm = (args, opts = {}) => runOk(bin, args, { cwd: sb.project, env, timeoutMs: 30_000, ...opts });

  /** Runs `claude -p`, checks it succeeded, and remembers its session's transcript. */
  async function claudePrint(prompt, extraArgs = []) {
    const before = new Set(fs.existsSync(transcriptDir(sb.home, sb.project)) ? fs.readdirSync(transcriptDir(sb.home, sb.project)) : []);
    const r = await claude(["-p", prompt, ...extraArgs], { cwd: sb.project, env });
    assert.equal(r.timedOut, false, `claude -p timed out\n${r.stderr}`);
    assert.equal(r.code, 0, `claude -p failed (${r.code})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    const dir = transcriptDir(sb.home, sb.project);
    const fresh = fs.readdirSync(dir).filter((f) => f.endsWith(".jsonl") && !before.has(f));
    assert.equal(fresh.length, 1, `one new transcript in ${dir}`);
    const transcript = path.join(dir, fresh[0]);
    sessions.push(transcript);
    const failures = failedHooks(transcript).map((a) => `${a.type} ${a.hookEvent} (exit ${a.exitCode}): ${a.stderr ?? ""}`);
    assert.deepEqual(failures, [], "every claude-memory hook succeeded");
    return { ...r, transcript };
  }

  test("a. setup connects the project: hooks and the approved .mcp.json server", async () => {
    await cm(["setup", sb.project]);
    const settings = JSON.parse(fs.readFileSync(path.join(sb.project, ".claude", "settings.local.json"), "utf8"));
    const commands = Object.values(settings.hooks ?? {})
      .flat()
      .flatMap((g) => g.hooks.map((h) => h.command));
    for (const event of ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"]) {
      assert.ok(commands.includes(`claude-memory hook ${event}`), `hook ${event} installed`);
    }
    assert.ok(settings.enabledMcpjsonServers?.includes("claude-memory"), "the .mcp.json server is approved");
    // Only SessionEnd runs in the background: the other queue-only hooks lose work async (see ARCHITECTURE.md).
    const isAsync = (event) => settings.hooks[event].some((g) => g.hooks.some((h) => h.async === true));
    assert.ok(isAsync("SessionEnd"), "SessionEnd is async");
    for (const event of ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PreCompact", "PostCompact", "Stop", "SubagentStop"]) {
      assert.ok(!isAsync(event), `${event} is not async`);
    }
    const mcp = JSON.parse(fs.readFileSync(path.join(sb.project, ".mcp.json"), "utf8"));
    assert.equal(mcp.mcpServers["claude-memory"].command, "claude-memory");
    assert.deepEqual(mcp.mcpServers["claude-memory"].args, ["mcp"]);
    // What the trust dialog of an interactive first start would record.
    trustProject(sb.home, sb.project);
  });

  test("b. serve answers /healthz and publishes engine.json and a token", async () => {
    service = await startService(bin, sb, env);
    assert.equal(service.engine.port, service.port);
    assert.equal(service.engine.url.replace(/\/$/, ""), service.url);
    assert.equal(service.engine.pid, service.child.pid);
    assert.ok(service.engine.version, "engine.json has a version");
    assert.ok(service.token.length >= 16, "a real token");
  });

  test("c. save two memories", async () => {
    for (const [text, type] of [
      [STAGING_MEMORY, "fact"],
      // A fact: facts stay out of the session-start briefing (which would
      // show a pattern already, so the tool hook would rightly not repeat it).
      [MAKE_MEMORY, "fact"],
    ]) {
      const r = await cm(["save", "--project", sb.project, text, "--type", type]);
      assert.match(r.stdout + r.stderr, /\d/, "save reports the new memory");
    }
    const list = await cm(["list", "--project", sb.project, "--json"]);
    assert.match(list.stdout, /db-staging-7/);
    assert.match(list.stdout, /lint-quokka/);
  });

  test("d. the prompt hook puts the relevant memory into the request, once", async () => {
    assert.ok(service, "needs the service");
    fake.reset();
    fake.script({ text: "Port 6543 (db-staging-7)." });
    await claudePrint("what is the staging database port?");
    const main = fake.mainRequests();
    assert.equal(main.length, 1);
    const text = requestText(main[0].body);
    assert.equal(countOccurrences(text, "db-staging-7"), 1, "the memory reaches the model exactly once");
    assert.match(messagesText(main[0].body), /what is the staging database port\?/);
  });

  test("d2. a fork is not given again what its parent was given", async () => {
    assert.ok(service, "needs the service");
    assert.ok(sessions.length >= 1, "needs d's session");
    const parent = path.basename(sessions[sessions.length - 1], ".jsonl");
    fake.reset();
    fake.script({ text: "Still the same port." });
    const r = await claudePrint("what is the staging database port, once more?", ["--resume", parent, "--fork-session"]);
    assert.notEqual(path.basename(r.transcript, ".jsonl"), parent, "a fork is a new session");
    const main = fake.mainRequests();
    assert.equal(main.length, 1);
    const text = requestText(main[0].body);
    // Once from the parent's conversation the fork carries, not again from the fork's own prompt.
    const msgs = main[0].body.messages;
    const asked = msgs.findLastIndex((m) => JSON.stringify(m.content).includes("once more?"));
    assert.ok(asked > 0, "the fork's prompt follows the parent's conversation");
    const before = messagesText({ messages: msgs.slice(0, asked) });
    assert.match(before, /what is the staging database port\?/, "the parent's conversation is there");
    assert.match(before, /never run migrations against it on Fridays/, "with the memory its prompt was given");
    assert.doesNotMatch(messagesText({ messages: msgs.slice(asked) }), /Fridays/, "the fork's prompt is not given it again");
    assert.equal(countOccurrences(text, "never run migrations against it on Fridays"), 1, "the memory reaches the fork once");
  });

  test("e. tool hooks put memories about the command after its result", async () => {
    assert.ok(service, "needs the service");
    fs.writeFileSync(path.join(sb.project, "Makefile"), "check:\n\t@echo checks-ok\n");
    fake.reset();
    fake.script({ toolUse: { name: "Bash", input: { command: "make check", description: "Run the checks" } } }, { text: "Checks pass." });
    const r = await claudePrint("run the project checks", ["--allowedTools", "Bash"]);
    assert.match(r.stdout, /Checks pass\./);
    assert.equal(fake.pending(), 0, "the tool turn and the answer were both requested");
    const main = fake.mainRequests();
    assert.equal(main.length, 2);
    const msgs = main[1].body.messages;
    const resultAt = msgs.findIndex((m) => Array.isArray(m.content) && m.content.some((b) => b.type === "tool_result"));
    assert.ok(resultAt > 0, "the follow-up carries the tool result");
    assert.match(JSON.stringify(msgs[resultAt].content), /checks-ok/, "make really ran");
    const afterResult = messagesText({ messages: msgs.slice(resultAt) });
    assert.match(
      afterResult,
      /(PreToolUse|PostToolUse):Bash hook additional context:[\s\S]*lint-quokka/,
      "a tool hook injected the make memory after the tool result",
    );
    assert.ok(countOccurrences(requestText(main[1].body), "lint-quokka") <= 2, "not repeated over and over");
  });

  test("f. the session's end queues a transcript job", async () => {
    assert.ok(service, "needs the service");
    assert.ok(sessions.length > 0, "needs a finished session");
    const url = `${service.url}/api/jobs?project=${encodeURIComponent(sb.project)}`;
    const denied = await fetch(url);
    assert.equal(denied.status, 401, "the API wants the token");
    const projectsDir = path.join(sb.home, ".claude", "projects") + path.sep;
    const job = await waitFor(
      async () => {
        const res = await fetch(url, { headers: { Authorization: `Bearer ${service.token}` } });
        assert.equal(res.status, 200);
        const body = await res.json();
        const jobs = Array.isArray(body) ? body : body.jobs;
        assert.ok(Array.isArray(jobs), `GET /api/jobs returns a list: ${JSON.stringify(body)}`);
        return jobs.find((j) => sessions.includes(j.transcript_path));
      },
      { timeoutMs: 15_000, what: "a job for one of this test's transcripts" },
    );
    assert.ok(job.transcript_path.startsWith(projectsDir), `${job.transcript_path} is under ${projectsDir}`);
    assert.ok(fs.statSync(job.transcript_path).isFile(), "the transcript exists");
  });

  test("f2. a subagent's own transcript is queued apart from its session's", async () => {
    assert.ok(service, "needs the service");
    fake.reset();
    fake.script(
      { text: "Delegating.", toolUse: { name: "Agent", input: { description: "Survey", prompt: "List the files.", subagent_type: "general-purpose" } } },
      { text: "There is a Makefile." },
      { text: "Done." },
    );
    const r = await claudePrint("survey the project with a subagent", ["--allowedTools", "Agent"]);
    const session = path.basename(r.transcript, ".jsonl");
    const url = `${service.url}/api/jobs?project=${encodeURIComponent(sb.project)}`;
    const job = await waitFor(
      async () => {
        const res = await fetch(url, { headers: { Authorization: `Bearer ${service.token}` } });
        const body = await res.json();
        const jobs = Array.isArray(body) ? body : body.jobs;
        return jobs.find((j) => j.session_id.startsWith(`${session}/agent-`));
      },
      { timeoutMs: 15_000, what: "a job for the subagent's transcript" },
    );
    const agent = job.session_id.slice(`${session}/agent-`.length);
    assert.equal(job.trigger, "SubagentStop");
    assert.equal(job.transcript_path, path.join(path.dirname(r.transcript), session, "subagents", `agent-${agent}.jsonl`));
    assert.ok(fs.statSync(job.transcript_path).isFile(), "the subagent's transcript exists");
  });

  test("g. claude mcp list connects to the stdio server and to the HTTP endpoint", async () => {
    assert.ok(service, "needs the service");
    const list = await claude(["mcp", "list"], { cwd: sb.project, env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^claude-memory: claude-memory mcp - ✔ Connected/m, list.stdout);

    const url = `${service.url}/mcp?project=${encodeURIComponent(sb.project)}`;
    const add = await claude(
      ["mcp", "add", "--transport", "http", "cm-http", url, "--header", `Authorization: Bearer ${service.token}`],
      { cwd: sb.project, env },
    );
    assert.equal(add.code, 0, add.stderr);
    const list2 = await claude(["mcp", "list"], { cwd: sb.project, env });
    assert.equal(list2.code, 0, list2.stderr);
    assert.match(list2.stdout, /^cm-http: .*\(HTTP\) - ✔ Connected/m, list2.stdout);
    assert.match(list2.stdout, /^claude-memory: .*✔ Connected/m, list2.stdout);
  });
});
