import { Type } from '@sinclair/typebox';
import { unsetSettings } from '../../../domain/alerts/service.ts';
import type { OperationsService } from '../../../domain/operations/service.ts';
import { setLocation, withLocation } from '../../location.ts';
import { presentUnit } from '../../present/unit.ts';
import { ErrorSchema } from '../../schemas/error.ts';
import { UnitSchema } from '../../schemas/unit.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

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
 * yet), and `Location` there.
 */
export function registerCreateUnit(app: TypedApp, operations: OperationsService): void {
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
          201: withLocation(UnitSchema, '/v1/units/{id}'),
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
      setLocation(reply, `/v1/units/${unit.id}`);
      return presentUnit(unit, unsetSettings(unit));
    },
  );
}
