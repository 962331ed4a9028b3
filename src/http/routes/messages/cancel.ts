import type { OperationsService } from '../../../domain/operations/service.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { stateChangeResult } from './state-change.ts';

/** `POST /v1/messages/{id}/cancel`. */
export function registerCancelMessage(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/messages/:id/cancel',
    {
      schema: {
        tags: ['messages'],
        summary: 'Cancel a queued or scheduled message',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...MessageErrorResponses },
      },
    },
    async (request) =>
      stateChangeResult(
        await operations.cancelMessage(scopeOf(request), actorOf(request), request.params.id),
        request.params.id,
        'cancel',
      ),
  );
}
