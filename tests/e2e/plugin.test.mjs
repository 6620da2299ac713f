// The Claude Code plugin (plugin/project-memory) as a plugin user gets it: `claude plugin validate`
// accepts the plugin and the repository's marketplace; the real Claude Code adds the marketplace
// from this repository's directory and installs the plugin (user scope); `claude-memory setup`
// then adds no second copy of the hooks; a `claude -p` session receives a saved memory through the
// plugin's hook; and without claude-memory installed the plugin's hook says so once, never failing.

import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

import { countOccurrences, requestText, startFakeAnthropic } from "./fake-anthropic.mjs";
import {
  CLAUDE_BIN,
  REPO_ROOT,
  assertClaudeInstalled,
  claude,
  claudeMemoryBin,
  makeSandbox,
  removeSandbox,
  run,
  runOk,
  sandboxEnv,
  startService,
  trustProject,
} from "./lib.mjs";

const PLUGIN_DIR = path.join(REPO_ROOT, "plugin", "project-memory");
const MEMORY = "Release builds are signed with the key in vault path secret/quokka-signing, never a local key.";

describe("the project-memory plugin", () => {
  let sb, fake, env, bin, service;
  let setupError;
  before(async () => {
    try {
      assertClaudeInstalled();
      bin = claudeMemoryBin();
      sb = makeSandbox("cm-e2e-plugin-");
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

  test("claude plugin validate accepts the plugin and the marketplace", async () => {
    for (const dir of [PLUGIN_DIR, REPO_ROOT]) {
      const r = await run(CLAUDE_BIN, ["plugin", "validate", dir], { cwd: sb.root, env });
      assert.equal(r.code, 0, `validate ${dir}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /Validation passed/);
    }
  });

  test("it installs from the repository's marketplace, and setup adds no second copy", async () => {
    await runOk(CLAUDE_BIN, ["plugin", "marketplace", "add", REPO_ROOT], { cwd: sb.root, env });
    const r = await runOk(CLAUDE_BIN, ["plugin", "install", "project-memory@project-memory"], { cwd: sb.root, env });
    assert.match(r.stdout + r.stderr, /installed/i);
    const settings = JSON.parse(fs.readFileSync(path.join(sb.home, ".claude", "settings.json"), "utf8"));
    assert.equal(settings.enabledPlugins["project-memory@project-memory"], true);

    const setup = await runOk(bin, ["setup"], { cwd: sb.project, env });
    assert.match(setup.stdout, /project-memory plugin provides the hooks/);
    assert.ok(fs.existsSync(path.join(sb.project, ".claude-memory")), "the data folder is made");
    assert.ok(!fs.existsSync(path.join(sb.project, ".claude", "settings.local.json")), "no hooks of its own");
    const doctor = await run(bin, ["doctor", "--json"], { cwd: sb.project, env });
    const hooks = JSON.parse(doctor.stdout).checks.find((c) => c.name === "project: hooks");
    assert.equal(hooks.outcome, "ok", JSON.stringify(hooks));
    assert.match(hooks.detail, /project-memory plugin/);
  });

  test("a session gets the project's memory through the plugin's hook", async () => {
    service = await startService(bin, sb, env);
    await runOk(bin, ["save", MEMORY, "--type", "decision"], { cwd: sb.project, env });
    trustProject(sb.home, sb.project);
    fake.reset();
    fake.script({ text: "Use the vault key." });
    const r = await claude(["-p", "how are release builds signed?"], { cwd: sb.project, env });
    assert.equal(r.code, 0, `claude -p failed: ${r.stderr}`);
    const main = fake.mainRequests();
    assert.ok(main.length >= 1, "Claude Code called the model");
    assert.equal(countOccurrences(requestText(main[0].body), "secret/quokka-signing"), 1, "the memory reached the model once");
  });

  test("without claude-memory the hook says once how to install it, and never fails", async () => {
    // Each event's command as hooks.json gives it, run by a shell as Claude Code runs it.
    const hooks = JSON.parse(fs.readFileSync(path.join(PLUGIN_DIR, "hooks", "hooks.json"), "utf8")).hooks;
    const bare = {
      ...env,
      PATH: "/usr/bin:/bin",
      HOME: path.join(sb.root, "nobody"),
      CLAUDE_PLUGIN_ROOT: PLUGIN_DIR,
      CLAUDE_PLUGIN_DATA: path.join(sb.root, "plugin-data"),
    };
    const payload = JSON.stringify({ session_id: "s", cwd: sb.project, hook_event_name: "SessionStart", source: "startup" });
    const hook = (event) => run("/bin/sh", ["-c", hooks[event][0].hooks[0].command], { cwd: sb.project, env: bare, input: payload });
    const first = await hook("SessionStart");
    assert.equal(first.code, 0);
    assert.match(JSON.parse(first.stdout).systemMessage, /claude-memory program is not installed/);
    const again = await hook("SessionStart");
    assert.equal(again.code, 0);
    assert.equal(again.stdout, "", "said once");
    const prompt = await hook("UserPromptSubmit");
    assert.deepEqual([prompt.code, prompt.stdout], [0, ""]);
  });
});
