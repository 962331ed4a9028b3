import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { PostResult } from '../domain/ports/outbound-post.ts';
import { unreachablePortProblem } from '../domain/post-destination.ts';
import { UNDICI_TIMER_EARLY_MS } from '../domain/undici-timers.ts';
import { isPrivateAddress } from './status-webhooks/destination-guard.ts';

/**
 * How much of an answer's body is read: enough for the start of an error message. Whatever
 * follows is not read; the connection is closed instead, so a huge or endless reply costs
 * nothing.
 */
const BODY_READ_LIMIT = 4096;
/** How much of a non-2xx answer's body goes into the log. */
const BODY_EXCERPT_CHARS = 200;

class DestinationRefused extends Error {
  readonly code = 'EDESTINATIONREFUSED';
  constructor() {
    super(DESTINATION_NOT_ALLOWED);
  }
}

/**
 * What a refused destination is called, at registration and in the delivery log. It never says
 * what the host resolved to, nor whether it resolved at all: an API key must not be able to map
 * internal names and addresses through the answers.
 */
export const DESTINATION_NOT_ALLOWED =
  'destination not allowed: its host must resolve to public addresses only';

const REFUSED_AT_REGISTRATION =
  'is not an allowed destination: its host must resolve to public addresses only (others need TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true)';

/**
 * Checks where a webhook URL leads, at registration: a port something can listen on, and every
 * address its host resolves to public, unless private destinations are allowed. Returns why it
 * is refused (for the API's answer), or null.
 */
export async function checkDestination(url: string, allowPrivate: boolean): Promise<string | null> {
  const parsed = new URL(url);
  // Before the private-address switch: port 0 is unreachable on any network.
  const port = unreachablePortProblem(parsed);
  if (port) return port;
  if (allowPrivate) return null;
  // The WHATWG parser has already turned decimal, octal, hex and short IPv4 forms
  // (2130706433, 0177.1, 0x7f.1, 127.1) into dotted quads, and compressed IPv6.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) return isPrivateAddress(host) ? REFUSED_AT_REGISTRATION : null;
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))
      ? REFUSED_AT_REGISTRATION
      : null;
  } catch {
    // A name that does not resolve is refused with the same words, so answers cannot tell
    // which internal names exist.
    return REFUSED_AT_REGISTRATION;
  }
}

/**
 * The DNS look-up the connection itself uses, checked the same way: the address connected to is
 * the address checked, so a name that changes between the check and the connect (DNS
 * rebinding) is still refused.
 */
function guardedLookup(
  hostname: string,
  options: LookupOptions,
  callback: (
    err: NodeJS.ErrnoException | null,
    address: string | LookupAddress[],
    family?: number,
  ) => void,
): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    // Not found is reported as refused too: otherwise the log would tell internal names that
    // exist (and resolve to private addresses) from those that do not.
    if (err) return callback(new DestinationRefused(), []);
    if (addresses.some((a) => isPrivateAddress(a.address)))
      return callback(new DestinationRefused(), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(new DestinationRefused(), []);
    callback(null, first.address, first.family);
  });
}

/** The attempt's deadline passed. */
class AttemptTimedOut extends Error {}

/**
 * How much later than the attempt's deadline undici's own connect, headers and body timeouts are
 * set: twice as far as they may fire early (UNDICI_TIMER_EARLY_MS). Set to the deadline itself,
 * they would end some attempts early, with undici's error instead of "timed out"; one second
 * later, they never fire before the deadline does.
 */
const UNDICI_BACKSTOP_MS = 2 * UNDICI_TIMER_EARLY_MS;

/**
 * POSTs to URLs that applications and operators gave us (status webhooks, Slack, the alert
 * webhook, the heartbeat) without letting them reach private addresses (no SSRF), and with one
 * deadline per post whatever the receiver does.
 */
export class GuardedPoster {
  private readonly agent: Agent;

  constructor(private readonly options: { allowPrivate: boolean; timeoutMs: number }) {
    // The attempt's own deadline (an abort signal on a precise timer) decides when it is over;
    // undici's timeouts are only a backstop behind it (UNDICI_BACKSTOP_MS).
    const backstopMs = options.timeoutMs + UNDICI_BACKSTOP_MS;
    this.agent = new Agent({
      connect: options.allowPrivate
        ? { timeout: backstopMs }
        : { timeout: backstopMs, lookup: guardedLookup },
      headersTimeout: backstopMs,
      bodyTimeout: backstopMs,
    });
  }

