import { Type } from '@sinclair/typebox';

/**
 * Building blocks of the public API's JSON schemas. Fastify validates requests with the schemas
 * and @fastify/swagger turns them into the OpenAPI document at /openapi.json, so the document
 * cannot drift from the code. Unknown fields are rejected everywhere (`additionalProperties:
 * false`).
 */
export const strict = { additionalProperties: false } as const;

/** The query of a route that takes no parameters: any parameter is refused as unknown. */
export const NoQuerySchema = Type.Object({}, strict);

/**
 * Keys of a map may be any string. `Type.Record(Type.String(), …)` would make the key pattern
 * `^(.*)$`, which no key with \n, \r, U+2028 or U+2029 matches (`.` stops at line terminators):
 * requests skipped such keys' values (a number got through to a 500) and the response serializer
 * silently dropped such keys from every answer. Key rules live in src/domain/validate-message.ts.
 */
export const AnyKey = Type.String({ pattern: '^[\\s\\S]*$' });

export const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) =>
  Type.Union([t, Type.Null()]);

/** Counts by one key, largest first: `[{ <key>: …, count: … }]`. */
export const CountList = (key: string) =>
  Type.Array(
    Type.Object({ [key]: Type.Union([Type.String(), Type.Null()]), count: Type.Integer() }),
  );
