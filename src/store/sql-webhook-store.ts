import type { Kysely } from 'kysely';
import { newId } from '../domain/ids.ts';
import type {
  DueWebhookDelivery,
  StatusWebhookStore,
  WebhookDelivery,
  WebhookEndpoint,
} from '../domain/ports/status-webhook-store.ts';
import type { WebhookEvent } from '../domain/status-webhooks.ts';
import type { DatabaseHandle } from './engine/database.ts';
import { readJson } from './engine/read-json.ts';
import type { Database, WebhookDeliveryTable } from './schema.ts';
import { unitsOfMessages } from './units-of-messages.ts';
import { chunks } from './write/insert-rows.ts';

/**
 * Active endpoints per database, read at most once a second: completions run thousands of
 * times a second and must not pay a query each when nobody (or the same endpoints) listens.
 */
const ENDPOINT_CACHE_MS = 1_000;
const endpointCache = new WeakMap<object, { at: number; endpoints: WebhookEndpoint[] }>();

function forgetEndpoints(handle: DatabaseHandle): void {
  endpointCache.delete(handle);
}

async function activeEndpoints(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  now: number,
): Promise<WebhookEndpoint[]> {
  const cached = endpointCache.get(handle);
  if (cached && Math.abs(now - cached.at) < ENDPOINT_CACHE_MS) return cached.endpoints;
  const rows = await trx
    .selectFrom('webhook_endpoints')
    .selectAll()
    .where('disabled_at', 'is', null)
    .execute();
  const endpoints = rows.map(toEndpoint);
  endpointCache.set(handle, { at: now, endpoints });
  return endpoints;
}

function toEndpoint(r: Database['webhook_endpoints']): WebhookEndpoint {
  // A row that does not hold a JSON array (edited by hand) subscribes to nothing, rather than
  // failing every transaction that queues webhooks.
  const events = readJson(r.event_types);
  return {
    id: r.id,
    url: r.url,
    events: Array.isArray(events) ? events : [],
    secret: r.secret,
    createdAt: r.created_at,
    unitId: r.unit_id,
    allUnits: r.all_units === 1,
  };
}

/**
 * Adds one delivery per subscribed endpoint for each status change, in the caller's transaction
 * (an outbox: the change and its webhooks commit together). Does nothing when no active
 * endpoint wants any of the events.
 */
export async function enqueueWebhookEvents(
  trx: Kysely<Database>,
  handle: DatabaseHandle,
  events: WebhookEvent[],
  now: number,
): Promise<void> {
  if (events.length === 0) return;
  const endpoints = await activeEndpoints(trx, handle, now);
  if (endpoints.length === 0) return;
  const units = await unitsOfMessages(
    trx,
    events.map((e) => e.messageId),
  );
  // An endpoint hears its own unit's messages only, unless it was made for every unit.
  const wanted = events.flatMap((event) =>
    endpoints
      .filter(
        (e) =>
          e.events.includes(event.type) &&
          (e.allUnits || e.unitId === units.get(event.messageId)?.id),
      )
      .map((e) => ({ event, endpoint: e })),
  );
  if (wanted.length === 0) return;
  const metadata = new Map<string, Record<string, string>>();
  for (const part of chunks([...new Set(wanted.map((w) => w.event.messageId))])) {
    const rows = await trx
      .selectFrom('message_metadata')
      .select(['message_id', 'key', 'value'])
      .where('message_id', 'in', part)
      .execute();
    for (const r of rows) {
      const entry = metadata.get(r.message_id) ?? {};
      entry[r.key] = r.value;
      metadata.set(r.message_id, entry);
    }
  }
  const createdAt = new Date(now).toISOString();
  const rows: WebhookDeliveryTable[] = wanted.map(({ event, endpoint }) => {
    const id = newId('whd');
    const payload = {
      id,
      type: event.type,
      created_at: createdAt,
      data: {
        message_id: event.messageId,
        unit: units.get(event.messageId)?.name ?? null,
        status: event.status,
        ...(event.recipient ? { recipient: event.recipient } : {}),
        metadata: metadata.get(event.messageId) ?? {},
      },
    };
    return {
      id,
      endpoint_id: endpoint.id,
      event_type: event.type,
      payload: JSON.stringify(payload),
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      last_status: null,
      last_error: null,
      created_at: now,
      retry_from: now,
      delivered_at: null,
    };
  });
  await handle.dialect.insertRows(trx, 'webhook_deliveries', rows);
}

type ClaimedRow = Pick<
  WebhookDeliveryTable,
  'id' | 'endpoint_id' | 'payload' | 'attempts' | 'retry_from'
>;

