import { Type } from '@sinclair/typebox';
import { PRIORITIES, type Priority } from '../../domain/priority.ts';

/**
 * domain/priority.ts PRIORITIES, as the API names them: an enum, so a wrong value gets one error
 * line naming the three (validation-errors.ts).
 */
export const prioritySchema = (description: string) =>
  Type.Unsafe<Priority>({ type: 'string', enum: [...PRIORITIES], description });

export const PrioritySchema = prioritySchema(
  "which due mail is sent first: high (confirmations, password resets), normal, or bulk (claimed after the others, but always given a tenth of the worker's capacity)",
);
