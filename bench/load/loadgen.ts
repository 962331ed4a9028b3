/**
 * The load generator of `npm run bench load`, in a process of its own so that nothing else shares
 * its event loop: autocannon with keep-alive connections sends `amount` single-message
 * `POST /v1/messages` of about 1 KB. Each body carries its number in the phase and the time it
 * was built (custom metadata, which Tegami passes to SendGrid as custom_args), so the stand-in can
 * count messages and measure their latency. With `--varied` (BENCH_LOAD_MAIL=varied) each message
 * goes to an address of its own at one of 50 domains, as real mail does, instead of all of them to
 * guest@example.com. One run per IPC request:
 *   { type: 'run', url, phase, amount, connections } → { type: 'done', startedAt, finishedAt, … }
 */
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';

interface RunRequest {
  type: 'run';
  url: string;
  authorization: string;
  phase: string;
  amount: number;
  connections: number;
}

/** A text body that brings the whole request body to about 1 KB. */
const PADDING = 'Dear guest, your room is booked for 2 nights. We look forward to your stay. '
  .repeat(10)
  .slice(0, 770);

const VARIED = process.argv.includes('--varied');

const DOMAINS = Array.from({ length: 50 }, (_, i) => `guests-${i + 1}.example`);

/** Messages addressed so far, over every phase and run: no address comes twice. */
let addressed = 0;

/**
 * The recipient of the `n`th message. Varied addresses are unique but not in order: the number is
 * scrambled (multiplied by an odd constant modulo 2^32, a bijection), so that consecutive messages'
 * addresses land at scattered places of an index on them, as real recipients do.
 */
function recipient(n: number): string {
  if (!VARIED) return 'guest@example.com';
  const local = (Math.imul(n, 0x9e3779b1) >>> 0).toString(36);
  return `guest-${local}@${DOMAINS[n % DOMAINS.length]}`;
}

function bodyFor(phase: string, seq: number, sentMs: number, to = recipient(addressed++)): string {
  return JSON.stringify({
    from: { email: 'bookings@hotel.example', name: 'Hotel' },
    to: [{ email: to, name: 'Guest' }],
    subject: `Your booking #${seq} is confirmed`,
    text: PADDING,
    metadata: { bench_phase: phase, bench_seq: String(seq), bench_sent_ms: String(sentMs) },
  });
}

interface Result {
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}

function run(request: RunRequest): Promise<void> {
  let seq = 0;
  let startedAt = 0;
  let lastResponseAt = 0;
  // What went wrong first, so that a run of failed POSTs says why instead of only how many.
  let firstFailure: string | null = null;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: request.url,
        method: 'POST',
        connections: request.connections,
        amount: request.amount,
        timeout: 60,
        headers: { authorization: request.authorization, 'content-type': 'application/json' },
        requests: [
          {
            setupRequest: (req: Record<string, unknown>) => {
              const now = Date.now();
              if (seq === 0) startedAt = now;
              return { ...req, body: bodyFor(request.phase, seq++, now) };
            },
          },
        ],
      },
      (err: Error | null, result: Result) => {
        if (err) {
          reject(err);
          return;
        }
        process.send?.({
          type: 'done',
          startedAt,
          // The last answer, not autocannon's callback, which comes a while after it.
          finishedAt: lastResponseAt,
          ok: result['2xx'],
          failed: result.non2xx + result.errors + result.timeouts,
          p50: result.latency.p50,
          p99: result.latency.p99,
          bodyBytes: Buffer.byteLength(bodyFor(request.phase, 0, Date.now(), recipient(addressed))),
          firstFailure,
        });
        resolve();
      },
    );
    instance.on('response', (_client: unknown, statusCode: number) => {
      lastResponseAt = Date.now();
      if (firstFailure === null && (statusCode < 200 || statusCode > 299)) {
        firstFailure = `HTTP ${statusCode}`;
      }
    });
    instance.on('reqError', (error: Error) => {
      firstFailure ??= error.message;
    });
  });
}

process.on('message', (m: RunRequest) => {
  if (m.type === 'run') {
    run(m).catch((error: Error) => process.send?.({ type: 'error', message: error.message }));
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
