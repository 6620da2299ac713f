// Server-sent events over fetch: EventSource cannot send an Authorization
// header, so the dashboard reads `/api/events` as a stream and parses it here.

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

/**
 * An incremental parser of the `text/event-stream` format: feed it chunks
 * as they arrive (split anywhere, even inside a line or a CRLF), and it
 * returns each message completed by a blank line. Comments (`:keep-alive`)
 * are skipped; several `data:` lines are joined with newlines; a message
 * without `event:` is a `message`.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | null = null;
  private lastId: string | null = null;
  private pendingCr = false;

  feed(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone CR at the very end may be the first half of a CRLF.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) {
        this.pendingCr = true;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const message = { event: this.event || 'message', data: this.data.join('\n'), id: this.lastId };
      this.event = '';
      this.data = [];
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.id = value;
          this.lastId = this.id;
        }
        break;
      default:
        break;
    }
    return null;
  }
}

export interface StreamOptions {
  url: string;
  headers: Record<string, string>;
  onMessage: (message: SseMessage) => void;
  onState?: (state: 'connecting' | 'open' | 'closed' | 'unauthorized', error?: string) => void;
  signal: AbortSignal;
  fetchImpl?: (input: string, init?: RequestInit) => Promise<Response>;
  /** Wait before reconnecting, in ms (default 2000). */
  retryMs?: number;
}

/** Reads the stream until `signal` aborts, reconnecting after a drop (not after a 401). */
export async function streamEvents(options: StreamOptions): Promise<void> {
  const doFetch = options.fetchImpl ?? ((i: string, init?: RequestInit) => fetch(i, init));
  const retry = options.retryMs ?? 2000;
  while (!options.signal.aborted) {
    options.onState?.('connecting');
    try {
      const response = await doFetch(options.url, {
        headers: { ...options.headers, Accept: 'text/event-stream' },
        signal: options.signal,
        cache: 'no-store',
      });
      if (response.status === 401) {
        options.onState?.('unauthorized');
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      options.onState?.('open');
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const message of parser.feed(value)) options.onMessage(message);
      }
      options.onState?.('closed', 'the engine closed the stream');
    } catch (e) {
      if (options.signal.aborted) return;
      options.onState?.('closed', e instanceof Error ? e.message : String(e));
    }
    await sleep(retry, options.signal);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
