import type { OperationsService } from '../../../domain/operations/service.ts';
import type { TypedApp } from '../../typed-app.ts';
import { registerCreateUnit } from './create.ts';
import { registerListUnits } from './list.ts';

/** `GET/POST /v1/units`: business units, for admin keys. */
export function registerUnitRoutes(app: TypedApp, operations: OperationsService): void {
  registerListUnits(app, operations);
  registerCreateUnit(app, operations);
}
