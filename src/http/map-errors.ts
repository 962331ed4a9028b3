import type { FastifyError } from 'fastify';
import { OperationsError, withListHint } from '../domain/operations/errors.ts';
import { isDatabaseUnavailable } from '../domain/ports/database-unavailable.ts';
import { isClientGone } from './client-gone.ts';
import { ApiError } from './errors.ts';
import { schemaErrorDetails } from './validation-errors.ts';

/** The API's answer to any error a request raised: ApiErrors as they are, the rest mapped. */
export function toApiError(error: FastifyError): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof OperationsError) return toApiErrorFromOperations(error);
  if (error.validation) {
    const where = error.validationContext === 'body' ? '' : `${error.validationContext ?? ''}.`;
    const details = schemaErrorDetails(
      error.validation.map((v) => ({ ...v, message: v.message ?? 'is invalid' })),
      '',
      error.validationContext === 'querystring',
    ).map((d) => ({
      ...d,
      field: d.field === '(body)' && where ? where.slice(0, -1) : `${where}${d.field}`,
    }));
    const part = error.validationContext === 'querystring' ? 'query' : 'request';
    return new ApiError('invalid_request', `the ${part} is invalid; see details`, details);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('payload_too_large', error.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('malformed_json', error.message);
  }
  if (error instanceof SyntaxError)
    return new ApiError('malformed_json', `malformed JSON: ${error.message}`);
  if (isClientGone(error)) {
    return new ApiError('invalid_request', 'the connection closed before the whole body arrived');
  }
  if (hasNulCharacter(error)) {
    return new ApiError('invalid_request', 'text must not contain NUL (\\u0000) characters');
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError('database_unavailable', 'the database is unreachable; retry later');
  }
  const status = error.statusCode ?? 500;
  if (status === 413) return new ApiError('payload_too_large', error.message);
  if (status === 415) return new ApiError('unsupported_media_type', error.message);
  if (status >= 400 && status < 500) return new ApiError('invalid_request', error.message);
  return new ApiError('internal_error', 'internal error; nothing was changed');
}

/** The API's answer to a refused operation. */
/** Where an API client finds the names a field takes (OperationsError's `seeList`). */
const API_LISTS = { units: 'GET /v1/units' } as const;

export function toApiErrorFromOperations(error: OperationsError): ApiError {
  switch (error.kind) {
    case 'not_found':
      return new ApiError('not_found', error.message);
    case 'invalid':
      return new ApiError('invalid_request', error.message, withListHint(error, API_LISTS));
    case 'conflict':
      return new ApiError('invalid_state', error.message);
    case 'exists':
      return new ApiError('already_exists', error.message);
    case 'forbidden':
      return new ApiError('forbidden', error.message);
  }
}

/**
 * Runs an operation given a unit's name from one part of the request, the query (`?unit=`) or a
 * body's `filter`: an unknown unit it refuses is then named as the other fields of that part are
 * (`querystring.unit`, `filter.unit`; docs/api-errors.md), not as a bare `unit`.
 */
export async function unitNamedIn<T>(part: 'querystring' | 'filter', run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (error) {
    const see = error instanceof OperationsError ? error.seeList : null;
    if (!(error instanceof OperationsError) || !see) throw error;
    const field = `${part}.${see.field}`;
    throw new OperationsError(
      error.kind,
      error.message,
      error.details.map((d) => (d.field === see.field ? { ...d, field } : d)),
      { ...see, field },
    );
  }
}

/** PostgreSQL cannot store U+0000 in text: a client error, whichever field it came in. */
export function hasNulCharacter(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return code === '22021' || code === '22P05';
}
