import { Type } from '@sinclair/typebox';
import { strict } from './parts.ts';

/** `{id}` of a message or a recovery. */
export const IdParamsSchema = Type.Object({ id: Type.String({ maxLength: 64 }) }, strict);
