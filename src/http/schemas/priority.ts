import { Type } from '@sinclair/typebox';
import { PRIORITIES, type Priority } from '../../domain/priority.ts';

/** domain/priority.ts PRIORITIES, as the API names them. */
export const PrioritySchema = Type.Unsafe<Priority>({
  type: 'string',
  enum: [...PRIORITIES],
  description:
    "which due mail is sent first: high (confirmations, password resets), normal, or bulk (claimed after the others, but always given a tenth of the worker's capacity)",
});
