// The LLM settings form: the engine's configuration as form fields and back.
// The API key is write-only: the form starts with an empty key field, and a
// request carries a key only when one was typed (absent means "keep the
// stored key"), so an empty or blank field can never erase or replace it.

import type { LlmAnswer, LlmConfig, LlmKind, LlmProvider, LlmRequest } from './types';

export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

/** Every provider's fields at once, so switching the kind back and forth loses nothing typed. */
export interface LlmForm {
  kind: LlmKind;
  azure_endpoint: string;
  azure_deployment: string;
  azure_api_version: string;
  openai_model: string;
  openai_base_url: string;
  compatible_base_url: string;
  compatible_model: string;
  anthropic_model: string;
  anthropic_base_url: string;
  claude_model: string;
  claude_command: string;
  timeout_ms: number;
  max_retries: number;
  concurrency: number;
  temperature: number;
  retry_base_ms: number;
  daily_tokens: number;
  project_daily_tokens: number;
  /** A new key typed in; empty keeps the stored one. */
  api_key: string;
  /** Remove the stored key on save. */
  clear_key: boolean;
}

export const KINDS: { kind: LlmKind; label: string }[] = [
  { kind: 'none', label: 'None (offline)' },
  { kind: 'azure', label: 'Azure OpenAI' },
  { kind: 'openai', label: 'OpenAI' },
  { kind: 'compatible', label: 'OpenAI-compatible server' },
  { kind: 'anthropic', label: 'Anthropic (Claude API key)' },
  { kind: 'claude-code', label: 'Claude Code (your claude login)' },
];

/** A `claude -p` run takes seconds to start: its attempts get two minutes. */
export const CLAUDE_CODE_TIMEOUT_MS = 120_000;

export function defaultConfig(): LlmConfig {
  return {
    provider: { kind: 'none' },
    timeout_ms: 20_000,
    max_retries: 3,
    concurrency: 2,
    temperature: 0,
    retry_base_ms: 500,
    daily_tokens: 2_000_000,
    project_daily_tokens: 500_000,
  };
}

/** The form for a configuration; the key field always starts empty. */
export function formFromConfig(config: LlmConfig): LlmForm {
  const p = config.provider;
  return {
    kind: p.kind,
    azure_endpoint: p.kind === 'azure' ? p.endpoint : '',
    azure_deployment: p.kind === 'azure' ? p.deployment : '',
    azure_api_version: p.kind === 'azure' ? p.api_version : DEFAULT_AZURE_API_VERSION,
    openai_model: p.kind === 'openai' ? p.model : '',
    openai_base_url: p.kind === 'openai' ? (p.base_url ?? '') : '',
    compatible_base_url: p.kind === 'compatible' ? p.base_url : '',
    compatible_model: p.kind === 'compatible' ? p.model : '',
    anthropic_model: p.kind === 'anthropic' ? p.model : '',
    anthropic_base_url: p.kind === 'anthropic' ? (p.base_url ?? '') : '',
    claude_model: p.kind === 'claude-code' ? (p.model ?? '') : '',
    claude_command: p.kind === 'claude-code' ? (p.command ?? '') : '',
    timeout_ms: config.timeout_ms,
    max_retries: config.max_retries,
    concurrency: config.concurrency,
    temperature: config.temperature,
    retry_base_ms: config.retry_base_ms,
    daily_tokens: config.daily_tokens,
    project_daily_tokens: config.project_daily_tokens,
    api_key: '',
    clear_key: false,
  };
}

/** The provider the form describes (fields trimmed; only the chosen kind's fields). */
export function providerFromForm(form: LlmForm): LlmProvider {
  switch (form.kind) {
    case 'azure':
      return {
        kind: 'azure',
        endpoint: form.azure_endpoint.trim(),
        deployment: form.azure_deployment.trim(),
        api_version: form.azure_api_version.trim() || DEFAULT_AZURE_API_VERSION,
      };
    case 'openai':
      return { kind: 'openai', model: form.openai_model.trim(), base_url: form.openai_base_url.trim() || null };
    case 'compatible':
      return { kind: 'compatible', base_url: form.compatible_base_url.trim(), model: form.compatible_model.trim() };
    case 'anthropic':
      return { kind: 'anthropic', model: form.anthropic_model.trim(), base_url: form.anthropic_base_url.trim() || null };
    case 'claude-code':
      return { kind: 'claude-code', model: form.claude_model.trim() || null, command: form.claude_command.trim() || null };
    default:
      return { kind: 'none' };
  }
}

