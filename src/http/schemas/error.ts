import { Type } from '@sinclair/typebox';

/** The body of every error answer (src/http/errors.ts). */
export const ErrorBodySchema = Type.Object({
  code: Type.String({ description: 'One of the codes in docs/api-errors.md' }),
  message: Type.String(),
  details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  details_omitted: Type.Optional(
    Type.Integer({ description: 'Problems found but not listed: `details` lists at most 100.' }),
  ),
});

/**
 * An error answer, shared by every route: added to the app once (app.ts) and referred to by
 * routes as `ErrorSchema`, so the OpenAPI document holds it once, as `components.schemas.Error`.
 */
export const ErrorComponent = Type.Object(
  { error: ErrorBodySchema },
  { $id: 'Error', description: 'An error: `error.code` says which (docs/api-errors.md)' },
);

export const ErrorSchema = Type.Ref(ErrorComponent);

/** The error answers every `/v1/messages` route documents. */
export const MessageErrorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
};

/**
 * The error answers any `/v1` route may give besides its own, added to each route's schema by
 * routes/index.ts so that the OpenAPI document lists them: 400 (a query parameter it does not
 * take, or a bad value), 401 (no key, or an unknown or revoked one) and 503 (the database away)
 * everywhere; 404 on routes with an id in the path; 413 and 415 on routes that read a body.
 */
export function commonErrorResponses(
  method: string | string[],
  url: string,
): Record<number, typeof ErrorSchema> {
  const responses: Record<number, typeof ErrorSchema> = { 400: ErrorSchema, 401: ErrorSchema };
  if (url.includes(':')) responses[404] = ErrorSchema;
  if ([method].flat().some((m) => m === 'POST' || m === 'PUT')) {
    responses[413] = ErrorSchema;
    responses[415] = ErrorSchema;
  }
  responses[503] = ErrorSchema;
  return responses;
}

/** The answer of a route that answers `204 No Content`. */
export const NoContentSchema = Type.Null({ description: 'No content' });
