// What the browser tests share: a real `claude-memory serve` in a temporary
// HOME (its own CLAUDE_MEMORY_HOME, port 0), an API helper with its token,
// Debian's Chromium through playwright-core, and screenshots.
//
// Needs: the claude-memory binary (CLAUDE_MEMORY_BIN, else target/debug),
// ui/dist built, /usr/bin/chromium (install.sh). run.sh does all of it.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '../..');
export const bin = process.env.CLAUDE_MEMORY_BIN ?? join(repo, 'target/debug/claude-memory');
export const uiDir = process.env.CLAUDE_MEMORY_UI_DIR ?? join(repo, 'ui/dist');
export const shots = join(here, 'screenshots');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** The test embedding model and ONNX Runtime from scripts/setup-test-deps.sh, when installed. */
export function testModel() {
  const deps = process.env.CLAUDE_MEMORY_TEST_DEPS ?? join(process.env.HOME ?? '', '.cache/claude-memory-test-deps');
  const dir = process.env.CLAUDE_MEMORY_TEST_MODEL_DIR ?? join(deps, 'models/all-minilm-l6-v2');
  const ort = process.env.ORT_DYLIB_PATH;
  if (!ort || !existsSync(ort) || !existsSync(join(dir, 'model.onnx'))) return null;
  return { dir, ort };
}

/**
 * A temporary HOME with an engine in it. `seed(engine)` runs CLI commands
 * before the engine starts; `env` adds variables (e.g. ORT_DYLIB_PATH).
 */
export async function startEngine({ prefix = 'cm-browser-', env: extra = {}, seed } = {}) {
  assert.ok(existsSync(bin), `no claude-memory binary at ${bin} (cargo build -p claude-memory)`);
  assert.ok(existsSync(join(uiDir, 'index.html')), `no built dashboard in ${uiDir} (npm run build in ui/)`);
  mkdirSync(shots, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const home = join(tmp, 'cm-home');
  const userHome = join(tmp, 'home');
  mkdirSync(userHome, { recursive: true });
  const env = {
    // claude-memory is on the user's PATH (as `claude-memory install` leaves it), so setup
    // writes the bare command into Claude Code's files.
    PATH: `${dirname(bin)}:${process.env.PATH}`,
    HOME: userHome,
    CLAUDE_MEMORY_HOME: home,
    CLAUDE_MEMORY_UI_DIR: uiDir,
    RUST_LOG: 'warn',
    // The throwaway keychain of run.sh (with-keyring.sh), when there is one.
    ...(process.env.DBUS_SESSION_BUS_ADDRESS ? { DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS } : {}),
    ...extra,
  };
  const engine = {
    tmp,
    home,
    userHome,
    env,
    base: '',
    token: '',
    server: null,
    cli(args) {
      return execFileSync(bin, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
    /** Calls the API; fails the test on an error answer unless `ok: false` is expected. */
    async api(method, path, body, { expectOk = true } = {}) {
      const r = await fetch(`${engine.base}/api${path}`, {
        method,
        headers: { Authorization: `Bearer ${engine.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      const data = text ? JSON.parse(text) : null;
      if (expectOk) assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
      return data;
    },
    async stop() {
      if (engine.server && engine.server.exitCode === null) {
        engine.server.kill('SIGTERM');
        await new Promise((r) => engine.server.once('exit', r));
      }
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  if (seed) await seed(engine);
  const server = spawn(bin, ['serve', '--port', '0', '--no-watch'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  engine.server = server;
  engine.base = await new Promise((resolveUrl, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 30_000);
    server.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    server.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  engine.token = readFileSync(join(home, 'token'), 'utf8').trim();
  return engine;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

/** A page in its own context; script errors and console errors are collected in `errors`. */
export async function newPage(browser, errors, colorScheme = 'light') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return page;
}

export async function shoot(page, name) {
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
