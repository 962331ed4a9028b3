/**
 * `npm run bench smtp`: what a message costs when it comes in over SMTP submission
 * (`TEGAMI_SMTP_PORT`) rather than `POST /v1/messages`, in the same run. One `tegami api` on a
 * fresh SQLite file (or, with `BENCH_SMTP_ENGINE=postgres`, a fresh schema of a throwaway
 * PostgreSQL, or of the server BENCH_POSTGRES_URL names) takes the same ~1 KB single-recipient
 * mail from 16 clients at once, each on a kept-alive connection sending one after another: as
 * SMTP (AUTH once per connection, then MAIL FROM, RCPT TO, DATA per mail; raw MIME built once,
 * with a fresh Message-ID each, so that nothing is deduplicated) and as JSON over HTTP. The two
 * alternate, `BENCH_SMTP_RUNS` times each (2).
 *
 * Per transport: messages accepted per second, the time from the first byte of a mail to its
 * answer (`250` or `202`), and CPU per message of the `tegami api` process and of the clients
 * (this process: nodemailer or undici).
 *
 *   npm run bench smtp
 *   BENCH_SMTP_MESSAGES=5000 BENCH_SMTP_RUNS=3 npm run bench smtp
 */
import { cpus, totalmem } from 'node:os';
import nodemailer from 'nodemailer';
import { Agent, request } from 'undici';
import { spawnTegami, TEST_KEY, tempDatabase } from '../test/helpers.ts';
import { cpuMs } from './load/proc.ts';
import { startBenchPostgres } from './postgres-server.ts';
import { benchSize } from './sizes.ts';

const MESSAGES = benchSize('BENCH_SMTP_MESSAGES', 10_000);
const WARMUP = Math.min(1_000, Math.floor(MESSAGES / 10));
const RUNS = benchSize('BENCH_SMTP_RUNS', 2);
const CLIENTS = 16;
const ENGINE = process.env.BENCH_SMTP_ENGINE === 'postgres' ? 'postgres' : 'sqlite';

/** The same text, so both transports carry about 1 KB of mail. */
const TEXT = 'Dear guest, your room is booked for 2 nights. We look forward to your stay. '
  .repeat(10)
  .slice(0, 700);

interface RunResult {
  transport: 'SMTP' | 'HTTP';
  perSecond: number;
  p50: number;
  p99: number;
  tegamiCpuMs: number;
  clientCpuMs: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;

/** Sends `amount` mails from CLIENTS loops; returns each mail's time to its answer, in ms. */
async function drive(amount: number, sendOne: (seq: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < amount) {
        const seq = next++;
        const started = performance.now();
        await sendOne(seq);
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

function rawMail(seq: number, run: string): string {
  return [
    'From: Hotel <bookings@hotel.example>',
    'To: Guest <guest@example.com>',
    `Subject: Your booking #${seq} is confirmed`,
    `Message-ID: <${run}-${seq}@hotel.example>`,
    'Date: Sat, 05 Dec 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    TEXT,
    '',
  ].join('\r\n');
}

async function oneRun(
  transport: 'SMTP' | 'HTTP',
  databaseUrl: string,
  round: number,
): Promise<RunResult> {
  const api = spawnTegami(['api'], {
    TEGAMI_DATABASE_URL: databaseUrl,
    TEGAMI_HTTP_PORT: '0',
    TEGAMI_SMTP_PORT: '0',
    TEGAMI_BOOTSTRAP_API_KEY: TEST_KEY,
    TEGAMI_LOG_LEVEL: 'warn',
  });
  const url = await api.ready;
  const pid = api.child.pid ?? 0;
  // The SMTP line follows the HTTP one.
  let smtpPort = 0;
  for (let i = 0; i < 100 && !smtpPort; i++) {
    const match = /SMTP submission on [^\s]*:(\d+)/.exec(api.output());
    if (match?.[1]) smtpPort = Number(match[1]);
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!smtpPort) throw new Error(`no SMTP port in:\n${api.output()}`);

  let sendOne: (seq: number) => Promise<void>;
  let close: () => Promise<void>;
  const runId = `r${round}-${transport}-${Date.now().toString(36)}`;
  if (transport === 'SMTP') {
    const mailer = nodemailer.createTransport({
      host: '127.0.0.1',
      port: smtpPort,
      secure: false,
      pool: true,
      maxConnections: CLIENTS,
      maxMessages: Number.POSITIVE_INFINITY,
      auth: { user: 'bench', pass: TEST_KEY },
    });
    sendOne = async (seq) => {
      await mailer.sendMail({
        envelope: { from: 'bookings@hotel.example', to: ['guest@example.com'] },
        raw: rawMail(seq, runId),
      });
    };
    close = async () => mailer.close();
  } else {
    const agent = new Agent({ connections: CLIENTS, keepAliveTimeout: 60_000 });
    sendOne = async (seq) => {
      const answer = await request(`${url}/v1/messages`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          from: { email: 'bookings@hotel.example', name: 'Hotel' },
          to: [{ email: 'guest@example.com', name: 'Guest' }],
          subject: `Your booking #${seq} is confirmed`,
          text: TEXT,
        }),
      });
      await answer.body.dump();
      if (answer.statusCode !== 202) throw new Error(`HTTP ${answer.statusCode}`);
    };
    close = () => agent.close();
  }
  try {
    await drive(WARMUP, (seq) => sendOne(1_000_000 + seq));
    const tegamiBefore = cpuMs(pid);
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    const latencies = await drive(MESSAGES, sendOne);
    const seconds = (performance.now() - started) / 1000;
    const client = process.cpuUsage(clientBefore);
    const tegamiCpu = cpuMs(pid) - tegamiBefore;
    latencies.sort((a, b) => a - b);
    return {
      transport,
      perSecond: MESSAGES / seconds,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      tegamiCpuMs: tegamiCpu / MESSAGES,
      clientCpuMs: (client.user + client.system) / 1000 / MESSAGES,
    };
  } finally {
    await close();
    api.child.kill('SIGTERM');
    await api.exited;
  }
}

