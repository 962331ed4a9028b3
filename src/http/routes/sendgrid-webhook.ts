import type { KeyObject } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { PROOF_OF_ACCEPTANCE as PROOF_ONLY_FROM_ACCEPTED } from '../../domain/recipient-state.ts';
import type { DeliveryEvent } from '../../domain/types.ts';
import {
  checkSignature,
  normaliseEvent,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
} from '../../providers/sendgrid/event-source.ts';
import type { SqlDeliveryEventStore } from '../../store/sql-delivery-event-store.ts';
import { ApiError } from '../errors.ts';

export interface SendGridWebhookOptions {
  events: SqlDeliveryEventStore;
  /** null only in explicitly enabled insecure mode. */
  publicKey: KeyObject | null;
  maxAgeMs: number;
  clock: () => number;
  /** Called after events were stored (metrics, wake-ups). */
  onIngested?: (result: { stored: number; duplicates: number }) => void;
  /**
   * Called with the messages that events proved the provider has: a send whose outcome was
   * unknown (timed out) and is waiting for this proof becomes `sent` without a second send.
   */
  confirmAccepted?: (messageIds: string[]) => Promise<unknown>;
}

const PROOF_OF_ACCEPTANCE = new Set(PROOF_ONLY_FROM_ACCEPTED);

/**
 * SendGrid posts a batch when it reaches 768 KB (or every 30 s), so 5 MiB leaves ample room. A
 * larger body is refused with 413 before it is read, and bounds the time one batch can hold the
 * process (parsing and storing 5 MiB takes well under a second, in slices; see below).
 */
export const WEBHOOK_BODY_LIMIT = 5 * 1024 * 1024;
/**
 * Events normalised, and stored, per slice. Between slices the route yields to the event loop, so
 * a large batch does not hold up other requests for more than one slice (tens of milliseconds).
 * Each slice is its own short transaction: events are stored under their provider event id, so
 * if a later slice fails and SendGrid posts the batch again, the stored ones are recognised as
 * duplicates and each event is still stored exactly once.
 */
export const INGEST_SLICE = 1_000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * `POST /webhooks/sendgrid`: SendGrid's Event Webhook. The signature covers the raw bytes, so
 * this route reads the body as bytes, checks the signature, and only then parses it. Nothing is
 * stored unless the signature (and its timestamp) is good. Events are stored first and their
 * effects derived in the same short transaction, so SendGrid gets its 2xx quickly.
 */
export async function registerSendGridWebhook(
  app: FastifyInstance,
  options: SendGridWebhookOptions,
) {
  const logRefusal = refusalLog(options.clock);
  await app.register(async (scope) => {
    scope.removeContentTypeParser(['application/json', 'text/plain']);
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT },
      (_r, body, done) => done(null, body),
    );
    scope.post(
      '/webhooks/sendgrid',
      { schema: { hide: true }, bodyLimit: WEBHOOK_BODY_LIMIT },
      async (request, reply) => {
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const now = options.clock();
        if (options.publicKey) {
          const header = (name: string) => {
            const value = request.headers[name];
            return Array.isArray(value) ? value[0] : value;
          };
          const check = checkSignature(
            options.publicKey,
            header(SIGNATURE_HEADER),
            header(TIMESTAMP_HEADER),
            body,
            now,
            options.maxAgeMs,
          );
          if (!check.ok) {
            logRefusal(request.log, check.reason);
            throw new ApiError('invalid_signature', check.reason);
          }
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new ApiError('malformed_json', 'the body is not JSON');
        }
        if (!Array.isArray(parsed)) {
          throw new ApiError('invalid_request', 'the body must be a JSON array of events');
        }
        // Events that cannot be stored (no event name or email, nested too deep, unusable ids)
        // are left out and counted as rejected; the rest of the batch is kept. Refusing the whole
        // batch would make SendGrid retry it for a day and lose its good events in the end.
        const valid: DeliveryEvent[] = [];
        for (let start = 0; start < parsed.length; start += INGEST_SLICE) {
          if (start > 0) await nextTurn();
          for (const raw of parsed.slice(start, start + INGEST_SLICE)) {
            const event = normaliseEvent(raw, now);
            if (event) valid.push(event);
          }
        }
        const result = { received: 0, stored: 0, duplicates: 0, matched: 0 };
        for (let start = 0; start < valid.length; start += INGEST_SLICE) {
          await nextTurn();
          const part = await options.events.ingest(valid.slice(start, start + INGEST_SLICE), now);
          result.received += part.received;
          result.stored += part.stored;
          result.duplicates += part.duplicates;
          result.matched += part.matched;
        }
        options.onIngested?.(result);
        const accepted = new Set<string>();
        for (const event of valid) {
          if (event.messageId && PROOF_OF_ACCEPTANCE.has(event.event))
            accepted.add(event.messageId);
        }
        if (accepted.size > 0) await options.confirmAccepted?.([...accepted]);
        void reply.status(200);
        return { ...result, rejected: parsed.length - valid.length };
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
function refusalLog(clock: () => number) {
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
      `POST /webhooks/sendgrid refused: 403 invalid_signature: ${reason}` +
        (unlogged > 0 ? ` (and ${unlogged} more refused since the last such line)` : ''),
    );
    loggedAt = now;
    unlogged = 0;
  };
}