/** Endpoints (for the API) and the delivery outbox (for the dispatcher). */
export class SqlWebhookStore implements StatusWebhookStore {
  constructor(private readonly handle: DatabaseHandle) {}

  async create(input: {
    url: string;
    events: string[];
    secret: string;
    now: number;
    unitId: string;
    allUnits: boolean;
  }) {
    const row = {
      id: newId('whk'),
      url: input.url,
      event_types: JSON.stringify(input.events),
      secret: input.secret,
      created_at: input.now,
      disabled_at: null,
      unit_id: input.unitId,
      all_units: input.allUnits ? 1 : 0,
    };
    await this.handle.writeTransaction((trx) =>
      trx.insertInto('webhook_endpoints').values(row).execute(),
    );
    forgetEndpoints(this.handle);
    return toEndpoint(row);
  }

  /** With `unitId`, only that unit's endpoints (another unit's do not exist for its keys). */
  async list(unitId?: string): Promise<WebhookEndpoint[]> {
    let query = this.handle.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('disabled_at', 'is', null);
    if (unitId !== undefined)
      query = query.where('unit_id', '=', unitId).where('all_units', '=', 0);
    const rows = await query.orderBy('id', 'desc').execute();
    return rows.map(toEndpoint);
  }

  async find(id: string, unitId?: string): Promise<WebhookEndpoint | null> {
    let query = this.handle.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('disabled_at', 'is', null);
    if (unitId !== undefined)
      query = query.where('unit_id', '=', unitId).where('all_units', '=', 0);
    const row = await query.executeTakeFirst();
    return row ? toEndpoint(row) : null;
  }

  /** Stops deliveries to the endpoint; its log stays readable until retention removes it. */
  async disable(id: string, now: number, unitId?: string): Promise<boolean> {
    const result = await this.handle.writeTransaction(async (trx) => {
      let update = trx
        .updateTable('webhook_endpoints')
        .set({ disabled_at: now })
        .where('id', '=', id)
        .where('disabled_at', 'is', null);
      if (unitId !== undefined)
        update = update.where('unit_id', '=', unitId).where('all_units', '=', 0);
      const updated = await update.executeTakeFirst();
      if (Number(updated.numUpdatedRows) > 0) {
        await trx
          .updateTable('webhook_deliveries')
          .set({ status: 'failed', next_attempt_at: null, last_error: 'endpoint deleted' })
          .where('endpoint_id', '=', id)
          .where('status', '=', 'pending')
          .execute();
      }
      return Number(updated.numUpdatedRows) > 0;
    });
    forgetEndpoints(this.handle);
    return result;
  }

