import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/**
 * Checks every `/v1` route makes of the parts of a request its schema cannot say, the same way on
 * every route (routes/index.ts adds them; docs/api-errors.md).
 */

type PreValidation = (request: FastifyRequest) => Promise<void>;

/**
 * For a route that takes no body (`POST /v1/messages/{id}/cancel`, a `DELETE`): no body, or `{}`,
 * which many clients send for "nothing". Anything else is refused, naming each field, instead of
 * ignored: a client that sends `{"reason": …}` or `{"force": true}` is told the route has no such
 * field, and nothing is done.
 */
export const refuseBody: PreValidation = async (request) => {
  const body = request.body;
  if (body === undefined) return;
  if (isObject(body)) {
    const fields = Object.keys(body);
    if (fields.length === 0) return;
    throw new ApiError(
      'invalid_request',
      'this request takes no body; send none, or {}',
      fields.map((field) => ({ field, message: 'is not a known field' })),
    );
  }
  throw new ApiError('invalid_request', 'this request takes no body; send none, or {}', [
    { field: '(body)', message: 'must be empty or {}: this request takes no body' },
  ]);
};

/**
 * For a route whose body is optional (every field of it is): no body is `{}`. JSON `null` is not
 * "no body" here, as on no other route: it is refused by the schema as any non-object is.
 */
export const emptyBodyIsEmptyObject: PreValidation = async (request) => {
  if (request.body === undefined) request.body = {};
};

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
