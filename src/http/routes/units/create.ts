import { Type } from '@sinclair/typebox';
import type { OperationsService } from '../../../domain/operations/service.ts';
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

/** `POST /v1/units`. */
export function registerCreateUnit(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/units',
    {
      schema: {
        tags: ['units'],
        summary: 'Create a unit (admin keys only); 409 already_exists if the name is taken',
        body: CreateBodySchema,
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
      return presentUnit(unit);
    },
  );
}
