import { type Dispatcher, errors, Pool } from 'undici';
import type { Provider } from '../../domain/ports/provider.ts';
import type { CredentialCheck, OutboundMessage, SendResult } from '../../domain/types.ts';
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
 * How much later than `timeoutMs` undici's own headers and body timeouts are set. undici runs them
 * on coarse timers, which tick every ~0.5 s and can fire up to ~0.5 s before the time they were
 * given: an answer that came in time could be taken for a timeout (outcome `unknown`). The wait is
 * ended by `answerDeadline` instead; undici's timeouts are only a backstop behind it.
 */
const UNDICI_TIMER_MARGIN_MS = 1_000;

/**
 * Ends a request whose answer is not complete within `ms` of the request going out on its
 * connection (what undici's headers timeout measures), on a precise timer. It fails the request
 * with undici's own timeout errors, so it is recorded as before: `UND_ERR_HEADERS_TIMEOUT` when no
 * answer had begun, `UND_ERR_BODY_TIMEOUT` when its body had not ended.
 */
function answerDeadline(ms: number): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    let timer: NodeJS.Timeout | undefined;
    let answering = false;
    return dispatch(options, {
      onRequestStart(controller, context) {
        clearTimeout(timer);
        timer = setTimeout(() => {
          controller.abort(
            answering ? new errors.BodyTimeoutError() : new errors.HeadersTimeoutError(),
          );
        }, ms);
        handler.onRequestStart?.(controller, context);
      },
      onRequestUpgrade(controller, statusCode, headers, socket) {
        clearTimeout(timer);
        handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
      },
      onResponseStart(controller, statusCode, headers, statusMessage) {
        answering = true;
        handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
      },
      onResponseData(controller, chunk) {
        handler.onResponseData?.(controller, chunk);
      },
      onResponseEnd(controller, trailers) {
        clearTimeout(timer);
        handler.onResponseEnd?.(controller, trailers);
      },
      onResponseError(controller, error) {
        clearTimeout(timer);
        handler.onResponseError?.(controller, error);
      },
    });
  };
}

/**
 * The SendGrid adapter: `POST /v3/mail/send` over a keep-alive connection pool. It never throws
 * for a SendGrid or network problem; every outcome comes back as a classified `SendResult`.
 */
export class SendGridProvider implements Provider {
  readonly name = 'sendgrid';
  private readonly pool: Pool;
  /** The pool, with `answerDeadline` on every request. */
  private readonly dispatcher: Dispatcher;
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
      headersTimeout: options.timeoutMs + UNDICI_TIMER_MARGIN_MS,
      bodyTimeout: options.timeoutMs + UNDICI_TIMER_MARGIN_MS,
    });
    this.dispatcher = this.pool.compose(answerDeadline(options.timeoutMs));
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
      const response = await this.dispatcher.request({
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
      const response = await this.dispatcher.request({
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
