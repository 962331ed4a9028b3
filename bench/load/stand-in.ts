/**
 * The SendGrid stand-in of `npm run bench load`, in a process of its own: answers 202 at once to
 * every `POST /v3/mail/send` and counts the messages of the counted phase. Each message carries
 * `bench_seq` (its number in the phase), `bench_phase` and `bench_sent_ms` (when the load
 * generator built its `POST /v1/messages`) in its custom_args; the end-to-end latency is the
 * receive time minus that. With `--varied` (BENCH_LOAD_MAIL=varied) each 202 carries an X-Message-Id
 * as SendGrid's does (16 random bytes as 22 characters of URL-safe base64, like the simulator's);
 * otherwise none. Controlled over IPC by bench/load.ts:
 *   { type: 'reset' }                → forget everything, start counting afresh
 *   { type: 'expect', phase, count } → answers { type: 'complete', … } once that many distinct
 *                                      messages of the phase arrived (at once if they already did)
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

const X_MESSAGE_IDS = process.argv.includes('--varied');

/** Random bytes drawn 16 KiB at a time: one call per 1,024 ids. */
let idPool = Buffer.alloc(0);
let idOffset = 0;
function nextMessageId(): string {
  if (idOffset + 16 > idPool.length) {
    idPool = randomBytes(16 * 1024);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + 16);
  idOffset += 16;
  return id;
}

interface PhaseCounts {
  seen: Set<number>;
  duplicates: number;
  /** Receive time of the message that completed the set so far, epoch ms. */
  lastAt: number;
  latencies: number[];
}

let phases = new Map<string, PhaseCounts>();
let waiting: { phase: string; count: number } | null = null;

function counts(phase: string): PhaseCounts {
  let c = phases.get(phase);
  if (!c) {
    c = { seen: new Set(), duplicates: 0, lastAt: 0, latencies: [] };
    phases.set(phase, c);
  }
  return c;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}

function checkWaiting(): void {
  if (!waiting) return;
  const c = counts(waiting.phase);
  if (c.seen.size < waiting.count) return;
  const sorted = Float64Array.from(c.latencies).sort();
  const list = Array.from(sorted);
  process.send?.({
    type: 'complete',
    lastAt: c.lastAt,
    received: c.seen.size,
    duplicates: c.duplicates,
    p50: percentile(list, 0.5),
    p99: percentile(list, 0.99),
  });
  waiting = null;
}

interface Personalization {
  custom_args?: Record<string, string>;
}

function record(body: string, at: number): void {
  let personalizations: Personalization[] = [];
  try {
    personalizations =
      (JSON.parse(body) as { personalizations?: Personalization[] }).personalizations ?? [];
  } catch {
    return;
  }
  for (const p of personalizations) {
    const args = p.custom_args;
    if (!args?.bench_phase) continue;
    const c = counts(args.bench_phase);
    const seq = Number(args.bench_seq);
    if (c.seen.has(seq)) {
      c.duplicates++;
      continue;
    }
    c.seen.add(seq);
    c.lastAt = at;
    c.latencies.push(at - Number(args.bench_sent_ms));
  }
}

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v3/mail/send') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = Date.now();
    // Answer first, as SendGrid does: the 202 only says the message was taken.
    res
      .writeHead(
        202,
        X_MESSAGE_IDS
          ? { 'content-length': '0', 'x-message-id': nextMessageId() }
          : { 'content-length': '0' },
      )
      .end();
    record(Buffer.concat(chunks).toString('utf8'), at);
    checkWaiting();
  });
});
server.keepAliveTimeout = 60_000;

process.on('message', (m: { type: string; phase?: string; count?: number }) => {
  if (m.type === 'reset') {
    phases = new Map();
    waiting = null;
  } else if (m.type === 'expect' && m.phase && m.count !== undefined) {
    waiting = { phase: m.phase, count: m.count };
    checkWaiting();
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') {
    process.send?.({ type: 'ready', url: `http://127.0.0.1:${address.port}` });
  }
});
