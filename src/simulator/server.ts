import type { Socket } from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import pino from 'pino';
import type { SimulatorContext } from './context.ts';
import { EventWebhookEmitter, type EventWebhookOptions } from './event-webhook/emitter.ts';
import { LiveFaults } from './faults/live.ts';
import { type Faults, validateFaults } from './faults/settings.ts';
import { BODY_LIMIT } from './mail-send/messages.ts';
import { createMailSendValidator } from './mail-send/validate.ts';
import { DEFAULT_MAX_STORED, MessageLog } from './message-log.ts';
import { registerControl } from './routes/control.ts';
import { setErrorHandlers } from './routes/error-handlers.ts';
import { registerMailSend } from './routes/mail-send.ts';
import { registerScopes } from './routes/scopes.ts';

export interface SimulatorOptions {
  /** Default 127.0.0.1. The control API has no authentication: keep it on loopback. */
  host?: string;
  /** Default 4030; 0 = any free port. */
  port?: number;
  /** Only `Authorization: Bearer <apiKey>` is accepted; unset = any non-empty bearer token. */
  apiKey?: string | null;
  /** Faults from the start. */
  faults?: Faults;
  /** Event Webhook emission; default: record events, post nothing. */
  eventWebhook?: EventWebhookOptions;
  /** Log level of the simulator's own log; default 'silent'. Requests are logged only at debug. */
  logLevel?: 'silent' | 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The newest sends kept for `GET /_simulator/messages`; default 100,000. */
  maxStoredMessages?: number;
  /** For tests: the random source of the fault decisions (default Math.random). */
  random?: () => number;
  /** For tests: the clock, epoch ms (default Date.now). */
  clock?: () => number;
}

export interface RunningSimulator {
  /** e.g. `http://127.0.0.1:4030`; SendGrid's API is under `${url}/v3/...`. */
  url: string;
  /** The Event Webhook verification key, SPKI DER in base64, as SendGrid's UI shows it. */
  publicKeyBase64: string;
  /** The live fault settings: change a field and the next request sees it. */
  faults: Faults;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 4030;
export { BODY_LIMIT };

/** Starts the simulator on a real port. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const ctx: SimulatorContext = {
    clock: options.clock ?? Date.now,
    random: options.random ?? Math.random,
    validateMailSend: createMailSendValidator(),
    events: new EventWebhookEmitter(options.eventWebhook ?? { url: null }),
    apiKey: options.apiKey ?? null,
    faults: new LiveFaults(validateFaults(options.faults ?? {})),
    log: new MessageLog(options.maxStoredMessages ?? DEFAULT_MAX_STORED),
    hung: new Set<Socket>(),
  };
  const { events, hung } = ctx;

  const logger =
    options.logLevel && options.logLevel !== 'silent'
      ? pino({ level: options.logLevel, base: { service: 'tegami-simulator' } })
      : null;
  const app: FastifyInstance = Fastify({
    ...(logger ? { loggerInstance: logger as FastifyBaseLogger } : { logger: false }),
    logController: new LogController({
      disableRequestLogging: !logger?.isLevelEnabled('debug'),
    }),
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: true,
  });

  // Every body is read as bytes and parsed in the handler, so that faults, authentication and
  // SendGrid's "Bad Request" come in SendGrid's order, whatever the Content-Type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  registerMailSend(app, ctx);
  registerScopes(app, ctx);
  registerControl(app, ctx);
  setErrorHandlers(app, ctx);

  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? DEFAULT_PORT });
  } catch (err) {
    await events.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}`,
    publicKeyBase64: events.publicKeyBase64,
    faults: ctx.faults.settings,
    close() {
      closing ??= (async () => {
        for (const socket of hung) socket.destroy();
        hung.clear();
        await app.close();
        await events.close();
      })();
      return closing;
    },
  };
}
