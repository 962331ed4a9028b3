import type { OperationsService } from '../../../domain/operations/service.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { actorOf, scopeOf } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';
import { stateChangeResult } from './state-change.ts';

/** `POST /v1/messages/{id}/retry`. */
export function registerRetryMessage(app: TypedApp, operations: OperationsService): void {
  app.post(
    '/messages/:id/retry',
    {
      schema: {
        tags: ['messages'],
        summary: 'Send a failed (dead-lettered) message again',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...MessageErrorResponses },
      },
    },
    async (request) => {
      const change = await operations.retryMessage(
        scopeOf(request),
        actorOf(request),
        request.params.id,
      );
      return stateChangeResult(change, request.params.id, 'retry');
    },
  );
}
