import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { MAX_EVENT_DEPTH } from '../../domain/delivery-event-limits.ts';
import type { DeliveryEventStore } from '../../domain/ports/delivery-event-store.ts';
import type { EventSource } from '../../domain/ports/event-source.ts';
import type { Telemetry } from '../../domain/ports/telemetry.ts';
import { ingestEvents } from '../../tracking/ingest-events.ts';
import { ApiError } from '../errors.ts';

export interface EventWebhookOptions {
  /** The provider whose delivery events this endpoint takes (`POST /webhooks/{name}`). */
  source: EventSource;
  events: DeliveryEventStore;
  clock: () => number;
  /**
   * Counts the valid events of each accepted request, by type (Prometheus metrics): duplicates
   * and re-posted batches too, as received.
   */
  telemetry?: Telemetry;
}

/**
 * `POST /webhooks/{provider}`: a provider's delivery events (SendGrid's Event Webhook). The
 * signature covers the raw bytes, so this route reads the body as bytes and hands it to the
 * ingest flow (tracking/ingest-events.ts), which checks the signature before parsing anything.
 * Nothing is stored unless the signature (and its timestamp) is good.
 */
export async function registerEventWebhook(app: FastifyInstance, options: EventWebhookOptions) {
  const { source } = options;
  const path = `/webhooks/${source.name}`;
  const logRefusal = refusalLog(path, options.clock);
  await app.register(async (scope) => {
    // The body is taken as the bytes it is, whatever its Content-Type says: the signature covers
    // the bytes, not the header, and SendGrid retries any answer but 2xx for a day and then drops
    // the batch. Fastify refuses an empty `Content-Type:` (415) before any parser runs, so an
    // empty one is read as none, as a missing one already is.
    scope.addHook('onRequest', async (request) => {
      if (request.headers['content-type']?.trim() === '') delete request.headers['content-type'];
    });
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: source.bodyLimit },
      (_r, body, done) => done(null, body),
    );
    scope.post(
      path,
      { schema: { hide: true }, bodyLimit: source.bodyLimit },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const header = (name: string) => {
          const value = request.headers[name.toLowerCase()];
          return Array.isArray(value) ? value[0] : value;
        };
        const outcome = await ingestEvents(
          source,
          { header, body },
          options.events,
          options.clock(),
          options.telemetry,
        );
        if (outcome.kind === 'refused') {
          logRefusal(request.log, outcome.reason);
          throw new ApiError('invalid_signature', outcome.reason);
        }
        if (outcome.kind === 'malformed') {
          throw new ApiError(
            outcome.reason === 'the body is not JSON' ? 'malformed_json' : 'invalid_request',
            outcome.reason,
          );
        }
        if (outcome.tooDeepAt !== null) {
          // Nesting like this is no SendGrid event's: the sender is told, with 400, and nothing
          // good is lost: the other events are stored (and are duplicates if it posts again).
          const { stored, duplicates, rejected } = outcome.result;
          throw new ApiError(
            'invalid_request',
            `event ${outcome.tooDeepAt} nests objects or arrays deeper than ${MAX_EVENT_DEPTH} levels and was not stored; the batch's storable events were (stored ${stored}, duplicates ${duplicates}, rejected ${rejected})`,
          );
        }
        void reply.status(200);
        return outcome.result;
      },
    );
  });
}

/** Refused requests are logged at most once a minute: a flood of them must not flood the log. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/**
 * Warns about refused Event Webhook requests (a wrong public key, a clock far off, or someone
 * else posting), which otherwise only SendGrid would see; repeats are counted, not logged.
 */
function refusalLog(path: string, clock: () => number) {
  let loggedAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  return (log: FastifyBaseLogger, reason: string) => {
    const now = clock();
    if (now - loggedAt < REFUSAL_LOG_INTERVAL_MS) {
      unlogged++;
      return;
    }
    log.warn(
      { reason, refusedSinceLastLine: unlogged },
      `POST ${path} refused: 403 invalid_signature: ${reason}` +
        (unlogged > 0 ? ` (and ${unlogged} more refused since the last such line)` : ''),
    );
    loggedAt = now;
    unlogged = 0;
  };
}
