import type { FastifyInstance } from 'fastify';

/** While closing, how often connections that went idle are closed (see below). */
export const CLOSE_IDLE_EVERY_MS = 100;

/**
 * Once `app.close()` has begun, no connection outlives its last answer. Fastify's close ends the
 * keep-alive connections idle at that moment; a connection whose request was still being answered
 * (a 10,000-event Event Webhook batch, a slow console page) was kept alive after its answer, and
 * the close waited for it until the client dropped it or the keep-alive timeout ended: 72 s, by
 * Fastify's default. A drill: a stop took 74 s instead of 0.2 s, and the process went on
 * delivering meanwhile. So, while closing:
 *
 * - an answer says `Connection: close`, and Node ends the connection once it is sent; the client
 *   knows not to send another request on it. Not when the request body was not read whole: the
 *   lingering close reads the rest first (linger.ts), and closing now would reset the connection
 *   and lose the answer;
 * - connections that go idle anyway (an answer whose headers were sent before the close began, a
 *   body read to its end by the lingering close) are closed every CLOSE_IDLE_EVERY_MS until the
 *   server has closed.
 */
export function closeConnectionsAfterLastAnswer(
  app: FastifyInstance,
  /**
   * A stop draining before the close (TEGAMI_SHUTDOWN_DRAIN_S): answers say
   * `Connection: close` from then on, so a keep-alive client opens its next connection anew,
   * through a load balancer that by then sends it elsewhere, instead of meeting the closed port.
   */
  draining: () => boolean = () => false,
): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    const server = app.server;
    if (server.listening) {
      const sweep = setInterval(() => server.closeIdleConnections(), CLOSE_IDLE_EVERY_MS);
      sweep.unref();
      server.once('close', () => clearInterval(sweep));
    }
    done();
  });
  // With a callback, not async: it runs on every answer, and costs a call, not a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    if ((closing || draining()) && request.raw.complete && request.raw.httpVersionMajor === 1) {
      void reply.header('connection', 'close');
    }
    done(null, payload);
  });
}
