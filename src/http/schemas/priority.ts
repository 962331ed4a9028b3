import { Type } from '@sinclair/typebox';

/** domain/priority.ts PRIORITIES, as the API names them. */
export const PrioritySchema = Type.Union(
  [Type.Literal('high'), Type.Literal('normal'), Type.Literal('bulk')],
  {
    description:
      "which due mail is sent first: high (confirmations, password resets), normal, or bulk (claimed after the others, but always given a tenth of the worker's capacity)",
  },
);
