// A first run in Debian's Chromium against a real `claude-memory serve`: the
// setup wizard writes a project's Claude Code configuration (checked on
// disk), LLM settings save with a key that never comes back, Test connection
// reports an unreachable server, a model installs from a local folder and is
// activated with re-embedding progress, and the clusters map draws the
// memories and opens one on click. Screenshots: setup-*, settings-llm-*,
// models-install-local-*, models-activate-*, clusters-map-*.
//
// The model steps need the test model and ONNX Runtime from
// scripts/setup-test-deps.sh (ORT_DYLIB_PATH, CLAUDE_MEMORY_TEST_MODEL_DIR;
// run.sh and test.sh provide them); without them they are skipped, saying so.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, newPage as openPage, shoot, startEngine, testModel } from './harness.mjs';

const MODEL = 'all-minilm-l6-v2';
const KEY = 'sk-browser-test-Zq7xV93kLmN2';
const model = testModel();
const noModel = model ? false : 'no test model: run scripts/setup-test-deps.sh (ORT_DYLIB_PATH, CLAUDE_MEMORY_TEST_MODEL_DIR)';

// Three topics, five notes each, each topic in its own domain: similar enough to cluster.
const TOPICS = [
  ['database', ['Postgres migrations run with sqlx before the server starts', 'Run sqlx migrate run after adding a migration file', 'The sqlx migration table records which migrations ran', 'Never edit a sqlx migration once it has landed on main', 'Database migrations with sqlx are applied at server start']],
  ['frontend', ['The Svelte dashboard is built with Vite into ui/dist', 'Vite builds the Svelte dashboard; run npm run build in ui', 'The dashboard uses Svelte 5 runes and Vite 7', 'Svelte components of the dashboard live in ui/src/pages', 'Build the Svelte and Vite dashboard before the browser tests']],
  ['devops', ['CI runs cargo clippy with warnings denied', 'Clippy warnings fail the CI build, fix them before pushing', 'cargo clippy --tests runs in CI with -D warnings', 'The CI pipeline denies clippy warnings on every crate', 'Run cargo clippy locally; CI rejects any warning']],
];

let engine, browser, project;
const pageErrors = [];
const newPage = (scheme = 'light') => openPage(browser, pageErrors, scheme);
const api = (...args) => engine.api(...args);
const q = (p) => `project=${encodeURIComponent(p)}`;
const open = (page, route) => page.goto(`${engine.base}/#token=${engine.token}&route=${route}`);

