import type { Unit } from '../../domain/operations/units.ts';

export const toUnit = (r: { id: string; name: string; created_at: number }): Unit => ({
  id: r.id,
  name: r.name,
  createdAt: Number(r.created_at),
});
