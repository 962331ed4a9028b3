import { Type } from '@sinclair/typebox';
import { type AlertsService, unsetSettings } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { setLocation, withLocation } from '../../location.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { presentUnitWithAlerts, UnitWithAlertsSchema } from './settings-schema.ts';

const CreateBodySchema = Type.Object(
  {
    name: Type.String({
      maxLength: 63,
      description: 'lower-case letters, digits, - and _, e.g. hotel',
    }),
  },
  { additionalProperties: false },
);

/**
 * `POST /v1/units`: the unit as `GET /v1/units/{id}` shows it (with the settings it has not set
 * yet) when units' settings are served, and `Location` there.
 */
export function registerCreateUnit(
  app: TypedApp,
  operations: OperationsService,
  alerts?: AlertsService,
): void {
  app.post(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Create a unit (admin keys only); 409 already_exists if the name is taken',
        description:
          'Answers 201 with the unit as `GET /v1/units/{id}` shows it, and `Location: /v1/units/{id}`.',
        body: CreateBodySchema,
        response: {
          201: alerts ? withLocation(UnitWithAlertsSchema, '/v1/units/{id}') : UnitSchema,
          400: ErrorSchema,
          403: ErrorSchema,
          409: ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const unit = await operations.createUnit(
        scopeOf(request),
        actorOf(request),
        request.body.name,
      );
      void reply.code(201);
      if (!alerts) return presentUnit(unit);
      setLocation(reply, `/v1/units/${unit.id}`);
      return presentUnitWithAlerts(unit, unsetSettings(unit));
    },
  );
}
