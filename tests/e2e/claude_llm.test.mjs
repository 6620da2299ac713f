// Claude as claude-memory's LLM with the real Claude Code: llm.toml names the `claude-code`
// provider, a real `claude -p` session in a project queues its transcript, and the engine's job
// worker mines it by running the real `claude -p` headless (against the fake Anthropic API).
// That child run must never feed claude-memory: no hook of it reaches the engine (our hooks are
// installed for every project, in ~/.claude/settings.json), no project, transcript or memory of
// its own appears, and it offers the model no tool. Its tokens count against the daily limit.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { requestText, startFakeAnthropic } from "./fake-anthropic.mjs";
import {
  CLAUDE_BIN,
  E2E_DIR,
  assertClaudeInstalled,
  claude,
  claudeMemoryBin,
  makeSandbox,
  removeSandbox,
  runOk,
  sandboxEnv,
  startService,
  trustProject,
  waitFor,
} from "./lib.mjs";

const MINED =
  '<memory type="decision" domain="database"><what>The team moved the job queue from Redis to Postgres ' +
  "SKIP LOCKED to drop one service.</what><summary>Job queue on Postgres</summary></memory>";
const EXTRACTION_CUE = "condensed conversation between a developer and a coding assistant";

describe("Claude Code as the LLM", { timeout: 240_000 }, () => {
  let bin;
  let sb;
  let fake;
  let env;
  let service;
  let setupError;

  before(async () => {
    try {
      assertClaudeInstalled();
      bin = claudeMemoryBin();
      sb = makeSandbox("cm-e2e-llm-");
      fake = await startFakeAnthropic();
      // Requests without tools (the child run, and Claude Code's side requests) get the mined memory.
      fake.defaultText = MINED;
      env = sandboxEnv(sb, {
        fakeUrl: fake.url,
        binDir: path.dirname(bin),
        extra: { E2E_CAPTURE_DIR: path.join(sb.root, "captured") },
      });
      fs.writeFileSync(
        path.join(sb.cmHome, "llm.toml"),
        `timeout_ms = 60000\nmax_retries = 0\n\n[provider]\nkind = "claude-code"\nmodel = "claude-haiku-4-5"\ncommand = ${JSON.stringify(CLAUDE_BIN)}\n`,
      );
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

  const cm = (args) => runOk(bin, args, { cwd: sb.project, env, timeoutMs: 30_000 });
  const api = async (p) => {
    const res = await fetch(`${service.url}/api${p}`, { headers: { Authorization: `Bearer ${service.token}` } });
    assert.equal(res.status, 200, `GET /api${p}`);
    return res.json();
  };

  test("a transcript is mined by the person's own claude, which never feeds claude-memory", async () => {
    await cm(["setup", "--user"]);
    // Beside ours, a hook that records every payload: proof of which sessions ran hooks at all.
    const settingsFile = path.join(sb.home, ".claude", "settings.json");
    const settings = JSON.parse(fs.readFileSync(settingsFile, "utf8"));
    const capture = path.join(E2E_DIR, "helpers", "capture-hook.mjs");
    for (const event of ["SessionStart", "UserPromptSubmit", "Stop"]) {
      settings.hooks[event].push({ hooks: [{ type: "command", command: `node ${JSON.stringify(capture)} ${event}` }] });
    }
    fs.writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
    trustProject(sb.home, sb.project);
    // An engine started from inside a Claude Code session (its `claude-memory mcp`) inherits the
    // session's variables; the run must not look like a nested session.
    service = await startService(bin, sb, { ...env, CLAUDECODE: "1", CLAUDE_CODE_ENTRYPOINT: "cli" });
    // Hooks for every project serve those that have memories: this one gets its first.
    await cm(["save", "--project", sb.project, "CI runs on GitHub Actions; the main workflow is ci.yml."]);
    const llm = await api("/llm");
    assert.equal(llm.active, "Claude Code (`claude -p`, model `claude-haiku-4-5`)");

    fake.script({ text: "Noted: the job queue now lives in Postgres." });
    const r = await claude(["-p", "We moved the job queue from Redis to Postgres SKIP LOCKED. Keep that in mind."], {
      cwd: sb.project,
      env,
    });
    assert.equal(r.code, 0, r.stderr);

    const started = Date.now();
    // The worker picks the queued transcript up within its interval and runs `claude -p` for it.
    const mined = await waitFor(
      async () => {
        const list = await cm(["list", "--project", sb.project, "--json"]);
        const memories = JSON.parse(list.stdout);
        return memories.find((m) => m.content.includes("SKIP LOCKED") && m.source === "transcript");
      },
      { timeoutMs: 90_000, intervalMs: 1000, what: "a memory mined through claude -p" },
    ).catch((err) => {
      const asked = fake.requests.map((q) => `${q.path} tools=${q.body?.tools?.length ?? 0}`).join(", ");
      throw new Error(`${err.message}\n--- requests: ${asked}\n--- engine log:\n${service.logs().slice(-3000)}`);
    });
    assert.equal(mined.type ?? mined.memory_type, "decision");

    const child = fake.requests.filter((q) => q.path === "/v1/messages" && requestText(q.body).includes(EXTRACTION_CUE));
    assert.equal(child.length, 1, "one extraction run");
    const body = child[0].body;
    assert.equal(body.model, "claude-haiku-4-5");
    assert.ok(!body.tools?.length, "the run offers no tool");
    assert.match(requestText(body), /Redis to Postgres/, "the conversation was sent");

    // Nothing of the child run reached claude-memory: no hook, no project, no transcript.
    const registry = fs.readFileSync(path.join(sb.cmHome, "projects.json"), "utf8");
    assert.doesNotMatch(registry, /claude-memory-llm-/, "the run's folder never became a project");
    const transcripts = fs.readdirSync(path.join(sb.home, ".claude", "projects"));
    assert.ok(!transcripts.some((d) => d.includes("claude-memory-llm")), `no transcript of the run: ${transcripts}`);
    const claudeJson = JSON.parse(fs.readFileSync(path.join(sb.home, ".claude.json"), "utf8"));
    const known = Object.keys(claudeJson.projects ?? {});
    assert.ok(!known.some((p) => p.includes("claude-memory-llm-")), `no project of the run in ~/.claude.json: ${known}`);
    const leftovers = fs.readdirSync(sb.tmp).filter((d) => d.startsWith("claude-memory-llm-"));
    assert.deepEqual(leftovers, [], "the run's folder is removed");
    const captured = fs
      .readFileSync(path.join(sb.root, "captured", "UserPromptSubmit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).payload);
    assert.deepEqual(
      captured.map((p) => p.cwd),
      [sb.project],
      "only the person's session ran hooks; the run loaded no settings",
    );

    // The engine's log says what matters to a person, not its libraries' chatter.
    assert.doesNotMatch(service.logs(), /notify::inotify|rmcp::service/, "no library noise in the engine log");

    // Its tokens are counted, per project and against today's limit.
    const stats = await api(`/stats?project=${encodeURIComponent(sb.project)}`);
    assert.equal(stats.stats.llm.by_purpose.extract.requests, 1);
    assert.ok((await api("/llm")).today_tokens > 0);
    console.error(`[e2e] claude -p as the LLM: mined in ${Date.now() - started} ms after the session ended`);
  });
});
