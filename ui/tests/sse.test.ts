import { describe, expect, it } from 'vitest';
import { SseParser, streamEvents, type SseMessage } from '../src/lib/sse';

describe('SseParser', () => {
  it('parses events with names and JSON data', () => {
    const p = new SseParser();
    const out = p.feed('event: saved\ndata: {"type":"saved","id":3}\n\n');
    expect(out).toEqual([{ event: 'saved', data: '{"type":"saved","id":3}', id: null }]);
  });

  it('handles chunks split anywhere, CRLF split across chunks, comments and multi-line data', () => {
    const stream = ':keep-alive\r\n\r\nevent: progress\r\ndata: a\r\ndata:b\r\nid: 7\r\n\r\ndata: plain\r\n\r\n';
    for (let size = 1; size <= stream.length; size++) {
      const p = new SseParser();
      const out: SseMessage[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...p.feed(stream.slice(i, i + size)));
      expect(out, `chunk size ${size}`).toEqual([
        { event: 'progress', data: 'a\nb', id: '7' },
        { event: 'message', data: 'plain', id: '7' },
      ]);
    }
  });

  it('ignores unknown fields and empty messages, accepts lone CR', () => {
    const p = new SseParser();
    expect(p.feed('retry: 10\nfoo: bar\n\n')).toEqual([]);
    expect(p.feed('event: x\n\n')).toEqual([]);
    expect(p.feed('data: one\r\rdata: two\n\n')).toEqual([
      { event: 'message', data: 'one', id: null },
      { event: 'message', data: 'two', id: null },
    ]);
    expect(p.feed('data\n\n')).toEqual([{ event: 'message', data: '', id: null }]);
  });

  it('keeps an incomplete message until its blank line', () => {
    const p = new SseParser();
    expect(p.feed('event: error\ndata: {"message":')).toEqual([]);
    expect(p.feed('"boom"}\n')).toEqual([]);
    expect(p.feed('\n')).toEqual([{ event: 'error', data: '{"message":"boom"}', id: null }]);
  });
});

function bodyOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

describe('streamEvents', () => {
  it('sends the bearer token, delivers messages and reconnects after a drop', async () => {
    const abort = new AbortController();
    const seen: string[] = [];
    const states: string[] = [];
    const calls: RequestInit[] = [];
    let n = 0;
    await streamEvents({
      url: '/api/events',
      headers: { Authorization: 'Bearer t' },
      signal: abort.signal,
      retryMs: 1,
      fetchImpl: async (_url, init) => {
        calls.push(init ?? {});
        n += 1;
        if (n === 3) abort.abort();
        return new Response(bodyOf([`event: saved\ndata: {"n":${n}}\n`, '\n']), { status: 200 });
      },
      onMessage: (m) => seen.push(m.data),
      onState: (s) => states.push(s),
    });
    expect(seen.slice(0, 2)).toEqual(['{"n":1}', '{"n":2}']);
    expect((calls[0]?.headers as Record<string, string>).Authorization).toBe('Bearer t');
    expect((calls[0]?.headers as Record<string, string>).Accept).toBe('text/event-stream');
    expect(states).toContain('open');
    expect(states).toContain('closed');
  });

  it('stops on 401', async () => {
    const states: string[] = [];
    let calls = 0;
    await streamEvents({
      url: '/api/events',
      headers: {},
      signal: new AbortController().signal,
      retryMs: 1,
      fetchImpl: async () => {
        calls += 1;
        return new Response('{"error":"no"}', { status: 401 });
      },
      onMessage: () => {},
      onState: (s) => states.push(s),
    });
    expect(calls).toBe(1);
    expect(states).toEqual(['connecting', 'unauthorized']);
  });
});