/**
 * The body of PUT /api/llm (and of a connection test of unsaved settings).
 * `api_key` is present only when a non-blank key was typed; `clear_key` only
 * when asked for and no new key replaces it.
 */
export function requestFromForm(form: LlmForm): LlmRequest {
  const d = defaultConfig();
  // A number input left empty binds null: the default stands in.
  const n = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const body: LlmRequest = {
    config: {
      provider: providerFromForm(form),
      timeout_ms: n(form.timeout_ms, d.timeout_ms),
      max_retries: n(form.max_retries, d.max_retries),
      concurrency: n(form.concurrency, d.concurrency),
      temperature: n(form.temperature, d.temperature),
      retry_base_ms: n(form.retry_base_ms, d.retry_base_ms),
      daily_tokens: n(form.daily_tokens, d.daily_tokens),
      project_daily_tokens: n(form.project_daily_tokens, d.project_daily_tokens),
    },
  };
  const key = form.api_key.trim();
  if (key && takesKey(form.kind)) body.api_key = key;
  else if (form.clear_key) body.clear_key = true;
  return body;
}

/** What is missing before the form can be saved, in words; null when nothing is. */
export function formProblem(form: LlmForm): string | null {
  const empty = (v: string) => v.trim() === '';
  switch (form.kind) {
    case 'azure':
      if (empty(form.azure_endpoint)) return 'Enter the Azure endpoint, e.g. https://your-resource.openai.azure.com.';
      if (!/^https?:\/\//i.test(form.azure_endpoint.trim())) return 'The Azure endpoint must start with https://.';
      if (empty(form.azure_deployment)) return 'Enter the Azure deployment name.';
      return null;
    case 'openai':
      if (empty(form.openai_model)) return 'Enter the OpenAI model, e.g. gpt-4o-mini.';
      if (!empty(form.openai_base_url) && !/^https?:\/\//i.test(form.openai_base_url.trim())) return 'The base URL must start with http:// or https://.';
      return null;
    case 'compatible':
      if (empty(form.compatible_base_url)) return "Enter the server's URL, e.g. http://localhost:11434.";
      if (!/^https?:\/\//i.test(form.compatible_base_url.trim())) return 'The URL must start with http:// or https://.';
      if (empty(form.compatible_model)) return 'Enter the model name as the server knows it, e.g. llama3.1.';
      return null;
    case 'anthropic':
      if (empty(form.anthropic_model)) return 'Enter the Claude model, e.g. claude-haiku-4-5.';
      if (!empty(form.anthropic_base_url) && !/^https?:\/\//i.test(form.anthropic_base_url.trim())) return 'The base URL must start with http:// or https://.';
      return null;
    default:
      return null;
  }
}

/** Whether the provider cannot work without an API key (a compatible server may not need one). */
export function needsKey(kind: LlmKind): boolean {
  return kind === 'azure' || kind === 'openai' || kind === 'anthropic';
}

/** Whether the provider takes an API key at all (Claude Code uses its own login). */
export function takesKey(kind: LlmKind): boolean {
  return kind !== 'none' && kind !== 'claude-code';
}

/** Today's tokens against the daily limit, in words. */
export function todayStatus(todayTokens: number, config: LlmConfig): string {
  const used = todayTokens.toLocaleString('en-US');
  if (!config.daily_tokens) return `Today: ${used} tokens (no daily limit).`;
  const share = Math.min(100, Math.floor((100 * todayTokens) / config.daily_tokens));
  return `Today: ${used} of ${config.daily_tokens.toLocaleString('en-US')} tokens (${share}%).`;
}

/** Where the stored key is, in words. */
export function keyStatus(key: LlmAnswer['key']): string {
  if (!key.present) return 'No API key stored.';
  switch (key.source) {
    case 'keychain':
      return 'An API key is stored in the OS keychain.';
    case 'env':
      return 'The API key comes from CLAUDE_MEMORY_LLM_API_KEY (the dashboard cannot change it).';
    case 'file':
      return 'An API key is stored in an owner-only file (no keychain on this machine).';
    default:
      return 'An API key is stored.';
  }
}

/** One line for the Overview: what structures memories now (`undefined`: not known yet). */
export function llmStatus(active: string | null | undefined): string {
  if (active === undefined) return '—';
  return active ?? 'offline: memories are structured by the built-in offline structurer';
}

/** Text with `backtick` spans (as the engine describes a provider) split into plain and code parts. */
export function splitTicks(text: string): { code: boolean; text: string }[] {
  return text
    .split('`')
    .map((part, i) => ({ code: i % 2 === 1, text: part }))
    .filter((p) => p.text !== '');
}
