import type { FastifyError, FastifyRequest } from 'fastify';
import { ApiError, type ErrorDetail } from './errors.ts';
import { toApiError } from './map-errors.ts';

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

type Schema = { type?: unknown; anyOf?: Schema[]; properties?: Record<string, Schema> };

/**
 * The query, checked before the body on every route. First what the schema would report badly or
 * let through, alike on every route:
 *
 * - An empty value (`?email=`, `?status=`, `?unit=`) is refused, not read as "no filter" (a
 *   client whose variable was empty would act on everything) nor as a filter matching nothing.
 * - A parameter given twice (`?status=sent&status=failed`) is refused unless it takes several
 *   (`metadata`), instead of "must be string" or "must be one of …" about a value it was.
 *
 * When there is such a problem, parameters the route does not take are named in the same answer;
 * otherwise the schema names them (with any other problem).
 */
export const checkQueryValues: PreValidation = async (request) => {
  const query = request.query as Record<string, unknown> | undefined;
  if (!query) return;
  const schema = request.routeOptions.schema?.querystring as Schema | undefined;
  const known = schema?.properties ?? {};
  const details: ErrorDetail[] = [];
  let refused = false;
  for (const [name, value] of Object.entries(query)) {
    const field = `querystring.${name}`;
    const parameter = Object.hasOwn(known, name) ? known[name] : undefined;
    if (parameter === undefined) {
      details.push({ field, message: 'is not a known field' });
    } else if (Array.isArray(value) && !takesSeveral(parameter)) {
      details.push({ field, message: `must be given once, not ${value.length} times` });
      refused = true;
    } else if (([] as unknown[]).concat(value).some((v) => v === '')) {
      details.push({
        field,
        message: 'must not be empty: leave the parameter out instead',
      });
      refused = true;
    }
  }
  if (refused) throw new ApiError('invalid_request', 'the query is invalid; see details', details);
  // The rest of the query's schema, here rather than after the body (Fastify checks the body
  // first): a query mistake is named whatever the body holds, as the ones above are.
  const validate = request.getValidationFunction('querystring');
  if (validate && !validate(query)) {
    throw toApiError(
      Object.assign(new Error('the query is invalid'), {
        validation: validate.errors ?? [],
        validationContext: 'querystring',
      }) as FastifyError,
    );
  }
};

function takesSeveral(schema: Schema): boolean {
  return schema.type === 'array' || (schema.anyOf ?? []).some((s) => s.type === 'array');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
