import { Type } from '@sinclair/typebox';

/** A business unit. */
export const UnitSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
});
