import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/**
 * A lingering close, as nginx does it: when the answer goes out before the request body was read
 * (a 413 from the Content-Length alone, a 401, a 404), the rest of the body is read and discarded
 * instead of closing the socket at once. Closing a socket with unread data makes the kernel send a
 * reset, which also throws away the answer the client has not read yet: a client still uploading
 * (Node's fetch among them) then sees "connection reset" or EPIPE instead of the 413.
 *
 * Node's HTTP server discards an unread body by itself on a keep-alive connection; what it lacks
 * is a bound, so a client cannot keep a connection busy forever. This bounds it: the socket is
 * destroyed once LINGER_MAX_BYTES more were read, after LINGER_MAX_MS in all, or when nothing came
 * for LINGER_IDLE_MS. A body that ends in time leaves the connection open for the next request.
 */
export const LINGER_MAX_MS = 30_000; // nginx: lingering_time
export const LINGER_IDLE_MS = 5_000; // nginx: lingering_timeout
export const LINGER_MAX_BYTES = 128 * 1024 * 1024;
const CHECK_EVERY_MS = 200;

export interface LingerBounds {
  maxMs: number;
  idleMs: number;
  maxBytes: number;
}

export class LingeringSockets {
  private readonly sockets = new Set<Socket>();
  private readonly bounds: LingerBounds;
  private readonly checkEveryMs: number;

  constructor(bounds: Partial<LingerBounds> = {}) {
    this.bounds = {
      maxMs: bounds.maxMs ?? LINGER_MAX_MS,
      idleMs: bounds.idleMs ?? LINGER_IDLE_MS,
      maxBytes: bounds.maxBytes ?? LINGER_MAX_BYTES,
    };
    this.checkEveryMs = Math.min(CHECK_EVERY_MS, Math.max(10, this.bounds.idleMs / 4));
  }

  /** Call once the answer is sent; does nothing if the whole request was read. */
  drainUnreadBody(request: IncomingMessage): void {
    const socket = request.socket;
    if (request.complete || request.destroyed || !socket || socket.destroyed) return;
    // An injected request (app.inject: SMTP submission's) has a stand-in socket, nothing to drain.
    if (typeof socket.destroy !== 'function') return;
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    const started = Date.now();
    const bytesAtStart = socket.bytesRead;
    let lastBytes = bytesAtStart;
    let lastProgress = started;
    const stop = () => {
      clearInterval(timer);
      this.sockets.delete(socket);
      request.off('end', stop);
      socket.off('close', stop);
    };
    const timer = setInterval(() => {
      const now = Date.now();
      const bytes = socket.bytesRead;
      if (bytes !== lastBytes) {
        lastBytes = bytes;
        lastProgress = now;
      }
      if (
        bytes - bytesAtStart > this.bounds.maxBytes ||
        now - started > this.bounds.maxMs ||
        now - lastProgress > this.bounds.idleMs
      ) {
        stop();
        socket.destroy();
      }
    }, this.checkEveryMs);
    timer.unref();
    request.once('end', stop);
    socket.once('close', stop);
    // Node resumes an unread request itself once the answer is finished; resuming here too covers
    // an answer that finished before this ran, and is harmless otherwise.
    request.resume();
  }

  /** Stops lingering (server shutdown): the connections are closed now. */
  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
