import { MAX_EVENT_DEPTH, nestedDeeperThan } from '../domain/delivery-event-limits.ts';
import type { DeliveryEventStore, IngestResult } from '../domain/ports/delivery-event-store.ts';
import type { EventSource, SignedRequest } from '../domain/ports/event-source.ts';
import type { Telemetry } from '../domain/ports/telemetry.ts';
import type { DeliveryEvent } from '../domain/types.ts';

/**
 * Events normalised, and stored, per slice. Between slices the flow yields to the event loop, so
 * a large batch does not hold up other requests for more than one slice (tens of milliseconds).
 * Each slice is its own short transaction: events are stored under their provider event id, so
 * if a later slice fails and the provider posts the batch again, the stored ones are recognised
 * as duplicates and each event is still stored exactly once.
 */
export const INGEST_SLICE = 1_000;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export type IngestOutcome =
  | { kind: 'refused'; reason: string }
  | { kind: 'malformed'; reason: string }
  | {
      kind: 'ingested';
      result: IngestResult & { rejected: number };
      /**
       * The index of the first event nested deeper than MAX_EVENT_DEPTH, if any: no provider's
       * event does that, so the batch is answered 400 (after its good events were stored).
       */
      tooDeepAt: number | null;
    };

/**
 * One batch of a provider's delivery events, whatever the provider:
 *
 * 1. **verify** the request is the provider's (its signature), before reading anything;
 * 2. **parse** the body as a JSON array and **normalise** each event (those that cannot be
 *    stored are left out and counted as `rejected`: refusing the whole batch would make the
 *    provider retry it for a day and lose its good events in the end; an event nested deeper
 *    than any provider's is a broken or hostile sender's, and the caller answers it with an
 *    error, but only after the good events are stored);
 * 3. **store** them: in one transaction per slice the store de-duplicates, matches each event to
 *    its message, folds it into the recipient's status, adds suppressions, confirms sends whose
 *    outcome was unknown, and queues the status webhooks these changes emit.
 */
export async function ingestEvents(
  source: EventSource,
  request: SignedRequest,
  store: DeliveryEventStore,
  now: number,
  telemetry?: Telemetry,
): Promise<IngestOutcome> {
  const check = source.verify(request, now);
  if (!check.ok) return { kind: 'refused', reason: check.reason };
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body.toString('utf8'));
  } catch {
    return { kind: 'malformed', reason: 'the body is not JSON' };
  }
  if (!Array.isArray(parsed)) {
    return { kind: 'malformed', reason: 'the body must be a JSON array of events' };
  }
  const valid: DeliveryEvent[] = [];
  let tooDeepAt: number | null = null;
  for (let start = 0; start < parsed.length; start += INGEST_SLICE) {
    if (start > 0) await nextTurn();
    for (let i = start; i < Math.min(start + INGEST_SLICE, parsed.length); i++) {
      const raw: unknown = parsed[i];
      const event = source.normalise(raw, now);
      if (event) valid.push(event);
      else if (tooDeepAt === null && nestedDeeperThan(raw, MAX_EVENT_DEPTH)) tooDeepAt = i;
    }
  }
  const result = { received: 0, stored: 0, duplicates: 0, matched: 0 };
  for (let start = 0; start < valid.length; start += INGEST_SLICE) {
    await nextTurn();
    const part = await store.ingest(valid.slice(start, start + INGEST_SLICE), now);
    result.received += part.received;
    result.stored += part.stored;
    result.duplicates += part.duplicates;
    result.matched += part.matched;
  }
  if (telemetry) {
    const byType = new Map<string, number>();
    for (const e of valid) byType.set(e.event, (byType.get(e.event) ?? 0) + 1);
    for (const [type, n] of byType) telemetry.eventsIngested(type, n);
  }
  return {
    kind: 'ingested',
    result: { ...result, rejected: parsed.length - valid.length },
    tooDeepAt,
  };
}
