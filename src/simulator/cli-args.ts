/** The flags of `tegami simulator`: the option table, the usage text and their parsing. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { EventWebhookOptions } from './event-webhook/emitter.ts';
import { loadSigningKey } from './event-webhook/signing.ts';
import { type Faults, FaultsError, validateFaults, validateOutage } from './faults/settings.ts';
import { DEFAULT_PORT, type SimulatorOptions } from './server.ts';

export const SIMULATOR_USAGE = `Usage: tegami simulator [options]

A local SendGrid (POST /v3/mail/send) with fault injection and the Event Webhook.

Options:
  --host H                      address to listen on (default 127.0.0.1)
  --port P                      port (default ${DEFAULT_PORT}; 0 = any free port)
  --api-key K                   accept only "Authorization: Bearer K" (default: any bearer token)
  --latency-ms N|MIN-MAX        delay every answer by N ms, or uniformly MIN..MAX ms
  --error-rate STATUS=RATE      answer this share of requests with STATUS (repeatable)
  --html-errors                 5xx and 413 answers as nginx HTML pages, not JSON
  --reset-rate R                reset this share of connections without an answer
  --hang-rate R                 never answer this share of requests
  --late-answer-ms N            accept every mail, then answer 202 only after N ms
  --rate-limit RPS              token bucket: 429 with Retry-After above RPS requests/second
  --retry-after S               Retry-After seconds on 429 answers (default 1)
  --outage MODE:DURATION_MS     fail everything from the start for DURATION_MS; MODE is a
                                status (503), html-502, reset, hang or 429
  --reject-category NAME        answer 400 (an empty content block, as a payload bug would
                                make) to mail in this category (repeatable)
  --unverified-sender ADDRESS   answer 403 (not a verified Sender Identity) to mail from this
                                address, or from any address of @domain (repeatable)
  --max-messages N              sends kept for GET /_simulator/messages (default 100000)
  --event-webhook-url URL       POST Event Webhook events there (default: record only)
  --event-signing-key KEY       EC P-256 private key, base64 PKCS#8 DER or PEM (default: new)
  --event-signing-key-file PATH read the signing key from a file
  --event-delay-ms N            delay between successive events of one recipient
  --event-batch-size N          events per webhook POST
  --engagement                  also emit open and click events for delivered recipients
  -h, --help                    show this help and exit

The control API is under /_simulator (see docs/simulator.md).`;

export class UsageError extends Error {}

/** The flags of `tegami simulator` (docs/simulator.md lists them; a test checks). */
export const SIMULATOR_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  'latency-ms': { type: 'string' },
  'error-rate': { type: 'string', multiple: true },
  'html-errors': { type: 'boolean' },
  'reset-rate': { type: 'string' },
  'hang-rate': { type: 'string' },
  'late-answer-ms': { type: 'string' },
  'rate-limit': { type: 'string' },
  'retry-after': { type: 'string' },
  outage: { type: 'string' },
  'reject-category': { type: 'string', multiple: true },
  'unverified-sender': { type: 'string', multiple: true },
  'max-messages': { type: 'string' },
  'event-webhook-url': { type: 'string' },
  'event-signing-key': { type: 'string' },
  'event-signing-key-file': { type: 'string' },
  'event-delay-ms': { type: 'string' },
  'event-batch-size': { type: 'string' },
  engagement: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Reads `tegami simulator` flags into simulator options; throws UsageError or FaultsError. */
