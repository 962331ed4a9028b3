/**
 * Adds status webhook endpoints to a database for the console's status webhooks page
 * (`bench/console.ts`): 300 active and 200 deleted endpoints over its units, 25 status webhooks
 * each (one in five failed, the rest delivered) over the last day, the shape the page was
 * measured with when it was bounded to 20 endpoints a page. Rows are written straight into the
 * tables, as bench/seed-ops.ts writes messages: 12,500 status webhooks take a second or two. A
 * database that has endpoints already is left as it is, so the benchmark can be run again on it.
 */

import type { Insertable } from 'kysely';
import { ulid } from 'ulidx';
import { WEBHOOK_EVENT_TYPES } from '../src/domain/status-webhooks.ts';
import { openDatabase } from '../src/store/index.ts';
import type { Database } from '../src/store/schema.ts';

/** Endpoints, two in five of them deleted (300 active, 200 deleted), and each one's log. */
export const STATUS_WEBHOOK_SEED = { endpoints: 500, eachLog: 25 } as const;

const DAY_MS = 24 * 3600_000;

/** Seeds the endpoints and their logs; returns how many endpoints it added (0: there were some). */
export async function seedStatusWebhooks(url: string): Promise<number> {
  const handle = openDatabase(url);
  try {
    const existing = await handle.db
      .selectFrom('webhook_endpoints')
      .select('id')
      .limit(1)
      .execute();
    if (existing.length > 0) return 0;
    const units = await handle.db.selectFrom('units').select(['id', 'name']).execute();
    // Every migrated database has the default unit; one without is not Tegami's.
    if (units.length === 0) throw new Error(`${url} has no unit: is it a Tegami database?`);
    const now = Date.now();
    const { endpoints: total, eachLog } = STATUS_WEBHOOK_SEED;
    const endpoints: Insertable<Database['webhook_endpoints']>[] = [];
    const deliveries: Insertable<Database['webhook_deliveries']>[] = [];
    for (let n = 0; n < total; n++) {
      const unit = units[n % units.length] as { id: string; name: string };
      // Made over the last 30 days, two in five of them deleted since.
      const createdAt = now - 30 * DAY_MS + n * 60_000;
      const id = `whk_${ulid(createdAt)}`;
      const isDeleted = n % 5 < 2;
      endpoints.push({
        id,
        url: `https://${unit.name}.example.jp/tegami-hooks/${n}`,
        event_types: JSON.stringify(WEBHOOK_EVENT_TYPES),
        secret: `bench-secret-${n}-0123456789abcdef`,
        created_at: createdAt,
        // Deleted over the last day in another order than made: their list goes by when.
        disabled_at: isDeleted ? now - ((n * 7919) % DAY_MS) : null,
        unit_id: unit.id,
        all_units: 0,
        previous_secret: null,
        previous_secret_expires_at: null,
      });
      for (let i = 0; i < eachLog; i++) {
        const at = now - DAY_MS + n * 1_000 + i * 60_000;
        const whd = `whd_${ulid(at)}`;
        const messageId = `msg_${ulid(at - 5_000)}`;
        const type = WEBHOOK_EVENT_TYPES[i % WEBHOOK_EVENT_TYPES.length] as string;
        const failed = i % 5 === 4;
        const payload = {
          id: whd,
          type,
          created_at: new Date(at).toISOString(),
          data: { message_id: messageId, unit: unit.name, status: 'sent', metadata: {} },
        };
        deliveries.push({
          id: whd,
          endpoint_id: id,
          event_type: type,
          payload: JSON.stringify(payload),
          message_id: messageId,
          status: failed ? 'failed' : 'delivered',
          attempts: failed ? 8 : 1,
          next_attempt_at: null,
          last_status: failed ? 503 : 200,
          last_error: failed ? 'HTTP 503: Service Unavailable' : null,
          last_error_at: failed ? at + 3600_000 : null,
          created_at: at,
          retry_from: at,
          delivered_at: failed ? null : at + 200,
        });
      }
    }
    await handle.writeTransaction(async (trx) => {
      await handle.dialect.insertRows(trx, 'webhook_endpoints', endpoints);
      await handle.dialect.insertRows(trx, 'webhook_deliveries', deliveries);
    });
    return endpoints.length;
  } finally {
    await handle.close();
  }
}