  /**
   * One attempt, over by `timeoutMs` whatever the receiver does: it may hang, trickle, send
   * without end, send garbage or close the connection. Never throws.
   */
  async post(url: string, headers: Record<string, string>, body: string): Promise<PostResult> {
    const { timeoutMs } = this.options;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new AttemptTimedOut()), timeoutMs);
    let httpStatus: number | null = null;
    try {
      // An address in the URL is connected to without a look-up, so it is checked here; a name
      // is checked by the connection's own look-up (guardedLookup).
      if (!this.options.allowPrivate && refusedAddressLiteral(url)) throw new DestinationRefused();
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        signal: deadline.signal,
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      httpStatus = response.statusCode;
      const ok = httpStatus >= 200 && httpStatus <= 299;
      let text = '';
      try {
        text = await readStart(response.body, BODY_READ_LIMIT, deadline.signal);
      } catch (err) {
        // A 2xx status is the receiver's "got it"; a body that stalls or breaks off after it
        // does not undo that.
        if (!ok) throw err;
      }
      if (ok) return { httpStatus, error: null };
      const excerpt = text.replace(/\p{Cc}+/gu, ' ').trim();
      return {
        httpStatus,
        error: `HTTP ${httpStatus}${excerpt ? `: ${excerpt.slice(0, BODY_EXCERPT_CHARS)}` : ''}`,
      };
    } catch (err) {
      const error = deadline.signal.aborted
        ? `timed out: no complete answer within ${timeoutMs} ms`
        : describeFailure(err);
      return { httpStatus, error };
    } finally {
      clearTimeout(timer);
      // Nothing of this attempt may outlive it: a body not read to its end is dropped here.
      if (!deadline.signal.aborted) deadline.abort(new AttemptTimedOut());
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Whether the URL's host is an IP address that must not be posted to. */
function refusedAddressLiteral(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) !== 0 && isPrivateAddress(host);
}

/**
 * Reads a body up to `limit` bytes (or its end), then drops the rest by destroying the stream,
 * which closes the connection: memory stays at a few KB whatever the receiver sends.
 */
async function readStart(
  body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown },
  limit: number,
  signal: AbortSignal,
): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const onAbort = () => body.destroy(new AttemptTimedOut());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of body) {
      parts.push(chunk.subarray(0, limit - size));
      size += chunk.length;
      if (size >= limit) {
        body.destroy();
        break;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Fixed words per error code: never an error's own message, which can name addresses. */
const FAILURES: Record<string, string> = {
  EDESTINATIONREFUSED: DESTINATION_NOT_ALLOWED,
  ENOTFOUND: 'ENOTFOUND: host not found',
  EAI_AGAIN: 'EAI_AGAIN: DNS look-up failed, try again',
  ECONNREFUSED: 'ECONNREFUSED: connection refused',
  ECONNRESET: 'ECONNRESET: connection reset',
  EHOSTUNREACH: 'EHOSTUNREACH: host unreachable',
  ENETUNREACH: 'ENETUNREACH: network unreachable',
  ETIMEDOUT: 'ETIMEDOUT: connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'UND_ERR_CONNECT_TIMEOUT: connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'UND_ERR_HEADERS_TIMEOUT: no answer in time',
  UND_ERR_BODY_TIMEOUT: 'UND_ERR_BODY_TIMEOUT: the answer stalled',
  UND_ERR_SOCKET: 'UND_ERR_SOCKET: the connection closed before a complete answer',
};

/** How an attempt that got no HTTP answer is recorded in the delivery log. */
function describeFailure(err: unknown): string {
  // A refusal may arrive wrapped, as the cause of another error.
  let inner: unknown = err;
  for (let depth = 0; inner && depth < 5; depth++) {
    if (inner instanceof DestinationRefused) return DESTINATION_NOT_ALLOWED;
    inner = (inner as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !/^[A-Z0-9_]{1,40}$/.test(code)) return 'request failed';
  return FAILURES[code] ?? `${code}: request failed`;
}
