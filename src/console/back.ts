/**
 * Where a page's "Back" link goes: the console page the user came from (the unsent view with its
 * filter, say), carried in a `back` parameter. Only a path of this console is taken, normalised
 * (`/console/../v1` is not one): an absolute URL, a scheme-relative `//host`, a backslash, a
 * space or a control character is refused, so a link made by someone else cannot send a user off-site.
 */
export function backPath(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2000) return null;
  if (!value.startsWith('/') || value.startsWith('//')) return null;
  // Visible ASCII only (the page's links are written so): browsers drop control characters and
  // spaces from URLs, and read `\` as `/` (`/\evil.example`).
  if (!/^[\x21-\x7e]+$/.test(value) || value.includes('\\')) return null;
  const base = 'http://console.invalid';
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return null;
  }
  if (url.origin !== base) return null;
  if (url.pathname !== '/console' && !url.pathname.startsWith('/console/')) return null;
  return `${url.pathname}${url.search}`;
}

/** The words of a "Back" link to `path` (a path backPath took). */
export function backLabel(path: string): string {
  const at = path.split('?')[0] ?? '';
  if (at === '/console') return '← Back to the overview';
  if (at === '/console/unsent') return '← Back to unsent mail';
  if (at === '/console/recoveries/dry-run') return '← Back to the dry run';
  if (at.startsWith('/console/recoveries')) return '← Back to the recovery';
  if (at === '/console/messages') return '← Back to the search';
  return '← Back';
}
