import type { Unit } from '../../domain/operations/units.ts';

export const presentUnit = (u: Unit) => ({
  id: u.id,
  name: u.name,
  created_at: new Date(u.createdAt).toISOString(),
});
