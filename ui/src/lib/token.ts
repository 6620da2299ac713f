// The dashboard's token: it arrives in the URL fragment (`#token=…`, which
// browsers never send to a server), is kept in sessionStorage for this tab,
// and is removed from the address bar at once.

export const TOKEN_KEY = 'claude-memory.token';

export interface LocationLike {
  hash: string;
  pathname: string;
  search: string;
}

export interface HistoryLike {
  replaceState(data: unknown, unused: string, url?: string | URL | null): void;
}

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What a fragment holds: a token, and the route to show (`/` by default). */
export interface Fragment {
  token: string | null;
  route: string;
}

/**
 * Parses a fragment: `#/memories` is a route; `#token=abc` (optionally with
 * `&route=/memories`) carries a token. A token is trimmed; an empty one is none.
 */
export function parseFragment(hash: string): Fragment {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  if (raw === '' || raw.startsWith('/')) {
    return { token: null, route: raw === '' ? '/' : raw };
  }
  const params = new URLSearchParams(raw);
  const token = params.get('token')?.trim() || null;
  const route = params.get('route') ?? '/';
  return { token, route: route.startsWith('/') ? route : '/' };
}

/**
 * Takes the token from the fragment if there is one (storing it and
 * rewriting the address without it), else from storage. Returns it, or null.
 */
export function takeToken(location: LocationLike, history: HistoryLike, storage: StorageLike): string | null {
  const { token, route } = parseFragment(location.hash);
  if (token) {
    try {
      storage.setItem(TOKEN_KEY, token);
    } catch {
      // Storage may be unavailable (private mode): the token still works for this page.
    }
    history.replaceState(null, '', `${location.pathname}${location.search}#${route}`);
    return token;
  }
  try {
    return storage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Forgets the stored token (after a 401). */
export function forgetToken(storage: StorageLike): void {
  try {
    storage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing to forget.
  }
}
