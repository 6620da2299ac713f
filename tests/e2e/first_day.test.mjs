// A new user's first day, following the README literally, as a person on a fresh machine would:
// a clean HOME, a PATH of system directories only (plus Rust's, for the build), no
// CLAUDE_MEMORY_HOME. `./scripts/run.sh` builds, installs into ~/.local and serves;
// `~/.local/bin/claude-memory setup` in a git project (~/.local/bin is not on the PATH yet, so
// setup must write the absolute path); `doctor` says what is left; the folder is trusted the way a
// person accepts Claude Code's prompt; then three real `claude -p` sessions: the first saves a
// memory through the MCP tool, the second and third receive it from the hooks. `claude mcp list`
// shows the server connected.
//
// CLAUDE_MEMORY_PROFILE=debug makes run.sh reuse the debug build that test.sh already made.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { messagesText, requestText, startFakeAnthropic } from "./fake-anthropic.mjs";
import {
  REPO_ROOT,
  assertClaudeInstalled,
  claude,
  freePort,
  killGroup,
  makeSandbox,
  removeSandbox,
  run,
  transcriptDir,
  trustProject,
  waitFor,
} from "./lib.mjs";

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEPLOY_MEMORY =
  "Deploy to production with `make ship-quokka`: it tags the commit and rolls the helm chart out to the prod cluster.";
const SAVE_TOOL = "mcp__claude-memory__memory_save";

/** Where the user's Rust toolchain is (the README assumes Rust is installed). */
function rustEnv() {
  const cargo = execFileSync("bash", ["-c", "command -v cargo"], { encoding: "utf8" }).trim();
  const home = process.env.HOME;
  return {
    dir: path.dirname(fs.realpathSync(cargo)),
    CARGO_HOME: process.env.CARGO_HOME ?? path.join(home, ".cargo"),
    RUSTUP_HOME: process.env.RUSTUP_HOME ?? path.join(home, ".rustup"),
  };
}

