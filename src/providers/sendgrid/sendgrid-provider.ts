import { Pool } from 'undici';
import type { Provider } from '../../domain/ports/provider.ts';
import type { CredentialCheck, OutboundMessage, SendResult } from '../../domain/types.ts';
import { UNDICI_TIMER_EARLY_MS } from '../../domain/undici-timers.ts';
import { Pace } from '../pace.ts';
import { classifyScopesAnswer, SCOPES_PATH, unreachable } from './check-credentials.ts';
import { classifyAnswer, classifyNetworkError, EXCERPT_LIMIT } from './classify-response.ts';
import { forwardedMailSendBody } from './forward-body.ts';
import { toMailSendBody } from './mail-send-body.ts';

export interface SendGridOptions {
  apiKey: string;
  /** `https://api.sendgrid.com`, or the simulator. A path prefix is kept. */
  baseUrl: string;
  connectTimeoutMs: number;
  /** Longest wait for SendGrid's answer once the request is sent. */
  timeoutMs: number;
  /** Most requests in flight at once (the keep-alive pool's size). */
  maxConcurrency: number;
  /** Most requests started per second; 0 = no limit. */
  maxRequestsPerSecond: number;
}

/**
 * Connections beyond maxConcurrency, for probes (one every TEGAMI_PROVIDER_PROBE_INTERVAL_MS, 2 s,
 * while SendGrid is unavailable; one that hangs holds its connection up to the timeout, 10 s).
 */
export const PROBE_CONNECTIONS = 8;

/**
 * The SendGrid adapter: `POST /v3/mail/send` over a keep-alive connection pool. It never throws
 * for a SendGrid or network problem; every outcome comes back as a classified `SendResult`.
 */
export class SendGridProvider implements Provider {
  readonly name = 'sendgrid';
  private readonly pool: Pool;
  private readonly path: string;
  private readonly scopesPath: string;
  private readonly pace: Pace;
  private readonly authorization: string;

  constructor(options: SendGridOptions) {
    const url = new URL(options.baseUrl);
    const prefix = url.pathname.replace(/\/+$/, '');
    this.path = `${prefix}/v3/mail/send`;
    this.scopesPath = `${prefix}${SCOPES_PATH}`;
    this.pool = new Pool(url.origin, {
      // The worker sends mail on at most maxConcurrency of them (its turns); the rest are for
      // probes, which must get through while mail requests hang in an outage.
      connections: options.maxConcurrency + PROBE_CONNECTIONS,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs },
      // Set UNDICI_TIMER_EARLY_MS later than `timeoutMs`, undici's timers fire no earlier than
      // it (an answer that came in time is never taken for a timeout, outcome `unknown`) and at
      // most ~1 s after it. That costs nothing per request: a precise timer of our own on every
      // request cost ~4 us of CPU per send (measured).
      headersTimeout: options.timeoutMs + UNDICI_TIMER_EARLY_MS,
      bodyTimeout: options.timeoutMs + UNDICI_TIMER_EARLY_MS,
    });
    this.pace = new Pace(options.maxRequestsPerSecond);
    this.authorization = `Bearer ${options.apiKey}`;
  }

  async send(message: OutboundMessage, abandon?: AbortSignal): Promise<SendResult> {
    const forwarded = message.content.sendgrid?.request;
    const body = JSON.stringify(
      forwarded ? forwardedMailSendBody(forwarded, message.id) : toMailSendBody(message),
    );
    await this.pace.turn();
    let status: number | undefined;
    try {
      const response = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/json',
          'user-agent': 'tegami',
        },
        body,
        ...(abandon ? { signal: abandon } : {}),
      });
      status = response.statusCode;
      const text = await readBounded(response.body, EXCERPT_LIMIT * 4);
      return classifyAnswer({ status, headers: response.headers, body: text }, Date.now());
    } catch (error) {
      if (status !== undefined && status >= 200 && status < 300) {
        // SendGrid accepted it; only reading the (empty) body failed.
        return { outcome: 'accepted', httpStatus: status };
      }
      if (abandon?.aborted) {
        return classifyNetworkError(
          'abandoned',
          'given up while still waiting for an answer, because a later request succeeded',
        );
      }
      const { code, message: text } = describeNetworkError(error);
      return classifyNetworkError(code, text);
    }
  }

  /** `GET /v3/scopes` with the configured key: can it send mail? Sends nothing. */
  async verify(signal?: AbortSignal): Promise<CredentialCheck> {
    try {
      const response = await this.pool.request({
        path: this.scopesPath,
        method: 'GET',
        headers: {
          authorization: this.authorization,
          accept: 'application/json',
          'user-agent': 'tegami',
        },
        ...(signal ? { signal } : {}),
      });
      const text = await readBounded(response.body, EXCERPT_LIMIT * 4);
      return classifyScopesAnswer(response.statusCode, text);
    } catch (error) {
      const { code, message } = describeNetworkError(error);
      return unreachable(signal?.aborted ? 'aborted' : code, message);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Reads at most `limit` characters of a body and discards the rest. */
async function readBounded(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    if (text.length < limit) text += chunk.toString('utf8');
  }
  return text.length > limit ? text.slice(0, limit) : text;
}

function describeNetworkError(error: unknown): { code: string; message: string } {
  const err = error as { code?: string; message?: string; cause?: { code?: string } };
  // undici reports a reset connection as UND_ERR_SOCKET with the system error as its cause.
  const code = err.cause?.code ?? err.code ?? 'network_error';
  return { code, message: err.message ?? String(error) };
}
