import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../domain/operations/service.ts';
import type { Unit } from '../../domain/operations/units.ts';
import { ErrorSchema } from '../schemas.ts';
import { actorOf, scopeOf } from '../scope.ts';
import type { TypedApp } from '../typed-app.ts';

const UnitSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
});

const present = (u: Unit) => ({
  id: u.id,
  name: u.name,
  created_at: new Date(u.createdAt).toISOString(),
});

/** `GET/POST /v1/units`: business units, for admin keys. */
export function registerUnitRoutes(app: TypedApp, operations: OperationsService): void {
  app.get(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Business units, by name (admin keys only)',
        response: { 200: Type.Object({ data: Type.Array(UnitSchema) }), 403: ErrorSchema },
      },
    },
    async (request) => ({ data: (await operations.listUnits(scopeOf(request))).map(present) }),
  );

  app.post(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Create a unit (admin keys only); 409 already_exists if the name is taken',
        body: Type.Object(
          {
            name: Type.String({
              maxLength: 63,
              description: 'lower-case letters, digits, - and _, e.g. hotel',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: UnitSchema, 400: ErrorSchema, 403: ErrorSchema, 409: ErrorSchema },
      },
    },
    async (request, reply) => {
      const unit = await operations.createUnit(
        scopeOf(request),
        actorOf(request),
        request.body.name,
      );
      void reply.code(201);
      return present(unit);
    },
  );
}