/** Claude Code's record of a claude-memory hook that did not succeed. */
function failedHooks(transcriptFile) {
  const failures = [];
  for (const line of fs.readFileSync(transcriptFile, "utf8").split("\n")) {
    if (!line.includes("claude-memory")) continue;
    const a = JSON.parse(line).attachment;
    if (a && /^hook_/.test(a.type) && !["hook_success", "hook_additional_context"].includes(a.type)) {
      if (/claude-memory'? hook /.test(String(a.command ?? ""))) failures.push(a);
    }
  }
  return failures;
}

describe("a new user's first day, by the README", { timeout: 1_800_000 }, () => {
  let sb;
  let fake;
  let port;
  let engine; // ./scripts/run.sh, serving
  let engineOutput = "";
  let userEnv;
  let bin;

  let setupError;
  before(async () => {
    try {
      assertClaudeInstalled();
      sb = makeSandbox("cm-e2e-first-day-");
      fake = await startFakeAnthropic();
      port = await freePort();
      userEnv = {
        HOME: sb.home,
        TMPDIR: sb.tmp,
        PATH: SYSTEM_PATH,
        LANG: "C.UTF-8",
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_API_KEY: "sk-ant-fake-e2e",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        DISABLE_AUTOUPDATER: "1",
        // Only so this engine never meets another test's on the default port.
        CLAUDE_MEMORY_PORT: String(port),
      };
      bin = path.join(sb.home, ".local", "bin", "claude-memory");
    } catch (err) {
      setupError = err;
    }
  });
  beforeEach(() => {
    if (setupError) throw setupError;
  });
  after(async () => {
    killGroup(engine, "SIGTERM");
    await fake?.close();
    removeSandbox(sb);
  });

  const cm = (args, opts = {}) => run(bin, args, { cwd: sb.project, env: userEnv, timeoutMs: 60_000, ...opts });

  async function session(prompt, extraArgs = []) {
    const dir = transcriptDir(sb.home, sb.project);
    const seen = new Set(fs.existsSync(dir) ? fs.readdirSync(dir) : []);
    const r = await claude(["-p", prompt, ...extraArgs], { cwd: sb.project, env: userEnv });
    assert.equal(r.code, 0, `claude -p failed (${r.code})\n${r.stdout}\n${r.stderr}`);
    const fresh = fs.readdirSync(dir).filter((f) => f.endsWith(".jsonl") && !seen.has(f));
    assert.equal(fresh.length, 1, "one new transcript");
    const failures = failedHooks(path.join(dir, fresh[0]));
    assert.deepEqual(failures, [], "every claude-memory hook succeeded");
    return r;
  }

  test("1. ./scripts/run.sh builds, installs into ~/.local and serves, printing the dashboard link", async () => {
    const rust = rustEnv();
    const env = {
      ...userEnv,
      PATH: `${rust.dir}:${SYSTEM_PATH}`,
      CARGO_HOME: rust.CARGO_HOME,
      RUSTUP_HOME: rust.RUSTUP_HOME,
      // The user's npm cache would be warm too; only saves downloads.
      npm_config_cache: path.join(process.env.HOME, ".npm"),
      CLAUDE_MEMORY_PROFILE: "debug",
    };
    engine = spawn("bash", ["scripts/run.sh"], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    engine.stdout.on("data", (d) => (engineOutput += d));
    engine.stderr.on("data", (d) => (engineOutput += d));
    await waitFor(
      async () => {
        if (engine.exitCode !== null) throw new Error(`run.sh exited ${engine.exitCode}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
      },
      { timeoutMs: 1_500_000, intervalMs: 500, what: `the engine on port ${port}:\n${engineOutput.slice(-3000)}` },
    );
    assert.ok(fs.statSync(bin).isFile(), `${bin} installed`);
    const libs = fs.readdirSync(path.join(sb.home, ".local", "lib", "claude-memory"));
    assert.ok(libs.some((f) => f.startsWith("libonnxruntime")), `ONNX Runtime installed: ${libs}`);
    assert.ok(fs.existsSync(path.join(sb.home, ".local", "share", "claude-memory", "ui", "index.html")), "dashboard installed");
    await waitFor(() => /dashboard: http:\/\/127\.0\.0\.1:\d+\/#token=\w+/.test(engineOutput), {
      timeoutMs: 10_000,
      what: `the dashboard link in serve's output:\n${engineOutput.slice(-2000)}`,
    });
    assert.match(engineOutput, /is not on your PATH/, "install says how to put the command on the PATH");
  });

  test("2. setup in a git project writes the absolute path, since ~/.local/bin is not on the PATH", async () => {
    const r = await cm(["setup"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /not on your PATH/);
    const settings = JSON.parse(fs.readFileSync(path.join(sb.project, ".claude", "settings.local.json"), "utf8"));
    const command = settings.hooks.UserPromptSubmit[0].hooks[0].command;
    assert.equal(command, `${bin} hook UserPromptSubmit`);
    const mcp = JSON.parse(fs.readFileSync(path.join(sb.project, ".mcp.json"), "utf8"));
    assert.equal(mcp.mcpServers["claude-memory"].command, bin);
    assert.equal(mcp.mcpServers["claude-memory"].alwaysLoad, true);
  });

  test("3. doctor names what is left: the PATH and the folder's trust", async () => {
    const r = await cm(["doctor", "--json"]);
    assert.equal(r.code, 0, `warnings only: the hooks name the full path\n${r.stdout}\n${r.stderr}`);
    const checks = Object.fromEntries(JSON.parse(r.stdout).checks.map((c) => [c.name, c]));
    assert.equal(checks.path.outcome, "warn");
    assert.ok(checks.path.fix.includes(`export PATH="${path.dirname(bin)}:$PATH"`), checks.path.fix);
    assert.equal(checks.onnxruntime.outcome, "ok", JSON.stringify(checks.onnxruntime));
    assert.match(checks.onnxruntime.detail, /1\.32/);
    assert.equal(checks.engine.outcome, "ok", JSON.stringify(checks.engine));
    assert.equal(checks["project: hooks"].outcome, "ok", JSON.stringify(checks["project: hooks"]));
    assert.equal(checks["project: mcp"].outcome, "ok", JSON.stringify(checks["project: mcp"]));
    assert.equal(checks["project: trust"].outcome, "warn");
    assert.match(checks["project: trust"].detail, /pending approval/);

    // The person accepts Claude Code's trust prompt for the folder.
    trustProject(sb.home, sb.project);
    const again = JSON.parse((await cm(["doctor", "--json"])).stdout);
    assert.equal(again.checks.find((c) => c.name === "project: trust").outcome, "ok");
  });

  test("4. session one: Claude saves a memory through the MCP tool", async () => {
    fake.reset();
    fake.script(
      { toolUse: { name: SAVE_TOOL, input: { content: DEPLOY_MEMORY, type: "decision", domain: "devops" } } },
      { text: "Noted." },
    );
    await session("Remember how we ship to production: make ship-quokka.", ["--allowedTools", SAVE_TOOL]);
    const main = fake.mainRequests();
    assert.ok(
      main[0].body.tools.some((t) => t.name === SAVE_TOOL),
      `the memory tools are loaded, not deferred: ${main[0].body.tools.map((t) => t.name)}`,
    );
    assert.equal(main.length, 2, "the tool call and the answer");
    const result = JSON.stringify(main[1].body.messages.at(-1));
    assert.doesNotMatch(result, /"is_error":true/, `the save succeeded: ${result}`);
    const list = JSON.parse((await cm(["list", "--json"])).stdout);
    assert.ok(list.some((m) => m.content.includes("ship-quokka")), "the memory is in the project");
  });

  for (const [n, prompt] of [
    ["5. session two", "How do we deploy this app to production?"],
    ["6. session three", "What should I run to deploy to production?"],
  ]) {
    test(`${n}: the hooks give Claude the memory`, async () => {
      fake.reset();
      fake.script({ text: "Use make ship-quokka." });
      await session(prompt);
      const main = fake.mainRequests();
      assert.match(messagesText(main[0].body), new RegExp(prompt.replace(/[?]/g, "\\?")));
      assert.match(requestText(main[0].body), /make ship-quokka/, "the memory reached the model");
    });
  }

  test("7. claude mcp list shows the server connected", async () => {
    const list = await claude(["mcp", "list"], { cwd: sb.project, env: userEnv });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^claude-memory: .* - ✔ Connected/m, list.stdout);
  });
});