export async function smtpBench(): Promise<void> {
  const postgres =
    ENGINE !== 'postgres'
      ? null
      : process.env.BENCH_POSTGRES_URL
        ? { url: process.env.BENCH_POSTGRES_URL, stop: async () => {} }
        : await startBenchPostgres();
  const results: RunResult[] = [];
  try {
    for (let round = 1; round <= RUNS; round++) {
      for (const transport of ['SMTP', 'HTTP'] as const) {
        const db = postgres
          ? {
              // A server that outlives the run may hold an earlier run's schemas.
              url: `${postgres.url}?schema=bench_smtp_${round}_${transport.toLowerCase()}_${Date.now().toString(36)}`,
            }
          : tempDatabase();
        try {
          const result = await oneRun(transport, db.url, round);
          results.push(result);
          console.error(
            `${transport} round ${round}: ${Math.round(result.perSecond)} msg/s, Tegami ${result.tegamiCpuMs.toFixed(3)} ms CPU per message`,
          );
        } finally {
          if ('cleanup' in db) await db.cleanup();
        }
      }
    }
  } finally {
    await postgres?.stop();
  }
  const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
  console.log(
    `\nSMTP submission and the HTTP API, ${ENGINE}, \`tegami api\`, ${CLIENTS} clients, ${fmt(MESSAGES)} mails per run (after ${fmt(WARMUP)}):\n`,
  );
  console.log(
    '| transport | round | accepted msg/s | time to answer p50 / p99 | CPU ms per message: `tegami api` | CPU ms per message: clients |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  results.forEach((r, i) => {
    console.log(
      `| ${r.transport} | ${Math.floor(i / 2) + 1} | ${fmt(r.perSecond)} | ${r.p50.toFixed(1)} ms / ${r.p99.toFixed(1)} ms | ${r.tegamiCpuMs.toFixed(3)} | ${r.clientCpuMs.toFixed(3)} |`,
    );
  });
  const ratios = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const smtp = results[i];
    const http = results[i + 1];
    if (smtp && http) {
      ratios.push(
        `round ${i / 2 + 1}: msg/s ${(smtp.perSecond / http.perSecond).toFixed(2)}, Tegami CPU per message ${(smtp.tegamiCpuMs / http.tegamiCpuMs).toFixed(2)}`,
      );
    }
  }
  console.log(`\nSMTP ÷ HTTP, ${ratios.join('; ')}.`);
  console.log(
    `\nMachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`,
  );
}
