import type { FastifyRequest } from 'fastify';
import type { OperationsService } from '../../domain/operations/service.ts';
import { invalidField } from '../errors.ts';
import { scopeOf } from '../scope.ts';

/**
 * The unit whose SendGrid event relay a request is about: the key's own unit, or for an admin key
 * the unit it names. A unit key may name only its own unit; any other is "no such unit" for it.
 * `field` is where the name came: `unit` in a body, `querystring.unit` in the query.
 */
export async function relayUnit(
  request: FastifyRequest,
  operations: OperationsService,
  name: string | undefined,
  field: 'unit' | 'querystring.unit',
): Promise<{ id: string; name: string }> {
  const scope = scopeOf(request);
  const ownId = request.apiKey?.unitId ?? '';
  if (name === undefined) {
    const names = await operations.unitNames([ownId]);
    return { id: ownId, name: names.get(ownId) ?? ownId };
  }
  const unit = await operations.findUnit(name);
  if (!unit || (scope.kind === 'unit' && unit.id !== scope.unitId)) {
    throw invalidField(field, `no unit is named "${name}" (see GET /v1/units)`);
  }
  return { id: unit.id, name: unit.name };
}
