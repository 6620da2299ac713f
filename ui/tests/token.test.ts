import { describe, expect, it } from 'vitest';
import { forgetToken, parseFragment, takeToken, TOKEN_KEY, type StorageLike } from '../src/lib/token';

class MemoryStorage implements StorageLike {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

function history() {
  const calls: string[] = [];
  return { calls, replaceState: (_d: unknown, _u: string, url?: string | URL | null) => calls.push(String(url)) };
}

describe('parseFragment', () => {
  it('reads routes and tokens', () => {
    expect(parseFragment('')).toEqual({ token: null, route: '/' });
    expect(parseFragment('#/memories')).toEqual({ token: null, route: '/memories' });
    expect(parseFragment('#token=abc')).toEqual({ token: 'abc', route: '/' });
    expect(parseFragment('#token=abc&route=/models')).toEqual({ token: 'abc', route: '/models' });
    expect(parseFragment('#token=%20x%2By%20')).toEqual({ token: 'x+y', route: '/' });
    expect(parseFragment('#token=')).toEqual({ token: null, route: '/' });
    expect(parseFragment('#route=evil.com')).toEqual({ token: null, route: '/' });
  });
});

describe('takeToken', () => {
  it('stores the fragment token and removes it from the address', () => {
    const storage = new MemoryStorage();
    const h = history();
    const token = takeToken({ hash: '#token=s3cret', pathname: '/', search: '' }, h, storage);
    expect(token).toBe('s3cret');
    expect(storage.getItem(TOKEN_KEY)).toBe('s3cret');
    expect(h.calls).toEqual(['/#/']);
    expect(h.calls.join()).not.toContain('s3cret');
  });

  it('keeps the path, the query and the route', () => {
    const h = history();
    takeToken({ hash: '#token=t&route=/settings', pathname: '/ui/', search: '?x=1' }, h, new MemoryStorage());
    expect(h.calls).toEqual(['/ui/?x=1#/settings']);
  });

  it('falls back to the stored token and leaves the address alone', () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_KEY, 'stored');
    const h = history();
    expect(takeToken({ hash: '#/memories', pathname: '/', search: '' }, h, storage)).toBe('stored');
    expect(h.calls).toEqual([]);
  });

  it('prefers a new fragment token over the stored one', () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_KEY, 'old');
    expect(takeToken({ hash: '#token=new', pathname: '/', search: '' }, history(), storage)).toBe('new');
    expect(storage.getItem(TOKEN_KEY)).toBe('new');
  });

  it('returns null without any token, and survives a broken storage', () => {
    expect(takeToken({ hash: '', pathname: '/', search: '' }, history(), new MemoryStorage())).toBeNull();
    const broken: StorageLike = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('denied');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(takeToken({ hash: '', pathname: '/', search: '' }, history(), broken)).toBeNull();
    expect(takeToken({ hash: '#token=t', pathname: '/', search: '' }, history(), broken)).toBe('t');
    expect(() => forgetToken(broken)).not.toThrow();
  });

  it('forgets', () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_KEY, 'x');
    forgetToken(storage);
    expect(storage.getItem(TOKEN_KEY)).toBeNull();
  });
});
