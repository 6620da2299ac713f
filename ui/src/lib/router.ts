// A hash router: `#/memories` shows the Memories page. The pages and their labels.

export const ROUTES = [
  { path: '/', label: 'Overview' },
  { path: '/memories', label: 'Memories' },
  { path: '/clusters', label: 'Clusters' },
  { path: '/models', label: 'Models' },
  { path: '/settings', label: 'Settings' },
  { path: '/activity', label: 'Activity' },
  { path: '/setup', label: 'Setup' },
] as const;

export type RoutePath = (typeof ROUTES)[number]['path'];

/** The page a fragment names (`#/models?x` → `/models`); unknown ones are the overview. */
export function routeOf(hash: string): RoutePath {
  const raw = (hash.startsWith('#') ? hash.slice(1) : hash).split('?')[0] ?? '';
  const found = ROUTES.find((r) => r.path === raw);
  return found ? found.path : '/';
}

/** The parameters after the route (`#/memories?id=12` → id=12). */
export function routeParams(hash: string): URLSearchParams {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const q = raw.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
}

/**
 * The project a link selects (`#/memories?project=/home/me/shop`, as the
 * tray app's Projects menu opens it), or null.
 */
export function projectOf(hash: string): string | null {
  const project = routeParams(hash).get('project')?.trim() ?? '';
  const absolute = project.startsWith('/') || /^[A-Za-z]:[\\/]/.test(project);
  return absolute ? project : null;
}

/** The fragment that opens one memory on the Memories page. */
export function memoryLink(id: number): string {
  return `#/memories?id=${id}`;
}
