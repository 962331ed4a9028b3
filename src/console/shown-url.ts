import { urlWithoutPath } from '../domain/alerts/service.ts';
import type { ConsoleUser } from '../domain/console-users.ts';

/**
 * A webhook URL as the console shows it to this user: whole to an admin (who manages endpoints),
 * otherwise its scheme and host only. Receivers often carry a token in the path or the query,
 * and the endpoint pages themselves are for admins.
 */
export function shownUrl(url: string, user: Pick<ConsoleUser, 'role'>): string {
  return user.role === 'admin' ? url : (urlWithoutPath(url) ?? url);
}

/** An audit event's filter as this user may see it (a webhook endpoint's `url`, say). */
export function shownFilter(
  filter: Record<string, unknown> | null,
  user: Pick<ConsoleUser, 'role'>,
): Record<string, unknown> | null {
  if (!filter || typeof filter.url !== 'string') return filter;
  return { ...filter, url: shownUrl(filter.url, user) };
}
