/**
 * Times the console's pages over real HTTP on a database seeded by bench/seed-ops.ts (the
 * target: every page in under 300 ms with 1,000,000 messages stored), SQLite or PostgreSQL:
 *
 *   node --import tsx bench/seed-ops.ts sqlite:./data/big.db 1000000
 *   node --import tsx bench/console.ts sqlite:./data/big.db
 *
 * The status webhooks page gets its endpoints from bench/seed-status-webhooks.ts, added here to
 * a database that has none. Each page is fetched once to warm up, then 5 times; the median, the
 * slowest and the page's size are printed.
 */
import { createServer } from 'node:net';
import { loadConfig } from '../src/cli/config.ts';
import { startService } from '../src/cli/wire.ts';
import { createLogger } from '../src/ops/logger.ts';
import { seedStatusWebhooks } from './seed-status-webhooks.ts';

const databaseUrl = process.argv[2];
if (!databaseUrl) {
  console.error('usage: node --import tsx bench/console.ts <TEGAMI_DATABASE_URL>');
  process.exit(64);
}
const endpointsAdded = await seedStatusWebhooks(databaseUrl);
if (endpointsAdded > 0) console.error(`Added ${endpointsAdded} status webhook endpoints.`);
const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address() as { port: number };
    s.close(() => resolve(port));
  });
});
const ADMIN = { email: 'bench@example.jp', password: 'bench-password-123' };
const service = await startService({
  config: loadConfig({
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_HTTP_PORT: String(port),
    TEGAMI_ADMIN_EMAIL: ADMIN.email,
    TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    TEGAMI_BOOTSTRAP_API_KEY: 'tgm_bench_console_key_0123456789abcdef',
    TEGAMI_LOG_LEVEL: 'warn',
  }),
  logger: createLogger('warn'),
  api: true,
  worker: false,
  announce: () => {},
});
const base = `http://127.0.0.1:${port}`;
try {
  const signIn = await fetch(`${base}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(ADMIN),
  });
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const get = async (path: string) => {
    const started = performance.now();
    const r = await fetch(`${base}${path}`, { headers: { cookie } });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text.slice(0, 300)}`);
    return { ms: performance.now() - started, text };
  };
  const first = (await get('/console/messages?q=status%3Afailed')).text;
  const id = /\/console\/messages\/(msg_[0-9A-Z]+)/.exec(first)?.[1] ?? '';
  const recipient = /<td data-label="To"[^>]*>([^<@\s]+@[^<\s]+)<\/td>/.exec(first)?.[1] ?? '';
  const q = (text: string) => `?q=${encodeURIComponent(text)}`;
  const pages = [
    '/console',
    '/console/messages',
    `/console/messages${q(`to:${recipient}`)}`,
    `/console/messages${q('to:@mail.example.com status:failed')}`,
    `/console/messages${q('status:failed category:booking -error:http_413')}`,
    `/console/messages${q('unit:hotel after:2026-11-20')}`,
    // Subject words: one message in five has `reminder`; a booking number is in one subject.
    `/console/messages${q('subject:reminder')}`,
    `/console/messages${q('subject:reminder unit:spa')}`,
    `/console/messages${q('subject:reminder status:failed')}`,
    `/console/messages${q('subject:123456')}`,
    `/console/messages${q('subject:123456 unit:spa')}`,
    `/console/messages${q('subject:123456 status:failed')}`,
    `/console/messages${q('from:spa@tegami.example')}`,
    `/console/messages${q('from:spa@tegami.example status:failed')}`,
    `/console/messages/${id}`,
    `/console/messages.csv${q('to:@mail.example.com status:failed')}`,
    '/console/unsent',
    `/console/unsent${q('reason:failed error:http_400')}`,
    '/console/recoveries',
    '/console/audit',
    '/console/suppressions',
    // 500 endpoints (200 deleted), 25 status webhooks each: a page draws 20 of them.
    '/console/webhooks',
  ];
  console.log(`| page | median | slowest | size |\n| --- | --- | --- | --- |`);
  for (const page of pages) {
    const { text } = await get(page);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push((await get(page)).ms);
    times.sort((a, b) => a - b);
    const kB = Buffer.byteLength(text) / 1000;
    console.log(
      `| \`${decodeURIComponent(page)}\` | ${times[2]?.toFixed(1)} ms | ${times[4]?.toFixed(1)} ms | ${kB.toFixed(0)} kB |`,
    );
  }
} finally {
  await service.stop();
}
