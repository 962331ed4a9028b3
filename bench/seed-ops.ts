/**
 * Seeds a Tegami database with a realistic mix for the operations benchmark (`npm run bench
 * ops`): `messages` messages over the last 30 days in five units, with categories, one recipient
 * each (30% at one large domain, the rest over 500 small ones), 10% dead-lettered during the last
 * day (a payload bug and its kin: http_400, http_413, suppressed), 0.1% waiting in the queue, and
 * the rest sent and confirmed by a delivery event. Rows are written straight into the tables,
 * in batches, the way Tegami itself writes them; attempts are not written.
 *
 *   node --import tsx bench/seed-ops.ts <TEGAMI_DATABASE_URL> [messages, default 100000]
 *
 * The full-size run of the benchmark uses 1,000,000 messages.
 */

import type { Insertable } from 'kysely';
import { sql } from 'kysely';
import { ulid } from 'ulidx';
import { newId } from '../src/domain/ids.ts';
import { indexSubjects, migrateToLatest, openDatabase } from '../src/store/index.ts';
import type { Database } from '../src/store/schema.ts';

export const OPS_UNITS = ['hotel', 'restaurant', 'spa', 'travel'] as const;
export const BIG_DOMAIN = 'mail.example.com';
const CATEGORIES = [
  'booking',
  'booking',
  'booking',
  'booking',
  'booking',
  'reminder',
  'reminder',
  'newsletter',
  'newsletter',
  'cancellation',
];
const BATCH = 5_000;
const DAY_MS = 24 * 3600_000;

export interface SeedResult {
  messages: number;
  failed: number;
  waiting: number;
  seconds: number;
  /** Recipients known to exist, for look-ups. */
  sampleRecipients: string[];
  smallDomain: string;
}

