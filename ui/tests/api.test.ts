import { describe, expect, it, vi } from 'vitest';
import { Api, ApiError, isSearch, queryString } from '../src/lib/api';

function fakeFetch(status: number, body: unknown) {
  const calls: { url: string; init: RequestInit }[] = [];
  const impl = async (url: string, init?: RequestInit) => {
    calls.push({ url, init: init ?? {} });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status });
  };
  return { calls, impl };
}

describe('queryString', () => {
  it('skips empty values and encodes the rest', () => {
    expect(queryString({})).toBe('');
    expect(queryString({ a: undefined, b: null, c: '' })).toBe('');
    expect(queryString({ project: '/home/me/my proj', limit: 5, archived: true })).toBe(
      '?project=%2Fhome%2Fme%2Fmy+proj&limit=5&archived=true',
    );
  });
});

describe('Api', () => {
  it('sends the bearer token and parses JSON', async () => {
    const f = fakeFetch(200, { version: '0.1.0', paused: false });
    const api = new Api('tok', '', f.impl);
    const status = await api.status();
    expect(status.version).toBe('0.1.0');
    expect(f.calls[0]?.url).toBe('/api/status');
    expect((f.calls[0]?.init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(f.calls[0]?.init.method).toBe('GET');
  });

  it('builds the memories query from the filters', async () => {
    const f = fakeFetch(200, { memories: [], limit: 25, offset: 0 });
    const api = new Api('tok', 'http://127.0.0.1:1/', f.impl);
    await api.memories({ project: '/p', q: 'sqlx', type: 'decision', min_confidence: 0.5, archived: true, mode: 'bm25', limit: 10 });
    const url = new URL(f.calls[0]!.url);
    expect(url.origin + url.pathname).toBe('http://127.0.0.1:1/api/memories');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      project: '/p',
      q: 'sqlx',
      type: 'decision',
      min_confidence: '0.5',
      archived: 'true',
      mode: 'bm25',
      limit: '10',
    });
    await api.memories({ project: '/p', archived: false, min_confidence: null });
    expect(f.calls[1]!.url).toBe('http://127.0.0.1:1/api/memories?project=%2Fp');
  });

  it('sends JSON bodies for writes', async () => {
    const f = fakeFetch(200, { memory: { id: 3 } });
    const api = new Api('tok', '', f.impl);
    await api.validate('/p', 3, false);
    expect(f.calls[0]?.url).toBe('/api/memories/3/validate?project=%2Fp');
    expect(f.calls[0]?.init.method).toBe('POST');
    expect(f.calls[0]?.init.body).toBe('{"is_valid":false}');
    expect((f.calls[0]?.init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    await api.update('/p', 3, { content: 'x' });
    expect(f.calls[1]?.init.method).toBe('PATCH');
    await api.archive('/p', 3);
    expect(f.calls[2]?.init.method).toBe('DELETE');
    expect(f.calls[2]?.init.body).toBeUndefined();
    await api.installModel('all-minilm-l6-v2', '/tmp/m');
    expect(f.calls[3]?.url).toBe('/api/models/all-minilm-l6-v2/install');
    expect(f.calls[3]?.init.body).toBe('{"from":"/tmp/m"}');
    await api.unsupersede('/p', 4);
    expect(f.calls[4]?.url).toBe('/api/memories/4/unsupersede?project=%2Fp');
    expect(f.calls[4]?.init.method).toBe('POST');
    await api.confirm('/p', 4);
    expect(f.calls[5]?.url).toBe('/api/memories/4/confirm?project=%2Fp');
    expect(f.calls[5]?.init.method).toBe('POST');
    await api.memories({ project: '/p', stale: true });
    expect(f.calls[6]?.url).toBe('/api/memories?project=%2Fp&stale=true');
  });

  it('calls the team routes, with the password only in the link body', async () => {
    const f = fakeFetch(200, { team: null, offline: false });
    const api = new Api('tok', '', f.impl);
    await api.team('/p');
    expect(f.calls[0]?.url).toBe('/api/team?project=%2Fp');
    await api.linkTeam('/p', { url: 'postgres://r@h/db', password: 'pw', name: 'shop' });
    expect(f.calls[1]?.url).toBe('/api/team/link?project=%2Fp');
    expect(f.calls[1]?.init.method).toBe('POST');
    expect(JSON.parse(String(f.calls[1]?.init.body))).toEqual({ url: 'postgres://r@h/db', password: 'pw', name: 'shop' });
    await api.syncTeam('/p');
    expect(f.calls[2]?.url).toBe('/api/team/sync?project=%2Fp');
    await api.unlinkTeam('/p');
    expect(f.calls[3]?.init.method).toBe('DELETE');
    await api.share('/p', 7, true);
    expect(f.calls[4]?.url).toBe('/api/memories/7/share?project=%2Fp');
    await api.share('/p', 7, false);
    expect(f.calls[5]?.url).toBe('/api/memories/7/unshare?project=%2Fp');
  });

  it('calls the LLM, setup, map and model routes', async () => {
    const f = fakeFetch(200, { ok: true });
    const api = new Api('tok', '', f.impl);
    const config = { provider: { kind: 'none' as const }, timeout_ms: 1, max_retries: 0, concurrency: 1, temperature: 0, retry_base_ms: 1, daily_tokens: 0, project_daily_tokens: 0 };
    await api.llm();
    await api.saveLlm({ config, api_key: 'sk-1' });
    await api.testLlm();
    await api.testLlm({ config });
    await api.setup({ project: '/p', scope: 'local', dry_run: true });
    await api.setupDone();
    await api.addProject('/abs/dir');
    await api.clusterMap('/p');
    await api.activateModel('bge-m3');
    await api.cancelModel('bge-m3');
    expect(f.calls.map((c) => `${c.init.method} ${c.url} ${c.init.body ?? ''}`)).toEqual([
      'GET /api/llm ',
      `PUT /api/llm {"config":${JSON.stringify(config)},"api_key":"sk-1"}`,
      'POST /api/llm/test ',
      `POST /api/llm/test {"config":${JSON.stringify(config)}}`,
      'POST /api/setup {"project":"/p","scope":"local","dry_run":true}',
      'POST /api/setup/done ',
      'POST /api/projects {"path":"/abs/dir"}',
      'GET /api/clusters/map?project=%2Fp ',
      'POST /api/models/bge-m3/activate ',
      'POST /api/models/bge-m3/cancel ',
    ]);
  });

  it("turns an error answer into an ApiError with the engine's message", async () => {
    const api = new Api('tok', '', fakeFetch(400, { error: 'parameter limit: invalid digit' }).impl);
    await expect(api.projects()).rejects.toEqual(new ApiError(400, 'parameter limit: invalid digit'));
    const plain = new Api('tok', '', fakeFetch(500, 'oops').impl);
    await expect(plain.projects()).rejects.toMatchObject({ status: 500 });
  });

  it('calls onUnauthorized on 401', async () => {
    const api = new Api('bad', '', fakeFetch(401, { error: 'missing or wrong token' }).impl);
    const spy = vi.fn();
    api.onUnauthorized = spy;
    await expect(api.status()).rejects.toMatchObject({ status: 401 });
    expect(spy).toHaveBeenCalledOnce();
  });

  it('explains an engine that does not answer', async () => {
    const api = new Api('t', '', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api.status()).rejects.toMatchObject({ status: 0, message: expect.stringContaining('claude-memory serve') });
  });

  it('tells a search from a list', () => {
    expect(isSearch({ hits: [], mode: 'bm25', hook: { injects: [], limit: 3, min_similarity: 0.3 } })).toBe(true);
    expect(isSearch({ memories: [], limit: 1, offset: 0 })).toBe(false);
  });
});