  /** The endpoint's delivery log, newest first. */
  async deliveries(endpointId: string, limit: number): Promise<WebhookDelivery[]> {
    const rows = await this.handle.db
      .selectFrom('webhook_deliveries')
      .select([
        'id',
        'endpoint_id',
        'event_type',
        'status',
        'attempts',
        'next_attempt_at',
        'last_status',
        'last_error',
        'created_at',
        'delivered_at',
      ])
      .where('endpoint_id', '=', endpointId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      endpointId: r.endpoint_id,
      eventType: r.event_type,
      status: r.status,
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      lastStatus: r.last_status,
      lastError: r.last_error,
      createdAt: r.created_at,
      deliveredAt: r.delivered_at,
    }));
  }

  /**
   * Leases due deliveries for a dispatcher's free slots until `now + leaseMs` (by moving
   * `next_attempt_at`), so a dispatcher that dies mid-post leaves them due again. The slots are
   * shared out endpoint by endpoint, oldest due first, one each per round, never more than
   * `perEndpoint` minus what the dispatcher already posts to that endpoint (`busy`): an endpoint
   * with a backlog or a slow receiver cannot take the slots that other endpoints' deliveries
   * need. Endpoints deleted meanwhile are included, so their leftovers are closed. PostgreSQL:
   * SKIP LOCKED lets several dispatchers claim side by side.
   */
  claimDue(request: {
    slots: number;
    perEndpoint: number;
    busy: ReadonlyMap<string, number>;
    leaseMs: number;
    now: number;
  }): Promise<DueWebhookDelivery[]> {
    const { slots, perEndpoint, busy, leaseMs, now } = request;
    const full = [...busy].filter(([, n]) => n >= perEndpoint).map(([id]) => id);
    return this.handle.writeTransaction(async (trx) => {
      // One index probe per endpoint (webhook_deliveries_endpoint_due), however long the
      // backlog or the delivered history.
      let waiting = trx.selectFrom('webhook_endpoints as e').select((eb) => [
        'e.id',
        eb
          .selectFrom('webhook_deliveries as d')
          .select((d) => d.fn.min('d.next_attempt_at').as('oldest'))
          .whereRef('d.endpoint_id', '=', 'e.id')
          .where('d.status', '=', 'pending')
          .where('d.next_attempt_at', '<=', now)
          .as('oldest'),
      ]);
      if (full.length > 0) waiting = waiting.where('e.id', 'not in', full);
      const endpoints = await trx
        .selectFrom(waiting.as('w'))
        .select(['w.id', 'w.oldest'])
        .where('w.oldest', 'is not', null)
        .orderBy('w.oldest')
        .orderBy('w.id')
        // At most one endpoint per slot can get a share.
        .limit(slots)
        .execute();
      const shares = shareSlots(
        endpoints.map((e) => ({ id: e.id, room: perEndpoint - (busy.get(e.id) ?? 0) })),
        slots,
      );
      if (shares.length === 0) return [];
      const claimed: ClaimedRow[] = [];
      // SQLite allows at most 500 terms in one compound SELECT.
      for (const part of chunks(shares, 100)) {
        const arms = part.map(([endpointId, n]) => {
          const arm = this.handle.dialect.skipLocked(
            trx
              .selectFrom('webhook_deliveries')
              .select('id')
              .where('endpoint_id', '=', endpointId)
              .where('status', '=', 'pending')
              .where('next_attempt_at', '<=', now)
              .orderBy('next_attempt_at')
              .limit(n),
          );
          return trx.selectFrom(arm.as('arm')).select('arm.id');
        });
        const [first, ...rest] = arms;
        if (!first) continue;
        const due = rest.reduce((union, arm) => union.unionAll(arm), first);
        claimed.push(
          ...(await trx
            .updateTable('webhook_deliveries')
            .set({ next_attempt_at: now + leaseMs })
            .where('id', 'in', due)
            .returning(['id', 'endpoint_id', 'payload', 'attempts', 'retry_from'])
            .execute()),
        );
      }
      if (claimed.length === 0) return [];
      const active = await trx
        .selectFrom('webhook_endpoints')
        .select(['id', 'url', 'secret'])
        .where('id', 'in', [...new Set(claimed.map((c) => c.endpoint_id))])
        .where('disabled_at', 'is', null)
        .execute();
      const byId = new Map(active.map((e) => [e.id, e]));
      return claimed.map((c) => ({
        id: c.id,
        endpointId: c.endpoint_id,
        payload: c.payload,
        attempts: c.attempts,
        retryFrom: c.retry_from,
        url: byId.get(c.endpoint_id)?.url ?? null,
        secret: byId.get(c.endpoint_id)?.secret ?? null,
      }));
    });
  }

  /**
   * Sends failed deliveries of an endpoint again (those created at or after `since`, if given):
   * for when the application was down longer than the retry window. Each gets a fresh window
   * and backoff; the log keeps its last error until the next attempt. Returns how many.
   */
  async redeliver(endpointId: string, since: number | null, now: number): Promise<number> {
    const result = await this.handle.writeTransaction((trx) => {
      let update = trx
        .updateTable('webhook_deliveries')
        .set({ status: 'pending', attempts: 0, next_attempt_at: now, retry_from: now })
        .where('endpoint_id', '=', endpointId)
        .where('status', '=', 'failed');
      if (since !== null) update = update.where('created_at', '>=', since);
      return update.executeTakeFirst();
    });
    return Number(result.numUpdatedRows);
  }

  /** Records one attempt: `delivered`, `failed` for good, or `pending` again at `nextAttemptAt`. */
  async recordAttempt(
    id: string,
    result: {
      status: 'delivered' | 'failed' | 'pending';
      httpStatus: number | null;
      error: string | null;
      nextAttemptAt: number | null;
      now: number;
    },
  ): Promise<void> {
    await this.handle.writeTransaction((trx) =>
      trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          status: result.status,
          attempts: eb('attempts', '+', 1),
          next_attempt_at: result.nextAttemptAt,
          last_status: result.httpStatus,
          last_error: result.error,
          delivered_at: result.status === 'delivered' ? result.now : null,
        }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute(),
    );
  }
}

/**
 * Shares `slots` among endpoints in rounds, one slot each per round in the given order, each up
 * to its `room`. Returns [endpoint id, slots] for those that got any.
 */
export function shareSlots(
  endpoints: { id: string; room: number }[],
  slots: number,
): [string, number][] {
  const given = new Map<string, number>();
  let left = slots;
  for (let round = 1; left > 0; round++) {
    let gaveAny = false;
    for (const { id, room } of endpoints) {
      if (left === 0) break;
      if (room < round) continue;
      given.set(id, round);
      left--;
      gaveAny = true;
    }
    if (!gaveAny) break;
  }
  return [...given];
}
