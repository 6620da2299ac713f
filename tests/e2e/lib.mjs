// Shared helpers of the end-to-end tests: sandboxes, the real Claude Code binary, child processes
// with deadlines, free ports, and the claude-memory service.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(E2E_DIR, "..", "..");
export const FIXTURES_DIR = path.join(E2E_DIR, "fixtures");

/** The real Claude Code CLI installed by install.sh (the native binary of the npm package). */
export const CLAUDE_BIN = path.join(E2E_DIR, "node_modules", ".bin", "claude");

/** Deadline of one `claude -p` run. */
export const CLAUDE_TIMEOUT_MS = 60_000;

/**
 * The claude-memory binary under test: $CLAUDE_MEMORY_BIN (absolute), else target/debug.
 * Throws a clear error when it does not exist, so a missing build fails instead of skipping.
 */
export function claudeMemoryBin() {
  const bin = process.env.CLAUDE_MEMORY_BIN
    ? path.resolve(process.env.CLAUDE_MEMORY_BIN)
    : path.join(REPO_ROOT, "target", "debug", "claude-memory");
  if (!fs.existsSync(bin)) {
    throw new Error(`claude-memory binary not found at ${bin}: build it (cargo build) or set CLAUDE_MEMORY_BIN`);
  }
  return bin;
}

/** Checks that the Claude Code binary is the real one (not the npm placeholder stub). */
export function assertClaudeInstalled() {
  if (!fs.existsSync(CLAUDE_BIN)) {
    throw new Error(`Claude Code is not installed at ${CLAUDE_BIN}: run tests/e2e/install.sh`);
  }
}

/**
 * A fresh sandbox: a temporary root with an isolated HOME, TMPDIR, CLAUDE_MEMORY_HOME and a
 * git-initialised project folder. All paths are real paths (symlinks resolved), because Claude Code
 * keys projects by the real path of the working directory.
 */
export function makeSandbox(prefix = "cm-e2e-") {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  const sb = {
    root,
    home: path.join(root, "home"),
    tmp: path.join(root, "tmp"),
    cmHome: path.join(root, "cmhome"),
    project: path.join(root, "project"),
  };
  for (const dir of [sb.home, sb.tmp, sb.cmHome, sb.project]) fs.mkdirSync(dir, { recursive: true });
  gitInit(sb.project);
  return sb;
}

/** `git init -b main` (Claude Code reads the repository state into its context). */
export function gitInit(dir) {
  const r = spawnSync("git", ["init", "-q", "-b", "main", dir], { stdio: "pipe", encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git init ${dir} failed: ${r.stderr}`);
}

export function removeSandbox(sb) {
  if (sb?.root && !process.env.E2E_KEEP) fs.rmSync(sb.root, { recursive: true, force: true });
  else if (sb?.root) console.error(`[e2e] kept sandbox ${sb.root}`);
}

/**
 * Environment for Claude Code and claude-memory inside a sandbox. Starts from this process's
 * environment without anything of a surrounding Claude Code session or a real Anthropic account
 * (CLAUDE*, ANTHROPIC*, MCP*), then points everything at the sandbox and the fake API.
 */
export function sandboxEnv(sb, { fakeUrl, binDir, extra = {} } = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(CLAUDE|ANTHROPIC|MCP_|AI_AGENT|XDG_)/.test(k)) continue;
    env[k] = v;
  }
  env.HOME = sb.home;
  env.TMPDIR = sb.tmp;
  env.CLAUDE_MEMORY_HOME = sb.cmHome;
  env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1";
  env.DISABLE_AUTOUPDATER = "1";
  env.ANTHROPIC_API_KEY = "sk-ant-fake-e2e";
  if (fakeUrl) env.ANTHROPIC_BASE_URL = fakeUrl;
  if (binDir) env.PATH = `${binDir}${path.delimiter}${env.PATH ?? ""}`;
  return { ...env, ...extra };
}

/**
 * Marks `project` trusted in the sandbox's ~/.claude.json (the "trust this folder" dialog):
 * projects[<abs path>].hasTrustDialogAccepted = true. Claude Code starts `.mcp.json` servers only
 * in a trusted folder, and only those approved in `enabledMcpjsonServers`.
 */
export function trustProject(home, project) {
  const file = path.join(home, ".claude.json");
  const config = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  config.projects ??= {};
  config.projects[project] = { ...(config.projects[project] ?? {}), hasTrustDialogAccepted: true };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
}

/** Where Claude Code writes the transcripts of sessions run in `project`. */
export function transcriptDir(home, project) {
  return path.join(home, ".claude", "projects", project.replace(/[^A-Za-z0-9]/g, "-"));
}

/**
 * Runs a command with a deadline; resolves {code, signal, stdout, stderr, timedOut}. stdin is
 * closed (Claude Code in -p mode otherwise waits for piped input). On the deadline the whole
 * process group is killed.
 */
export function run(cmd, args, { cwd, env, timeoutMs = CLAUDE_TIMEOUT_MS, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Like run, but rejects with the output when the command fails or times out. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) {
    throw new Error(
      `${path.basename(cmd)} ${args.join(" ")} ${r.timedOut ? "timed out" : `exited ${r.code ?? r.signal}`}\n` +
        `--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`,
    );
  }
  return r;
}

/** Runs the real Claude Code with the sandbox environment, in `cwd`. */
export function claude(args, { cwd, env, timeoutMs = CLAUDE_TIMEOUT_MS } = {}) {
  return run(CLAUDE_BIN, args, { cwd, env, timeoutMs });
}

export function killGroup(child, signal = "SIGKILL") {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws `what`). */
export async function waitFor(fn, { timeoutMs = 10_000, intervalMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await sleep(intervalMs);
  }
}

/**
 * Starts `claude-memory serve --port <free port>` with the sandbox's CLAUDE_MEMORY_HOME and waits
 * for GET /healthz → 200. Returns {child, port, url, token, engine, logs(), stop()}.
 */
export async function startService(bin, sb, env) {
  const port = await freePort();
  const child = spawn(bin, ["serve", "--port", String(port)], {
    cwd: sb.root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise((resolve) => child.on("exit", (code, sig) => resolve(code ?? sig)));
  const service = {
    child,
    port,
    url,
    token: null,
    engine: null,
    logs: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child, "SIGTERM");
      const gone = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!gone) killGroup(child, "SIGKILL");
    },
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${output}`);
        const res = await fetch(`${url}/healthz`);
        return res.status === 200;
      },
      { timeoutMs: 30_000, what: `GET ${url}/healthz → 200 (serve output: ${output.slice(-2000)})` },
    );
    const engineFile = path.join(sb.cmHome, "engine.json");
    service.engine = await waitFor(() => fs.existsSync(engineFile) && JSON.parse(fs.readFileSync(engineFile, "utf8")), {
      timeoutMs: 5000,
      what: engineFile,
    });
    const tokenFile = path.join(sb.cmHome, "token");
    service.token = await waitFor(() => fs.existsSync(tokenFile) && fs.readFileSync(tokenFile, "utf8").trim(), {
      timeoutMs: 5000,
      what: tokenFile,
    });
  } catch (err) {
    await service.stop();
    throw err;
  }
  return service;
}
