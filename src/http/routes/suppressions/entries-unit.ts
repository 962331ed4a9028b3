import type { FastifyRequest } from 'fastify';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { invalidField } from '../../errors.ts';
import { scopeOf } from '../../scope.ts';

/**
 * Whose entries a request lists or removes: a unit key's own unit's; for an admin key the unit
 * named by `unit`, or every unit's (undefined) without it. A unit key may name only its own unit;
 * any other is "no such unit" for it, as for the SendGrid event relay.
 */
export async function entriesUnit(
  request: FastifyRequest,
  operations: OperationsService | undefined,
  name: string | undefined,
): Promise<string | undefined> {
  const scope = scopeOf(request);
  const own = scope.kind === 'unit' ? scope.unitId : undefined;
  if (name === undefined) return own;
  const unit = await operations?.findUnit(name);
  if (!unit || (own !== undefined && unit.id !== own)) {
    throw invalidField('querystring.unit', `no unit is named "${name}" (see GET /v1/units)`);
  }
  return unit.id;
}

/** The names of the entries' units, for `presentSuppression`. */
export async function unitNamesOf(
  operations: OperationsService | undefined,
  entries: { unitId: string | null }[],
): Promise<Map<string, string>> {
  const ids = [...new Set(entries.flatMap((e) => (e.unitId ? [e.unitId] : [])))];
  if (!operations || ids.length === 0) return new Map();
  return operations.unitNames(ids);
}
