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
});

/** `{id}` of an endpoint. */
export const EndpointIdParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) });
