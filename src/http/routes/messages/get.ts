import { EVENTS_SHOWN_PER_RECIPIENT } from '../../../domain/delivery-event-limits.ts';
import type { ApiDeps } from '../../deps.ts';
import { ApiError } from '../../errors.ts';
import { presentMessage } from '../../present/message.ts';
import { currentHold } from '../../present/provider.ts';
import { MessageErrorResponses } from '../../schemas/error.ts';
import { IdParamsSchema } from '../../schemas/id-params.ts';
import { MessageSchema } from '../../schemas/message.ts';
import { scopeUnitId } from '../../scope.ts';
import type { TypedApp } from '../../typed-app.ts';

/**
 * `GET /v1/messages/{id}`: a message with every attempt, each recipient's newest delivery events
 * and those matching none of its recipients (EVENTS_SHOWN_PER_RECIPIENT of each; events.ts pages
 * through all of them).
 */
export function registerGetMessage(app: TypedApp, deps: ApiDeps): void {
  const clock = deps.clock ?? Date.now;
  app.get(
    '/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'A message, its recipients and every attempt',
        params: IdParamsSchema,
        response: { 200: MessageSchema, ...MessageErrorResponses },
      },
    },
    async (request) => {
      // Another unit's message is not found: a unit key cannot tell it exists.
      const record = await deps.messages.get(request.params.id, scopeUnitId(request));
      if (!record) throw new ApiError('not_found', `no message with id ${request.params.id}`);
      return presentMessage(
        record,
        true,
        await deps.messageEvents?.recentEvents(record.id, EVENTS_SHOWN_PER_RECIPIENT),
        await currentHold(deps.providers, clock()),
      );
    },
  );
}