export function parseSimulatorArgs(args: string[]): { help: boolean; options: SimulatorOptions } {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: SIMULATOR_OPTIONS,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);

  const raw: Record<string, unknown> = {};
  if (values['latency-ms'] !== undefined) raw.latencyMs = parseLatencyFlag(values['latency-ms']);
  if (values['error-rate']) {
    raw.errorRates = Object.fromEntries(values['error-rate'].map(parseErrorRateFlag));
  }
  if (values['html-errors']) raw.htmlErrors = true;
  if (values['reset-rate'] !== undefined) {
    raw.resetRate = parseNumberFlag(values['reset-rate'], '--reset-rate');
  }
  if (values['hang-rate'] !== undefined) {
    raw.hangRate = parseNumberFlag(values['hang-rate'], '--hang-rate');
  }
  if (values['late-answer-ms'] !== undefined) {
    raw.lateAnswerMs = parseNumberFlag(values['late-answer-ms'], '--late-answer-ms');
  }
  if (values['rate-limit'] !== undefined) {
    raw.rateLimitPerSecond = parseNumberFlag(values['rate-limit'], '--rate-limit');
  }
  if (values['retry-after'] !== undefined) {
    raw.retryAfterSeconds = parseNumberFlag(values['retry-after'], '--retry-after');
  }
  if (values.outage !== undefined) raw.outage = parseOutageFlag(values.outage);
  if (values['reject-category']) raw.rejectCategories = values['reject-category'];
  if (values['unverified-sender']) raw.unverifiedSenders = values['unverified-sender'];
  const faults: Faults = validateFaults(raw);

  let port = DEFAULT_PORT;
  // An empty host would listen on every interface, and the control API has no authentication.
  if (values.host !== undefined && (values.host === '' || /\s/.test(values.host))) {
    throw new UsageError(`--host: "${values.host}" is not a host name or address`);
  }
  if (values.port !== undefined) {
    port = parseNumberFlag(values.port, '--port');
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`--port: "${values.port}" is not a port number (0-65535)`);
    }
  }
  let maxStoredMessages: number | undefined;
  if (values['max-messages'] !== undefined) {
    maxStoredMessages = wholeNumber(values['max-messages'], '--max-messages', 1);
  }
  if (values['api-key'] !== undefined && values['api-key'].trim() === '') {
    throw new UsageError('--api-key must not be empty');
  }
  if (values['event-signing-key'] !== undefined && values['event-signing-key-file']) {
    throw new UsageError('use either --event-signing-key or --event-signing-key-file, not both');
  }

  const eventWebhook: EventWebhookOptions = { url: values['event-webhook-url'] ?? null };
  if (eventWebhook.url !== null) {
    let url: URL;
    try {
      url = new URL(eventWebhook.url);
    } catch {
      throw new UsageError(`--event-webhook-url: "${eventWebhook.url}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError('--event-webhook-url must be an http:// or https:// URL');
    }
  }
  if (values['event-signing-key'] !== undefined) {
    eventWebhook.signingKey = values['event-signing-key'];
  }
  if (values['event-signing-key-file'] !== undefined) {
    eventWebhook.signingKey = readKeyFile(values['event-signing-key-file']);
  }
  if (values['event-delay-ms'] !== undefined) {
    eventWebhook.eventDelayMs = wholeNumber(values['event-delay-ms'], '--event-delay-ms', 0);
  }
  if (values['event-batch-size'] !== undefined) {
    eventWebhook.batchSize = wholeNumber(values['event-batch-size'], '--event-batch-size', 1);
  }
  if (eventWebhook.signingKey !== undefined) {
    try {
      loadSigningKey(eventWebhook.signingKey);
    } catch (error) {
      throw new UsageError(`the event signing key: ${(error as Error).message}`);
    }
  }
  if (values.engagement) eventWebhook.engagement = true;

  const options: SimulatorOptions = {
    host: values.host ?? '127.0.0.1',
    port,
    apiKey: values['api-key'] ?? null,
    faults,
    eventWebhook,
  };
  if (maxStoredMessages !== undefined) options.maxStoredMessages = maxStoredMessages;
  return { help: values.help === true, options };
}

/** The signing key file's text; a file that cannot be read is a UsageError naming the flag. */
function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    const why: Record<string, string> = {
      ENOENT: 'no such file',
      EACCES: 'permission denied',
      EISDIR: 'a folder, not a file',
      ENOTDIR: 'no such file (a part of the path is not a folder)',
    };
    const reason = (code && why[code]) || `cannot read it (${message ?? code ?? String(error)})`;
    throw new UsageError(`--event-signing-key-file: ${reason}: ${path}`);
  }
}

function wholeNumber(value: string, flag: string, min: number): number {
  const n = parseNumberFlag(value, flag);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag}: "${value}" must be a whole number >= ${min}`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// The values of the fault flags

/** `--latency-ms 50` or `--latency-ms 10-200`. */
export function parseLatencyFlag(value: string): Faults['latencyMs'] {
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  if (/^\d+(?:\.\d+)?$/.test(value)) return Number(value);
  throw new FaultsError(`--latency-ms: "${value}" is not N or MIN-MAX (milliseconds)`);
}

/** `--error-rate 503=0.1` (repeatable). */
export function parseErrorRateFlag(value: string): [string, number] {
  const match = /^(\d{3})=(\d*\.?\d+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new FaultsError(`--error-rate: "${value}" is not STATUS=RATE, e.g. 503=0.1`);
  }
  return [match[1], Number(match[2])];
}

/** `--outage 503:30000`, `--outage reset:5000`, `--outage html-502:10000`. */
export function parseOutageFlag(value: string): { mode: string; durationMs: number } {
  const at = value.lastIndexOf(':');
  const durationText = value.slice(at + 1);
  if (at <= 0 || !/^\d+$/.test(durationText)) {
    throw new FaultsError(`--outage: "${value}" is not MODE:DURATION_MS, e.g. 503:30000`);
  }
  return validateOutage({ mode: value.slice(0, at), durationMs: Number(durationText) });
}

/** A number from a flag; throws FaultsError naming the flag. */
export function parseNumberFlag(value: string, flag: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new FaultsError(`${flag}: "${value}" is not a number`);
  }
  return number;
}

export function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
