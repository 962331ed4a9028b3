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

export const ErrorSchema = Type.Object({ error: ErrorBodySchema });

/** The error answers every `/v1/messages` route documents. */
export const MessageErrorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  413: ErrorSchema,
};
