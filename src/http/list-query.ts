import { type MessageQuery, parseMessageQuery } from '../domain/operations/message-query.ts';
import { ApiError } from './errors.ts';

/**
 * The message filters of a list's query string (`GET /v1/messages`, `/v1/unsent`), checked by
 * the domain; `reason` only where the list has one.
 */
export function parseListFilters(
  input: Record<string, unknown>,
  options: { allowReason: boolean },
): MessageQuery {
  const { query, errors } = parseMessageQuery(input, {
    fieldPrefix: 'querystring.',
    allowReason: options.allowReason,
  });
  if (errors.length > 0)
    throw new ApiError('invalid_request', 'the query is invalid; see details', errors);
  return query;
}