/** Deterministic pseudo-random numbers, so two runs seed the same shape. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export async function seedOps(url: string, total: number): Promise<SeedResult> {
  const started = performance.now();
  const handle = openDatabase(url, { poolSize: 4 });
  await migrateToLatest(handle.db);
  if (handle.engine === 'sqlite') {
    // Seeding only: the benchmark measures reads. Tegami itself always runs with FULL.
    await sql`pragma synchronous = off`.execute(handle.db);
  }
  const now = Date.now();
  const unitIds = new Map<string, string>();
  const [defaultUnit] = await handle.db.selectFrom('units').selectAll().execute();
  unitIds.set('default', defaultUnit?.id ?? '');
  for (const name of OPS_UNITS) {
    const id = newId('unit');
    await handle.db.insertInto('units').values({ id, name, created_at: now }).execute();
    unitIds.set(name, id);
  }
  const unitOf = (r: number) =>
    r < 0.4 ? 'hotel' : r < 0.7 ? 'restaurant' : r < 0.8 ? 'spa' : r < 0.9 ? 'travel' : 'default';
  const rand = random(42);
  const guests = Math.max(1, Math.floor(total / 5));
  const sampleRecipients: string[] = [];
  let failed = 0;
  let waiting = 0;

  for (let offset = 0; offset < total; offset += BATCH) {
    const messages: Insertable<Database['messages']>[] = [];
    const recipients: Insertable<Database['recipients']>[] = [];
    const categories: Database['message_categories'][] = [];
    const n = Math.min(BATCH, total - offset);
    for (let i = 0; i < n; i++) {
      const kind = rand();
      const isFailed = kind < 0.1;
      const isWaiting = !isFailed && kind < 0.101;
      // Dead letters come from the last day's incident; everything else from the last 30 days.
      const createdAt = Math.floor(
        isFailed ? now - rand() * DAY_MS : now - 60_000 - rand() * 30 * DAY_MS,
      );
      const id = `msg_${ulid(createdAt)}`;
      const unit = unitOf(rand());
      const category = CATEGORIES[Math.floor(rand() * CATEGORIES.length)] as string;
      const guest = Math.floor(rand() * guests);
      const domain = rand() < 0.3 ? BIG_DOMAIN : `d${guest % 500}.example.jp`;
      const email = `guest-${guest}@${domain}`;
      if (sampleRecipients.length < 50 && rand() < 0.01) sampleRecipients.push(email);
      const subject = `Your ${category} #${offset + i} at ${unit}`;
      const errorRoll = rand();
      const errorClass = errorRoll < 0.7 ? 'http_400' : errorRoll < 0.9 ? 'http_413' : 'suppressed';
      const content = {
        from: { email: `${unit}@tegami.example` },
        to: [{ email }],
        cc: [],
        bcc: [],
        subject,
        text: 'Dear guest, thank you for your booking. We look forward to your stay.',
        headers: {},
        categories: [category],
        metadata: { booking_id: String(offset + i) },
        attachments: [],
      };
      if (isFailed) failed++;
      if (isWaiting) waiting++;
      messages.push({
        id,
        api_key_id: null,
        unit_id: unitIds.get(unit) as string,
        status: isFailed ? 'failed' : isWaiting ? 'queued' : 'sent',
        from_email: content.from.email,
        subject,
        content: JSON.stringify(content),
        send_at: null,
        created_at: createdAt,
        updated_at: createdAt + 5_000,
        attempt_count: isWaiting ? 0 : 1,
        attempts_before_retry: 0,
        next_attempt_at: isWaiting ? createdAt : null,
        lease_owner: null,
        lease_expires_at: null,
        sent_at: isFailed || isWaiting ? null : createdAt + 2_000,
        last_error: isFailed ? `${errorClass}: rejected` : null,
        last_provider: isWaiting ? null : 'sendgrid',
        last_error_class: isFailed ? errorClass : null,
        last_outcome: isWaiting ? null : isFailed ? 'permanent' : 'accepted',
        last_provider_fault: null,
        failed_at: isFailed ? createdAt + 3_000 : null,
        confirmed_at: isFailed || isWaiting ? null : createdAt + 5_000,
        priority: 1,
      });
      recipients.push({
        message_id: id,
        position: 0,
        kind: 'to',
        email,
        email_normalized: email,
        email_domain: domain,
        name: null,
        status: isFailed ? 'failed' : isWaiting ? 'pending' : 'sent',
        updated_at: createdAt + 5_000,
        delivery_status: isFailed || isWaiting ? null : 'delivered',
        delivery_status_at: isFailed || isWaiting ? null : createdAt + 5_000,
        delivery_event_key: null,
        suppressed_reason: null,
      });
      categories.push({ message_id: id, category });
    }
    await handle.writeTransaction(async (trx) => {
      await handle.dialect.insertRows(trx, 'messages', messages);
      await handle.dialect.insertRows(trx, 'recipients', recipients);
      await handle.dialect.insertRows(trx, 'message_categories', categories);
    });
  }
  // The subject index in its steady state (the API indexes new mail in the background).
  while ((await indexSubjects(handle, now + DAY_MS)) > 0);
  if (handle.engine === 'postgres') {
    // Statistics and the visibility map, as autovacuum keeps them on a database that grew over
    // time: index-only scans (the unsent summary) need the latter.
    await sql`vacuum analyze`.execute(handle.db);
  }
  await handle.close();
  return {
    messages: total,
    failed,
    waiting,
    seconds: (performance.now() - started) / 1000,
    sampleRecipients,
    smallDomain: 'd7.example.jp',
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, count] = process.argv.slice(2);
  if (!url) {
    console.error('Usage: node --import tsx bench/seed-ops.ts <TEGAMI_DATABASE_URL> [messages]');
    process.exit(2);
  }
  const result = await seedOps(url, Number(count ?? 100_000));
  console.log(
    `Seeded ${result.messages.toLocaleString('en')} messages (${result.failed.toLocaleString('en')} failed, ${result.waiting} waiting) in ${result.seconds.toFixed(1)} s.`,
  );
}
