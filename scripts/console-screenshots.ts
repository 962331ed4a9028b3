// Regenerates the screenshots of docs/console.md: starts a SendGrid simulator and a Tegami on a
// fresh SQLite database, makes some traffic (Japanese mail, an outage, a 400 bug), then signs in
// to the console in headless Chromium and photographs every main page. Japanese text needs a
// CJK font (Debian: fonts-noto-cjk).
//
//   npm run screenshots:console        (TEGAMI_CHROMIUM=/path/to/chromium to use another)
//
// It listens on free loopback ports; TEGAMI_SCREENSHOTS_PORT=P takes P for Tegami, P+1 for the
// simulator and P+2 for the status webhook receiver instead (on a host whose ports are shared out).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadConfig } from '../src/cli/config.ts';
import { startService } from '../src/cli/wire.ts';
import { createLogger } from '../src/ops/logger.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { launchBrowser, signInAs } from '../test/support/browser.ts';

const OUT = 'docs/console';
const SG_KEY = 'SG.screenshots';
const ADMIN_KEY = 'tgm_screenshots_admin_key_0123456789';
const ADMIN = { email: 'admin@example.jp', password: 'screenshots-password' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

const firstPort = Number(process.env.TEGAMI_SCREENSHOTS_PORT ?? 0);
if (!Number.isInteger(firstPort) || firstPort < 0 || firstPort > 65_533) {
  throw new Error('TEGAMI_SCREENSHOTS_PORT: a port, 1 to 65533');
}
const port = firstPort || (await freePort());
const base = `http://127.0.0.1:${port}`;
const simulator = await startSimulator({
  port: firstPort ? firstPort + 1 : 0,
  apiKey: SG_KEY,
  eventWebhook: { url: `${base}/webhooks/sendgrid`, eventDelayMs: 20, flushIntervalMs: 100 },
});
// The application's status webhook receiver: answers 200 to everything.
const receiver = createHttpServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200).end('ok'));
});
await new Promise<void>((resolve) =>
  receiver.listen(firstPort ? firstPort + 2 : 0, '127.0.0.1', resolve),
);
const receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/tegami-hooks`;
const dir = mkdtempSync(join(tmpdir(), 'tegami-screenshots-'));
const service = await startService({
  config: loadConfig({
    TEGAMI_DATABASE_URL: `sqlite:${join(dir, 'tegami.db')}`,
    TEGAMI_HTTP_PORT: String(port),
    TEGAMI_PROVIDER: 'sendgrid',
    TEGAMI_SENDGRID_API_KEY: SG_KEY,
    TEGAMI_SENDGRID_BASE_URL: simulator.url,
    TEGAMI_SENDGRID_WEBHOOK_INSECURE: 'true',
    TEGAMI_BOOTSTRAP_API_KEY: ADMIN_KEY,
    TEGAMI_ADMIN_EMAIL: ADMIN.email,
    TEGAMI_ADMIN_PASSWORD: ADMIN.password,
    TEGAMI_LOG_LEVEL: 'silent',
    TEGAMI_PROVIDER_PROBE_INTERVAL_MS: '300',
    // The receiver is on this machine, for the screenshots only.
    TEGAMI_WEBHOOKS_ALLOW_PRIVATE: 'true',
    // Alerts evaluated often and firing at once, so the dead letters below show as one.
    TEGAMI_ALERT_INTERVAL_MS: '200',
    TEGAMI_ALERT_FOR_S: '0',
  }),
  logger: createLogger('silent'),
  api: true,
  worker: true,
  announce: () => {},
});

async function api(method: string, path: string, body: unknown, key = ADMIN_KEY) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return r.json() as Promise<Record<string, unknown>>;
}
const control = (path: string, body: unknown) =>
  fetch(`${simulator.url}/_simulator${path}`, {
    method: path === '/outage' ? 'POST' : 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const browser = await launchBrowser();
try {
  mkdirSync(OUT, { recursive: true });
  const page = await browser.context.newPage();
  const shot = async (name: string, fullPage = false, p: Page = page) => {
    await p.waitForLoadState('networkidle');
    await p.screenshot({ path: join(OUT, `${name}.png`), fullPage });
    console.log(`${OUT}/${name}.png`);
  };

  await page.goto(`${base}/console/sign-in`);
  await shot('sign-in');
  for (const name of ['hotel', 'restaurant']) await api('POST', '/v1/units', { name });
  await signInAs(page, base, ADMIN.email, ADMIN.password);
  const keys: Record<string, string> = {};
  for (const unit of ['hotel', 'restaurant']) {
    await page.goto(`${base}/console/keys`);
    await page.fill('input[name=name]', `${unit} app`);
    await page.selectOption('select[name=unit]', { label: unit });
    await page.click('form[action="/console/keys"] button[type=submit]');
    keys[unit] = (await page.textContent('[data-new-key]'))?.trim() ?? '';
  }
  await shot('keys');
  await page.goto(`${base}/console/webhooks`);
  await page.fill('input[name=url]', receiverUrl);
  await page.selectOption('select[name=unit]', { label: 'hotel' });
  await page.click('form[action="/console/webhooks"] button[type=submit]');
  await page.waitForSelector('[data-new-secret]');

  const from = { email: 'reservations@hotel.example.jp', name: 'ホテル手紙' };
  const send = (unit: string, body: Record<string, unknown>) =>
    api(
      'POST',
      '/v1/messages',
      { from, text: 'ご利用ありがとうございます。', ...body },
      keys[unit],
    );
  const guests = ['yamada', 'suzuki', 'tanaka', 'sato', 'ito', 'watanabe'];
  for (let i = 0; i < 24; i++) {
    const guest = guests[i % guests.length] as string;
    await send('hotel', {
      to: [{ email: `${guest}@example.jp`, name: `${guest} 様` }],
      subject: `ご予約の確認 #${1000 + i}`,
      categories: ['confirmation'],
      metadata: { booking_id: `B-${1000 + i}` },
      html: `<h1>ご予約ありがとうございます</h1><p>${guest} 様、チェックインは15時からです。</p><img src="https://tracker.example.com/open.gif"><script>alert(1)</script>`,
    });
    await send('restaurant', {
      to: [{ email: `diner${i}@example.jp` }],
      subject: `ディナーのご案内 ${i}`,
      categories: ['dinner'],
    });
  }
  // An outage, then a payload bug that dead-letters one kind of mail.
  await control('/outage', { mode: 'html-502', durationMs: 1500 });
  await control('/faults', { rejectCategories: ['reminder'] });
  for (let i = 0; i < 18; i++) {
    await send('hotel', {
      to: [{ email: `guest${i}@example.jp` }],
      subject: `チェックインのお知らせ ${i}`,
      categories: ['reminder'],
    });
  }
  await sleep(4000);
  await control('/faults', {});

  await page.goto(`${base}/console`);
  await sleep(1500);
  await shot('overview');
  await page.goto(`${base}/console/messages?q=${encodeURIComponent('to:yamada@example.jp')}`);
  await shot('search');
  await page.click('tbody a >> nth=0');
  await page.waitForSelector('iframe[name=message-body]');
  await page.frame({ name: 'message-body' })?.waitForSelector('h1');
  // A taller window rather than a full-page capture, which leaves the sandboxed frame blank.
  await page.setViewportSize({ width: 1280, height: 1450 });
  await shot('message');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/console/unsent?q=${encodeURIComponent('reason:failed')}`);
  await shot('unsent');
  await page.click('text=Dry run…');
  await shot('recovery-dry-run');
  const matched = (await page.textContent('[data-matched]'))?.trim() ?? '';
  await page.fill('input[name=confirm]', matched);
  await Promise.all([
    page.waitForURL(/\/console\/recoveries\/rec_/),
    page.click('text=Start the retry'),
  ]);
  await page.waitForSelector('#progress .s-done', { timeout: 30_000 });
  await shot('recovery');
  await page.goto(`${base}/console/suppressions`);
  await page.fill(
    'form[action="/console/suppressions"] input[name=email]',
    'unsubscribed@example.jp',
  );
  await Promise.all([
    page.waitForURL(/suppressions/),
    page.click('form[action="/console/suppressions"] button'),
  ]);
  await page.goto(`${base}/console/suppressions`);
  await shot('suppressions');
  await page.goto(`${base}/console/audit`);
  await shot('audit');
  await page.goto(`${base}/console/users`);
  await shot('users');
  await page.goto(`${base}/console/webhooks`);
  await shot('webhooks');
  // Deleting an endpoint asks first (nothing is deleted here).
  await page.click('text=Delete endpoint…');
  await page.waitForSelector('#confirm-delete');
  await shot('webhook-delete');
  await page.goto(`${base}/console/alerts`);
  await shot('alerts');
} finally {
  await browser.close();
  await service.stop();
  await simulator.close();
  await new Promise((resolve) => receiver.close(resolve));
  rmSync(dir, { recursive: true, force: true });
}