before(async () => {
  engine = await startEngine({
    prefix: 'cm-firstrun-',
    env: model ? { ORT_DYLIB_PATH: model.ort } : {},
    seed: (e) => {
      project = join(e.tmp, 'beta-app');
      mkdirSync(project, { recursive: true });
      for (const [domain, notes] of TOPICS) {
        for (const note of notes) e.cli(['--project', project, 'save', note, '--type', 'fact', '--domain', domain]);
      }
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await engine?.stop();
});

/** Goes through the wizard's first two steps, skipping both. */
async function skipToProjects(page) {
  await page.getByRole('heading', { name: '1. Embedding model' }).waitFor();
  await page.getByRole('button', { name: /^Skip — full-text \(BM25\) search/ }).click();
  await page.getByRole('heading', { name: '2. LLM provider' }).waitFor();
  await page.getByRole('button', { name: 'Skip: offline mode' }).click();
  await page.getByRole('heading', { name: '3. Projects' }).waitFor();
}

describe('first run', () => {
  test('the Overview asks to finish setup and says the LLM is offline', async () => {
    assert.equal((await api('GET', '/status')).setup_done, false);
    const page = await newPage();
    await open(page, '/');
    await page.getByRole('link', { name: 'Open the setup wizard' }).waitFor();
    await page.getByTestId('llm').filter({ hasText: 'offline' }).waitFor();
    await page.getByRole('link', { name: 'Open the setup wizard' }).click();
    await page.getByRole('heading', { name: 'Setup', exact: true }).waitFor();
    await page.context().close();
  });

  test('the wizard shows the exact changes, applies them and writes the project config', async () => {
    const gamma = join(engine.tmp, 'gamma');
    mkdirSync(join(gamma, '.claude'), { recursive: true });
    // The user's own settings: kept, and backed up before the change.
    writeFileSync(join(gamma, '.claude/settings.local.json'), '{\n  "permissions": { "allow": ["Bash(ls)"] }\n}\n');

    const page = await newPage();
    await open(page, '/setup');
    await page.getByText(`Active model:`).waitFor();
    await shoot(page, 'setup-model-light');
    await page.getByRole('button', { name: /^Skip — full-text \(BM25\) search/ }).click();
    await page.getByRole('heading', { name: '2. LLM provider' }).waitFor();
    await page.getByText('Offline mode.').waitFor();
    await shoot(page, 'setup-llm-light');
    await page.getByRole('button', { name: 'Skip: offline mode' }).click();
    await page.getByRole('heading', { name: '3. Projects' }).waitFor();

    // Nothing chosen: no review yet.
    assert.equal(await page.getByRole('button', { name: 'Review changes' }).isDisabled(), true);
    // A relative path is refused with the engine's message, in the page.
    await page.getByLabel('Add a folder (absolute path)').fill('relative/folder');
    await page.getByRole('button', { name: 'Add folder' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Add a folder (absolute path)').fill(gamma);
    await page.getByRole('button', { name: 'Add folder' }).click();
    const box = page.locator(`input[name="project"][value="${gamma}"]`);
    await box.waitFor();
    assert.equal(await box.isChecked(), true, 'an added folder is chosen');
    assert.equal(await page.locator('input[name="scope"][value="local"]').isChecked(), true, 'local scope by default');
    await shoot(page, 'setup-projects-light');

    await page.getByRole('button', { name: 'Review changes' }).click();
    await page.getByRole('heading', { name: '4. Review changes' }).waitFor();
    const plan = page.locator(`article[data-project="${gamma}"]`);
    await plan.locator('pre.diff').first().waitFor();
    const review = await plan.textContent();
    assert.match(review, /\.mcp\.json/);
    assert.match(review, /settings\.local\.json/);
    assert.match(review, /claude-memory hook /);
    assert.ok((await plan.locator('pre.diff span.add').count()) > 5, 'added lines are marked');
    assert.ok(!existsSync(join(gamma, '.mcp.json')), 'a dry run writes nothing');
    await shoot(page, 'setup-review-light');

    await page.getByRole('button', { name: 'Apply changes' }).click();
    await page.getByRole('heading', { name: '5. Apply' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Applied:' }).waitFor();
    assert.match(await page.locator(`article[data-project="${gamma}"]`).textContent(), /backup: .*settings\.local\.json\.claude-memory\.bak/);
    await shoot(page, 'setup-apply-light');
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByRole('heading', { name: '6. Done' }).waitFor();
    await page.getByText('claude mcp list').waitFor();
    await shoot(page, 'setup-done-light');

    // On disk: hooks and the MCP approval in settings.local.json (the user's permissions kept), the server in .mcp.json.
    const settings = JSON.parse(readFileSync(join(gamma, '.claude/settings.local.json'), 'utf8'));
    assert.deepEqual(settings.permissions, { allow: ['Bash(ls)'] });
    const commands = Object.values(settings.hooks).flat().flatMap((g) => g.hooks.map((h) => h.command));
    assert.ok(commands.some((c) => c.startsWith('claude-memory hook UserPromptSubmit')), JSON.stringify(settings.hooks));
    assert.ok(settings.enabledMcpjsonServers.includes('claude-memory'));
    const mcp = JSON.parse(readFileSync(join(gamma, '.mcp.json'), 'utf8'));
    assert.ok(mcp.mcpServers['claude-memory'], JSON.stringify(mcp));
    // The backup of a changed project file is kept in its (git-ignored) data folder.
    assert.ok(existsSync(join(gamma, '.claude-memory/backups/settings.local.json.claude-memory.bak')));
    assert.ok(existsSync(join(gamma, '.claude-memory')));
    assert.equal((await api('GET', '/status')).setup_done, true);
    await page.context().close();
  });

  test('the wizard in dark, shared with the team, from the link the tray app opens', async () => {
    const delta = join(engine.tmp, 'delta');
    mkdirSync(delta, { recursive: true });
    const page = await newPage('dark');
    await open(page, '/setup');
    await skipToProjects(page);
    await page.getByLabel('Add a folder (absolute path)').fill(delta);
    await page.getByRole('button', { name: 'Add folder' }).click();
    await page.locator(`input[name="project"][value="${delta}"]`).waitFor();
    await page.locator('input[name="scope"][value="shared"]').check();
    await shoot(page, 'setup-projects-dark');
    // Keyboard: the step's heading takes the focus, so Tab continues from it.
    await page.getByRole('button', { name: 'Review changes' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: '4. Review changes' }).waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'step-h');
    await page.locator(`article[data-project="${delta}"] pre.diff`).first().waitFor();
    await shoot(page, 'setup-review-dark');
    await page.getByRole('button', { name: 'Apply changes' }).click();
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByRole('heading', { name: '6. Done' }).waitFor();
    await page.getByText('Commit .claude/settings.json').waitFor();
    await shoot(page, 'setup-done-dark');
    const shared = JSON.parse(readFileSync(join(delta, '.claude/settings.json'), 'utf8'));
    assert.ok(Object.keys(shared.hooks).length > 0);
    assert.ok(JSON.parse(readFileSync(join(delta, '.mcp.json'), 'utf8')).mcpServers['claude-memory']);
    await page.context().close();
  });

  test('LLM settings save, come back after a reload with the key present, and never show the key', async () => {
    const page = await newPage();
    const bodies = [];
    page.on('response', async (r) => {
      if (!r.url().includes('/api/') || r.url().includes('/api/events')) return;
      try {
        bodies.push(`${r.url()} ${await r.text()}`);
      } catch {
        // A body that is gone (navigation) has nothing to check.
      }
    });
    await open(page, '/settings');
    const section = page.locator('section[aria-labelledby="llm-h"]');
    await section.getByText('Offline mode.').waitFor();
    await section.locator('select[name="llm_kind"]').selectOption('compatible');
    // Empty fields are explained before anything is sent.
    await section.getByRole('button', { name: 'Save LLM settings' }).click();
    await section.getByRole('alert').filter({ hasText: "server's URL" }).waitFor();
    await section.locator('input[name="compatible_base_url"]').fill('http://127.0.0.1:9');
    await section.locator('input[name="compatible_model"]').fill('llama3.1');
    await section.locator('input[name="api_key"]').fill(KEY);
    await section.getByRole('button', { name: 'Save LLM settings' }).click();
    await section.getByRole('status').filter({ hasText: 'Saved. Memories are now structured by' }).waitFor();
    assert.equal(await section.locator('input[name="api_key"]').inputValue(), '', 'the key field is emptied after saving');

    let llm = await api('GET', '/llm');
    assert.equal(llm.config.provider.kind, 'compatible');
    assert.equal(llm.config.provider.base_url, 'http://127.0.0.1:9');
    assert.equal(llm.key.present, true);
    assert.ok(['keychain', 'file'].includes(llm.key.source), JSON.stringify(llm.key));
    if (process.env.CLAUDE_MEMORY_TEST_KEYCHAIN === '1') {
      // run.sh provides a throwaway Secret Service: the key must be in it, not in a file.
      assert.equal(llm.key.source, 'keychain', JSON.stringify(llm.key));
      assert.ok(!existsSync(join(engine.home, 'llm-key')), 'no plaintext key file next to a keychain');
    }
    if (llm.key.source === 'file') {
      const mode = statSync(join(engine.home, 'llm-key')).mode & 0o777;
      assert.equal(mode, 0o600, `llm-key mode ${mode.toString(8)}`);
    }
    assert.ok(!readFileSync(join(engine.home, 'llm.toml'), 'utf8').includes(KEY), 'no key in llm.toml');

    await page.reload();
    await section.locator('input[name="compatible_base_url"]').waitFor();
    assert.equal(await section.locator('input[name="compatible_base_url"]').inputValue(), 'http://127.0.0.1:9');
    assert.equal(await section.locator('input[name="compatible_model"]').inputValue(), 'llama3.1');
    const keyInput = section.locator('input[name="api_key"]');
    assert.equal(await keyInput.inputValue(), '');
    assert.equal(await keyInput.getAttribute('type'), 'password');
    assert.match(await keyInput.getAttribute('placeholder'), /^stored in /);
    await section.getByTestId('llm-status').filter({ hasText: 'llama3.1' }).waitFor();

    // Nothing listens on port 9: the test says so, in the page.
    await section.getByRole('button', { name: 'Test connection' }).click();
    const result = section.getByTestId('llm-test');
    await result.waitFor({ timeout: 60_000 });
    assert.match(await result.textContent(), /Connection failed|refused|connect/i);
    await shoot(page, 'settings-llm-light');

    // The Overview names the LLM.
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Overview' }).click();
    await page.getByTestId('llm').filter({ hasText: 'llama3.1' }).waitFor();

    assert.ok(!(await page.content()).includes(KEY), 'the key is not in the page');
    assert.ok(bodies.length > 3, 'API answers were seen');
    for (const b of bodies) assert.ok(!b.includes(KEY), `the key is in an API answer: ${b.slice(0, 200)}`);
    await page.context().close();

    const dark = await newPage('dark');
    await open(dark, '/settings');
    await dark.locator('section[aria-labelledby="llm-h"]').getByText(/An API key is stored/).waitFor();
    await shoot(dark, 'settings-llm-dark');
    // Remove the key: it is gone, the settings stay.
    await dark.getByRole('button', { name: 'Remove key' }).click();
    await dark.getByRole('status').filter({ hasText: 'The stored API key is removed.' }).waitFor();
    llm = await api('GET', '/llm');
    assert.equal(llm.key.present, false);
    assert.equal(llm.config.provider.kind, 'compatible');
    assert.ok(!(await dark.content()).includes(KEY));
    // Back to offline for the tests that follow.
    await api('PUT', '/llm', { config: { ...llm.config, provider: { kind: 'none' } } });
    await dark.context().close();
  });

  test('a model installs from a local folder, then activates with re-embedding progress', { skip: noModel }, async () => {
    const before = await api('GET', '/models');
    assert.equal(before.active, null);
    // Settings open in another tab while the model is activated.
    const settings = await newPage();
    await open(settings, '/settings');
    await settings.locator('input[name="prompt_budget_ms"]').waitFor();
    const page = await newPage();
    await open(page, '/models');
    const card = page.locator(`section[aria-labelledby="model-${MODEL}"]`);
    await card.waitFor();
    await page.locator('.stream[data-state="open"]').waitFor();
    // Installed from a local copy (no network): progress, then "installed".
    await card.getByPlaceholder('/path/to/model or archive').fill(model.dir);
    await card.getByRole('button', { name: 'Install' }).click();
    await card.locator('[data-task="install"]').filter({ hasText: 'installed' }).waitFor({ timeout: 60_000 });
    await card.getByRole('button', { name: 'Activate' }).waitFor();
    assert.ok((await api('GET', '/models')).catalogue.find((m) => m.id === MODEL).installed, 'installed');
    await shoot(page, 'models-install-local-light');
    // Verify re-hashes the installed files and says what it found.
    await card.getByRole('button', { name: 'Verify' }).click();
    const verdict = card.locator(`[data-verify="${MODEL}"]`);
    await verdict.filter({ hasText: /^(Verified|Problem):/ }).waitFor({ timeout: 60_000 });
    const answer = await api('POST', `/models/${MODEL}/verify`);
    assert.equal((await verdict.textContent()).startsWith('Verified'), answer.ok, 'the page shows the engine\'s verdict');
    assert.ok(answer.ok, `the installed test model checks out: ${answer.state}`);
    // Installed, not active: it can be activated.
    await card.getByRole('button', { name: 'Activate' }).click();
    const status = card.locator('[data-task="activate"]');
    await status.waitFor();
    await status.filter({ hasText: 'active: every memory is re-embedded' }).waitFor({ timeout: 120_000 });
    assert.match(await card.getByTestId('reembed-counts').textContent(), /^(\d+) of \1 memories re-embedded$/);
    await page.getByTestId('active-model').filter({ hasText: MODEL }).waitFor();
    await page.getByTestId('loaded-model').filter({ hasText: MODEL }).waitFor();
    await shoot(page, 'models-activate-light');
    const after = await api('GET', '/models');
    assert.equal(after.active, MODEL);
    assert.equal(after.loaded, MODEL);
    assert.ok(!(await card.getByRole('button', { name: 'Activate' }).count()), 'the active model has no Activate button');
    await page.context().close();

    // Saving that older form keeps the activated model in config.toml.
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await settings.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    assert.equal((await api('GET', '/settings')).file.embedding.model, MODEL);
    await settings.context().close();

    const dark = await newPage('dark');
    await open(dark, '/models');
    await dark.getByTestId('active-model').filter({ hasText: MODEL }).waitFor();
    await shoot(dark, 'models-activate-dark');
    await dark.context().close();
  });

  test('the clusters map draws the memories and a click opens one', { skip: noModel }, async () => {
    // Saved with the model active: embedded, and clustered as they arrive.
    for (const [domain, notes] of TOPICS) {
      for (const note of notes) await api('POST', `/memories?${q(project)}`, { content: `${note} (again)`, type: 'pattern', domain });
    }
    const map = await api('GET', `/clusters/map?${q(project)}`);
    assert.equal(map.model, MODEL);
    assert.ok(map.points.length >= 15, `${map.points.length} points`);

    for (const scheme of ['light', 'dark']) {
      const page = await newPage(scheme);
      await open(page, '/clusters');
      await page.getByRole('combobox', { name: 'Project' }).selectOption(project);
      const canvas = page.getByTestId('cluster-map');
      await canvas.waitFor();
      await page.getByText(`${map.points.length} memories, projected from their ${MODEL} embeddings`).waitFor();
      await shoot(page, `clusters-map-${scheme}`);
      if (scheme === 'dark') {
        await page.context().close();
        continue;
      }
      // Find a point the way a user does: move over the map until the pointer says "clickable".
      const boxOf = await canvas.boundingBox();
      let hit = null;
      const target = map.points[0];
      const yGuess = boxOf.y + ((1.05 - target.y) / 2.1) * boxOf.height;
      search: for (const dy of [0, -4, 4, -8, 8, -12, 12]) {
        for (let x = boxOf.x + 2; x < boxOf.x + boxOf.width; x += 3) {
          await page.mouse.move(x, yGuess + dy);
          if ((await canvas.evaluate((c) => c.style.cursor)) === 'pointer') {
            hit = [x, yGuess + dy];
            break search;
          }
        }
      }
      assert.ok(hit, 'a point of the map is under the pointer somewhere');
      await page.mouse.click(hit[0], hit[1]);
      await page.getByRole('heading', { name: 'Memories', exact: true }).waitFor();
      assert.match(page.url(), /#\/memories\?id=\d+$/);
      const id = Number(/id=(\d+)/.exec(page.url())[1]);
      assert.ok(map.points.some((p) => p.id === id));
      await page.getByRole('heading', { name: `Memory #${id}` }).waitFor();

      // The list under the map does the same from the keyboard.
      await page.goBack();
      await page.getByText('The points as a list').click();
      const link = page.locator('details.points a').first();
      const href = await link.getAttribute('href');
      await link.focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: `Memory #${href.split('=')[1]}` }).waitFor();
      await page.context().close();
    }
  });

  test('no script error or CSP violation on any page', () => {
    // The one 400 is the relative folder the wizard test adds on purpose.
    const expected = (e) => /401|Unauthorized/i.test(e) || /status of 400/.test(e);
    assert.deepEqual(pageErrors.filter((e) => !expected(e)), []);
    assert.equal(pageErrors.filter((e) => /status of 400/.test(e)).length <= 1, true, pageErrors.join('\n'));
  });
});
