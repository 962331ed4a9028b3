import { Type } from '@sinclair/typebox';

/** A registered endpoint for status webhooks (its secret is shown only when it is created). */
export const EndpointSchema = Type.Object({
  id: Type.String(),
  unit: Type.Union([Type.String(), Type.Null()], {
    description: "the unit whose events it receives; null: every unit's (made with an admin key)",
  }),
  url: Type.String(),
  events: Type.Array(Type.String()),
  created_at: Type.String(),
  previous_secret_expires_at: Type.Union([Type.String(), Type.Null()], {
    description:
      'After a rotation: until when the secret it replaced still signs every post, next to the current one; null when it no longer does',
  }),
});

/** `{id}` of an endpoint. */
export const EndpointIdParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) });
