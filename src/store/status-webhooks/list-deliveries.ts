import type { ExpressionBuilder } from 'kysely';
import type {
  WebhookDelivery,
  WebhookDeliveryQuery,
} from '../../domain/ports/status-webhook-store.ts';
import type { DatabaseHandle } from '../engine/handle.ts';
import { readJson } from '../engine/read-json.ts';
import type { Database } from '../schema.ts';

/**
 * A page of the endpoint's delivery log, newest first (by id, a ULID: keyset paging, so status
 * webhooks queued meanwhile sort before the page and never shift later ones). Each filter reads
 * its own index, one range of the endpoint's entries: `(endpoint_id, id)` unfiltered,
 * `(endpoint_id, status, id)` by status, `(message_id, endpoint_id, id)` by message (SQLite is
 * told which, as it has no statistics to choose by).
 */
export async function listDeliveries(
  handle: DatabaseHandle,
  endpointId: string,
  query: WebhookDeliveryQuery,
): Promise<WebhookDelivery[]> {
  const rows = await deliveryPageQuery(handle, endpointId, query).execute();
  return rows.map(toDelivery);
}

/**
 * The newest `limit` status webhooks of each of `endpointIds` (a page of the console's endpoints),
 * newest first, by endpoint: an endpoint with none has an empty list.
 */
export async function listNewestDeliveries(
  handle: DatabaseHandle,
  endpointIds: readonly string[],
  limit: number,
): Promise<Map<string, WebhookDelivery[]>> {
  const newest = new Map(endpointIds.map((id) => [id, [] as WebhookDelivery[]]));
  const query = newestDeliveriesQuery(handle, endpointIds, limit);
  if (!query) return newest;
  // UNION ALL keeps each endpoint's rows but not their order across the arms.
  const rows = (await query.execute()).map(toDelivery).sort((a, b) => (a.id < b.id ? 1 : -1));
  for (const delivery of rows) newest.get(delivery.endpointId)?.push(delivery);
  return newest;
}

/**
 * The query of listNewestDeliveries (its plan is checked by the tests), or null for no endpoint:
 * each endpoint's first page of its log (deliveryPageQuery, one range of `(endpoint_id, id)`),
 * joined by UNION ALL. One round trip for the page, where a query per endpoint took one each,
 * and each endpoint's newest rows only, where a window (`row_number() over (partition by
 * endpoint_id)`) would read the endpoints' whole logs to number them.
 */
export function newestDeliveriesQuery(
  handle: DatabaseHandle,
  endpointIds: readonly string[],
  limit: number,
) {
  // Each arm a subquery: SQLite takes no ORDER BY or LIMIT in an arm of a compound SELECT.
  const arms = endpointIds.map((id) =>
    handle.db.selectFrom(deliveryPageQuery(handle, id, { limit }).as('newest')).selectAll(),
  );
  const [first, ...rest] = arms;
  if (!first) return null;
  return rest.reduce((union, arm) => union.unionAll(arm), first);
}

/** The status webhooks about one message, to every endpoint, oldest first. */
export async function listMessageDeliveries(
  handle: DatabaseHandle,
  messageId: string,
  limit: number,
): Promise<WebhookDelivery[]> {
  const rows = await messageDeliveriesQuery(handle, messageId, limit).execute();
  return rows.map(toDelivery);
}

/**
 * The query of listMessageDeliveries (its plan is checked by the tests): the message's entries
 * through the `(message_id, endpoint_id, id)` index, sorted by id (a message has a few).
 */
export function messageDeliveriesQuery(handle: DatabaseHandle, messageId: string, limit: number) {
  return handle.db
    .selectFrom(handle.dialect.throughIndex('webhook_deliveries', 'webhook_deliveries_message'))
    .select(deliveryColumns)
    .where('message_id', '=', messageId)
    .orderBy('id')
    .limit(limit);
}

/**
 * The query of one page (its plan is checked by the tests). The index's last column before `id`
 * (`endpoint_id`, or `status` with a status, or `endpoint_id` after `message_id`) is written as a
 * range, `c >= v and (c, id) < (v, cursor)` (`c <= v` on the first page), not as `c = v`, and the
 * order as `c desc, id desc`: the same rows in the same order, but PostgreSQL can then take that
 * order only from this index. Given `c = v` it may walk the primary key backwards instead,
 * skipping other rows until it has a page, which reads the rest of the table when the matches
 * are far apart (an endpoint added after others, an outage's failures, a cursor past the last
 * match). SQLite reads the index it is told to.
 */
export function deliveryPageQuery(
  handle: DatabaseHandle,
  endpointId: string,
  query: WebhookDeliveryQuery,
) {
  const { status, messageId, beforeId } = query;
  const [index, column, value] =
    messageId !== undefined
      ? (['webhook_deliveries_message', 'endpoint_id', endpointId] as const)
      : status !== undefined
        ? (['webhook_deliveries_endpoint_status', 'status', status] as const)
        : (['webhook_deliveries_endpoint', 'endpoint_id', endpointId] as const);
  let select = handle.db
    .selectFrom(handle.dialect.throughIndex('webhook_deliveries', index))
    .select(deliveryColumns);
  if (messageId !== undefined) {
    select = select.where('message_id', '=', messageId);
    if (status !== undefined) select = select.where('status', '=', status);
  } else if (status !== undefined) {
    select = select.where('endpoint_id', '=', endpointId);
  }
  select = select.where(column, '>=', value);
  select =
    beforeId === undefined
      ? select.where(column, '<=', value)
      : select.where(({ eb, refTuple, tuple }) =>
          eb(refTuple(column, 'id'), '<', tuple(value, beforeId)),
        );
  return select.orderBy(column, 'desc').orderBy('id', 'desc').limit(query.limit);
}

/** What a log entry is read with: toDelivery's row. */
function deliveryColumns(eb: ExpressionBuilder<Database, 'webhook_deliveries'>) {
  return [
    'id',
    'endpoint_id',
    'event_type',
    'message_id',
    // A status webhook queued by an earlier release's process has no message_id: its body says.
    eb
      .case()
      .when('message_id', 'is', null)
      .then(eb.ref('payload'))
      .end()
      .as('payload_without_message_id'),
    'status',
    'attempts',
    'next_attempt_at',
    'last_status',
    'last_error',
    'last_error_at',
    'created_at',
    'delivered_at',
    'retry_from',
  ] as const;
}

/** A row of deliveryColumns. */
type DeliveryRow = Awaited<ReturnType<ReturnType<typeof deliveryPageQuery>['execute']>>[number];

function toDelivery(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    eventType: r.event_type,
    messageId: r.message_id ?? messageIdOf(r.payload_without_message_id),
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    // A process of an earlier release clears the error of a delivered one, not its time.
    lastErrorAt: r.last_error === null ? null : r.last_error_at,
    createdAt: r.created_at,
    deliveredAt: r.delivered_at,
    // Its retry window starts at its creation, or when it was redelivered.
    requeuedAt: r.retry_from > r.created_at ? r.retry_from : null,
  };
}

/** The body's `data.message_id`, or null when it has none. */
function messageIdOf(payload: string | null): string | null {
  if (payload === null) return null;
  const body = readJson(payload) as { data?: { message_id?: unknown } } | null;
  const id = body && typeof body === 'object' ? body.data?.message_id : undefined;
  return typeof id === 'string' ? id : null;
}
