import { describe, expect, it } from 'vitest';
import { defaultConfig, formFromConfig, formProblem, keyStatus, llmStatus, providerFromForm, requestFromForm, splitTicks } from '../src/lib/llm';
import type { LlmConfig } from '../src/lib/types';

const azure: LlmConfig = {
  ...defaultConfig(),
  provider: { kind: 'azure', endpoint: 'https://x.openai.azure.com', deployment: 'gpt-4o-mini', api_version: '2024-10-21' },
  timeout_ms: 9000,
};

describe('the LLM form', () => {
  it('starts from the configuration, with an empty key field', () => {
    const form = formFromConfig(azure);
    expect(form.kind).toBe('azure');
    expect(form.azure_endpoint).toBe('https://x.openai.azure.com');
    expect(form.timeout_ms).toBe(9000);
    expect(form.api_key).toBe('');
    expect(form.clear_key).toBe(false);
  });

  it('round-trips every provider', () => {
    const configs: LlmConfig[] = [
      defaultConfig(),
      azure,
      { ...defaultConfig(), provider: { kind: 'openai', model: 'gpt-4o-mini', base_url: null } },
      { ...defaultConfig(), provider: { kind: 'openai', model: 'gpt-4o', base_url: 'https://proxy.example' } },
      { ...defaultConfig(), provider: { kind: 'compatible', base_url: 'http://localhost:11434', model: 'llama3.1' } },
      { ...defaultConfig(), provider: { kind: 'anthropic', model: 'claude-haiku-4-5', base_url: null } },
      { ...defaultConfig(), provider: { kind: 'claude-code', model: null, command: null }, timeout_ms: 120_000 },
      { ...defaultConfig(), provider: { kind: 'claude-code', model: 'haiku', command: '/opt/claude' }, daily_tokens: 0, project_daily_tokens: 1000 },
    ];
    for (const c of configs) expect(requestFromForm(formFromConfig(c))).toEqual({ config: c });
  });

  it("sends only the chosen kind's fields, trimmed, and null for an empty OpenAI base URL", () => {
    const form = formFromConfig(azure);
    form.kind = 'openai';
    form.openai_model = '  gpt-4o  ';
    expect(providerFromForm(form)).toEqual({ kind: 'openai', model: 'gpt-4o', base_url: null });
    form.kind = 'azure';
    expect(providerFromForm(form)).toEqual(azure.provider);
    form.azure_api_version = ' ';
    expect(providerFromForm(form)).toMatchObject({ api_version: '2024-10-21' });
  });

  it('never sends an empty or blank API key', () => {
    const form = formFromConfig(azure);
    expect('api_key' in requestFromForm(form)).toBe(false);
    form.api_key = '   ';
    expect('api_key' in requestFromForm(form)).toBe(false);
    form.api_key = ' sk-123 ';
    expect(requestFromForm(form).api_key).toBe('sk-123');
  });

  it('asks to clear the key only when no new key is typed', () => {
    const form = formFromConfig(azure);
    form.clear_key = true;
    expect(requestFromForm(form)).toMatchObject({ clear_key: true });
    form.api_key = 'sk-new';
    const body = requestFromForm(form);
    expect(body.api_key).toBe('sk-new');
    expect('clear_key' in body).toBe(false);
  });

  it('puts defaults in for number fields left empty', () => {
    const form = formFromConfig(azure);
    (form as unknown as Record<string, unknown>).timeout_ms = null;
    form.max_retries = Number.NaN;
    const { config } = requestFromForm(form);
    expect(config.timeout_ms).toBe(20_000);
    expect(config.max_retries).toBe(3);
  });

  it('says what is missing', () => {
    const form = formFromConfig(defaultConfig());
    expect(formProblem(form)).toBeNull();
    form.kind = 'azure';
    expect(formProblem(form)).toMatch(/Azure endpoint/);
    form.azure_endpoint = 'x.openai.azure.com';
    expect(formProblem(form)).toMatch(/https/);
    form.azure_endpoint = 'https://x.openai.azure.com';
    expect(formProblem(form)).toMatch(/deployment/);
    form.azure_deployment = 'd';
    expect(formProblem(form)).toBeNull();
    form.kind = 'compatible';
    expect(formProblem(form)).toMatch(/URL/);
    form.compatible_base_url = 'http://127.0.0.1:9';
    expect(formProblem(form)).toMatch(/model/);
    form.compatible_model = 'm';
    expect(formProblem(form)).toBeNull();
    form.kind = 'openai';
    expect(formProblem(form)).toMatch(/model/);
  });

  it('describes the key and the status', () => {
    expect(keyStatus({ present: false, source: null })).toMatch(/No API key/);
    expect(keyStatus({ present: true, source: 'keychain' })).toMatch(/keychain/);
    expect(keyStatus({ present: true, source: 'file' })).toMatch(/owner-only file/);
    expect(keyStatus({ present: true, source: 'env' })).toMatch(/CLAUDE_MEMORY_LLM_API_KEY/);
    expect(llmStatus('Azure OpenAI deployment `d`')).toBe('Azure OpenAI deployment `d`');
    expect(llmStatus(null)).toMatch(/^offline/);
    expect(llmStatus(undefined)).toBe('—');
  });

  it('splits backtick spans for display', () => {
    expect(splitTicks('model `llama3.1` at http://x')).toEqual([
      { code: false, text: 'model ' },
      { code: true, text: 'llama3.1' },
      { code: false, text: ' at http://x' },
    ]);
    expect(splitTicks('offline')).toEqual([{ code: false, text: 'offline' }]);
  });
});

describe('Claude as the LLM', () => {
  it('asks an Anthropic model and a key, and no key of Claude Code', async () => {
    const { needsKey, takesKey } = await import('../src/lib/llm');
    const form = formFromConfig(defaultConfig());
    form.kind = 'anthropic';
    expect(formProblem(form)).toMatch(/Claude model/);
    form.anthropic_model = 'claude-haiku-4-5';
    form.anthropic_base_url = 'api.anthropic.com';
    expect(formProblem(form)).toMatch(/http/);
    form.anthropic_base_url = '';
    expect(formProblem(form)).toBeNull();
    expect(needsKey('anthropic') && takesKey('anthropic')).toBe(true);
    form.kind = 'claude-code';
    expect(formProblem(form)).toBeNull();
    expect(providerFromForm(form)).toEqual({ kind: 'claude-code', model: null, command: null });
    expect(needsKey('claude-code') || takesKey('claude-code')).toBe(false);
    form.api_key = 'sk-typed-before-switching';
    expect('api_key' in requestFromForm(form)).toBe(false);
  });

  it("words today's tokens against the daily limit", async () => {
    const { todayStatus } = await import('../src/lib/llm');
    expect(todayStatus(500_000, defaultConfig())).toBe('Today: 500,000 of 2,000,000 tokens (25%).');
    expect(todayStatus(12, { ...defaultConfig(), daily_tokens: 0 })).toBe('Today: 12 tokens (no daily limit).');
    expect(todayStatus(3_000_000, defaultConfig())).toMatch(/\(100%\)/);
  });
});
