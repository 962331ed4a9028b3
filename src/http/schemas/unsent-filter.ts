import { Type } from '@sinclair/typebox';
import { MessageQueryFields, ReasonField, StatusField } from './message-query.ts';

/** The query-string filters of `GET /v1/unsent` and `GET /v1/unsent/summary`. */
export const UnsentFilterFields = {
  ...StatusField,
  ...MessageQueryFields,
  ...ReasonField,
  recipient: Type.Optional(
    Type.String({ maxLength: 320, description: 'an address, or @domain for a whole domain' }),
  ),
  category: Type.Optional(Type.String({ maxLength: 255 })),
  metadata: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 10 })], {
      description: 'key=value; repeat to require several',
    }),
  ),
  created_after: Type.Optional(Type.String({ maxLength: 40 })),
  created_before: Type.Optional(Type.String({ maxLength: 40 })),
};
